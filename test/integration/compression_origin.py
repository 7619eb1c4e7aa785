#!/usr/bin/env python3
"""An HTTP/1.1 origin for compression_e2e_test: bodies generated as they
are sent (a 10 MB response is never held whole here either).

  /json/N       N bytes of JSON-like text, Content-Length, strong ETag, Vary: Origin
  /stream/N     N bytes of text in 16 KiB chunks, chunked encoding (no length)
  /small        100 bytes of text/html with Content-Length
  /png/N        N bytes labelled image/png
  /encoded      a gzip body with Content-Encoding: gzip (sent as is)
  /no-transform text with Cache-Control: no-transform
  /sse          text/event-stream: three events, 700 ms apart
  /cacheable/N  N bytes of JSON, Cache-Control: max-age=600, strong ETag
  /count        how many /cacheable requests came through a proxy (with
                X-Forwarded-For), as text

Usage: compression_origin.py PORT
"""
import gzip
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler


def text(n, start=0):
    """n bytes of deterministic, compressible-but-not-trivial text from offset start."""
    out = []
    size = 0
    line_no = start // 64
    skip = start % 64
    while size < n + skip:
        line = '{"line": %08d, "word": "%s", "n": %d},\n' % (line_no, "abcdefghij"[line_no % 10] * (line_no % 7 + 1), line_no * 7919 % 1000003)
        line = line[:63].ljust(63) + "\n"
        out.append(line)
        size += 64
        line_no += 1
    return "".join(out).encode()[skip:skip + n]


proxied_cacheable = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_body(self, content_type, body, extra=()):
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path
        if path.startswith("/json/"):
            n = int(path[6:])
            self.send_body("application/json", text(n), [("etag", '"v1-%d"' % n), ("vary", "Origin")])
        elif path.startswith("/cacheable/"):
            global proxied_cacheable
            if self.headers.get("x-forwarded-for"):
                proxied_cacheable += 1
            n = int(path[11:])
            self.send_body("application/json", text(n), [("etag", '"c-%d"' % n), ("cache-control", "max-age=600")])
        elif path == "/count":
            self.send_body("text/plain", str(proxied_cacheable).encode())
        elif path.startswith("/png/"):
            self.send_body("image/png", text(int(path[5:])))
        elif path == "/small":
            self.send_body("text/html", text(100))
        elif path == "/encoded":
            self.send_body("text/plain", gzip.compress(text(5000), mtime=0), [("content-encoding", "gzip")])
        elif path == "/no-transform":
            self.send_body("text/plain", text(5000), [("cache-control", "public, no-transform")])
        elif path.startswith("/stream/") or path == "/sse":
            sse = path == "/sse"
            self.send_response(200)
            self.send_header("content-type", "text/event-stream" if sse else "text/plain; charset=utf-8")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("cache-control", "no-cache")
            self.end_headers()
            if self.command == "HEAD":
                return
            if sse:
                for i in range(3):
                    event = ("id: %d\ndata: event %d at %.3f\n\n" % (i, i, time.time())).encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                    self.wfile.flush()
                    time.sleep(0.7)
            else:
                n = int(path[8:])
                sent = 0
                while sent < n:
                    piece = text(min(16384, n - sent), sent)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    sent += len(piece)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    with Server(("127.0.0.1", int(sys.argv[1])), Handler) as server:
        server.serve_forever()
