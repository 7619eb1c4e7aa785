#!/usr/bin/env python3
"""Small HTTP/1.1 keep-alive client for the benchmark's exact-count modes.

wrk drives the throughput runs; this client is for the two modes where wrk
does not fit:

  count  send exactly --requests GETs spread over --conns keep-alive
         connections (one request in flight per connection), check every
         response, close. Used to put a known number of requests between two
         callgrind counter dumps.
  idle   open --conns connections, send one GET on each and read its response
         (so each is a real keep-alive connection the proxy has parsed a
         request on), at most --window requests in flight so the proxy needs
         few upstream connections, then hold them all open. Writes --ready-file
         once every connection is open and idle, and exits after --hold
         seconds or on SIGTERM.

One thread, non-blocking sockets and `selectors`: 10,000 connections need no
threads. Every mode is bounded by --timeout. Exit status 0 only if every
response was a 200 with the expected body length.
"""

import argparse
import errno
import selectors
import signal
import socket
import sys
import time


class ResponseReader:
    """Incremental HTTP/1.1 response framing: Content-Length or chunked."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data

    def take_response(self):
        """Returns (status, body_length, keep_alive) once a whole response is
        buffered, consuming it; None if more bytes are needed."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        length = None
        chunked = False
        keep_alive = True
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and "close" in value:
                keep_alive = False
        pos = end + 4
        if chunked:
            body_len = 0
            while True:
                line_end = self.buf.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                size = int(bytes(self.buf[pos:line_end]).split(b";")[0], 16)
                pos = line_end + 2
                if size == 0:
                    # No trailers expected from these origins: just the CRLF.
                    if len(self.buf) < pos + 2:
                        return None
                    pos += 2
                    break
                if len(self.buf) < pos + size + 2:
                    return None
                pos += size + 2
                body_len += size
        else:
            body_len = length or 0
            if len(self.buf) < pos + body_len:
                return None
            pos += body_len
        del self.buf[:pos]
        return status, body_len, keep_alive


class Connection:
    def __init__(self, sock, requests_left):
        self.sock = sock
        self.requests_left = requests_left
        self.reader = ResponseReader()
        self.out = b""
        self.in_flight = False


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["count", "idle"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--host", default="bench.local", help="Host header")
    p.add_argument("--path", default="/1k")
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--requests", type=int, default=2000, help="count mode: total requests")
    p.add_argument("--window", type=int, default=64, help="idle mode: requests in flight")
    p.add_argument("--expect-bytes", type=int, default=-1, help="expected body length (-1: any)")
    p.add_argument("--ready-file", default="", help="idle mode: written once all connections are idle")
    p.add_argument("--hold", type=float, default=60.0, help="idle mode: seconds to hold the connections")
    p.add_argument("--timeout", type=float, default=120.0, help="bound on the whole run, seconds")
    return p.parse_args()


def main():
    args = parse_args()
    deadline = time.monotonic() + args.timeout
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\nUser-Agent: sluice-bench\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    ok = 0
    bad = 0

    def open_connection(requests_left):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        err = sock.connect_ex((args.address, args.port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, f"connect: {errno.errorcode.get(err, err)}")
        conn = Connection(sock, requests_left)
        conn.out = request
        conn.in_flight = True
        sel.register(sock, selectors.EVENT_WRITE | selectors.EVENT_READ, conn)
        return conn

    if args.mode == "count":
        per_conn = [args.requests // args.conns + (1 if i < args.requests % args.conns else 0) for i in range(args.conns)]
        conns = [open_connection(n) for n in per_conn if n > 0]
        to_open = 0
        idle = []
    else:
        conns = []
        to_open = args.conns
        idle = []

    active = 0
    if args.mode == "idle":
        while to_open > 0 and active < args.window:
            conns.append(open_connection(1))
            to_open -= 1
            active += 1
    else:
        active = len(conns)

    while active > 0:
        if time.monotonic() > deadline:
            print(f"loadgen: timeout with {active} connections still busy (ok={ok} bad={bad})", file=sys.stderr)
            return 2
        for key, events in sel.select(timeout=1.0):
            conn = key.data
            if events & selectors.EVENT_WRITE and conn.out:
                try:
                    sent = conn.sock.send(conn.out)
                    conn.out = conn.out[sent:]
                except BlockingIOError:
                    pass
                except OSError as e:
                    print(f"loadgen: send failed: {e}", file=sys.stderr)
                    return 2
                if not conn.out:
                    sel.modify(conn.sock, selectors.EVENT_READ, conn)
            if not events & selectors.EVENT_READ:
                continue
            try:
                data = conn.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError as e:
                print(f"loadgen: recv failed: {e}", file=sys.stderr)
                return 2
            if not data:
                print(f"loadgen: connection closed by the proxy mid-run (ok={ok})", file=sys.stderr)
                return 2
            conn.reader.feed(data)
            while True:
                response = conn.reader.take_response()
                if response is None:
                    break
                status, body_len, keep_alive = response
                if status == 200 and (args.expect_bytes < 0 or body_len == args.expect_bytes) and keep_alive:
                    ok += 1
                else:
                    bad += 1
                    if bad <= 3:
                        print(f"loadgen: unexpected response status={status} body={body_len} keep_alive={keep_alive}",
                              file=sys.stderr)
                conn.requests_left -= 1
                conn.in_flight = False
                if conn.requests_left > 0:
                    conn.out = request
                    conn.in_flight = True
                    sel.modify(conn.sock, selectors.EVENT_WRITE | selectors.EVENT_READ, conn)
                else:
                    active -= 1
                    if args.mode == "idle":
                        # Keep it open but stop watching it until the end.
                        sel.unregister(conn.sock)
                        idle.append(conn)
                        if to_open > 0:
                            conns.append(open_connection(1))
                            to_open -= 1
                            active += 1
                    break

    if args.mode == "count":
        for conn in conns:
            conn.sock.close()
        print(f"loadgen: {ok} ok, {bad} bad")
        return 0 if bad == 0 and ok == args.requests else 1

    # idle: every connection has had its one response; hold them.
    print(f"loadgen: {len(idle)} idle keep-alive connections open ({ok} ok, {bad} bad)", flush=True)
    if bad or len(idle) != args.conns:
        return 1
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(f"{len(idle)}\n")
    for conn in idle:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
    hold_until = min(time.monotonic() + args.hold, deadline)
    closed = 0
    while not stop and time.monotonic() < hold_until:
        for key, _ in sel.select(timeout=0.2):
            # An idle connection turning readable means the proxy closed it.
            sel.unregister(key.fileobj)
            closed += 1
    for conn in idle:
        conn.sock.close()
    if closed:
        print(f"loadgen: the proxy closed {closed} idle connections while held", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
