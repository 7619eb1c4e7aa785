#!/usr/bin/env python3
"""Reads a gzip-compressed text/event-stream through the proxy and reports
when each event became readable (decompressed), relative to the request.

Usage: compression_sse_client.py PORT HOST PATH
Prints: "encoding=gzip events=3 first=0.012 last=1.413" (seconds), or an error.
"""
import socket
import sys
import time
import zlib


def main():
    port, host, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    start = time.monotonic()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n" % (path, host)).encode())
    buffered = b""
    while b"\r\n\r\n" not in buffered:
        data = sock.recv(65536)
        if not data:
            print("error: closed before the head")
            return
        buffered += data
    head, buffered = buffered.split(b"\r\n\r\n", 1)
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") != "chunked":
        print("error: not chunked: %r" % headers)
        return
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = b""
    times = []
    done = False
    for _ in range(100000):  # bounded
        # De-chunk what is buffered.
        while True:
            line_end = buffered.find(b"\r\n")
            if line_end < 0:
                break
            size = int(buffered[:line_end].split(b";")[0], 16)
            if size == 0:
                done = True
                break
            if len(buffered) < line_end + 2 + size + 2:
                break
            chunk = buffered[line_end + 2:line_end + 2 + size]
            buffered = buffered[line_end + 2 + size + 2:]
            text += decoder.decompress(chunk)
            while text.count(b"\n\n") > len(times):
                times.append(time.monotonic() - start)
        if done:
            break
        data = sock.recv(65536)
        if not data:
            break
        buffered += data
    print("encoding=%s events=%d first=%.3f last=%.3f complete=%s" %
          (headers.get("content-encoding", "none"), len(times), times[0] if times else -1,
           times[-1] if times else -1, done))


if __name__ == "__main__":
    main()
