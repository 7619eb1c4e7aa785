#!/usr/bin/env python3
"""Fixed-rate HTTP/1.1 load for bench/failover_bench.sh.

Sends GETs at --rate requests per second (spread evenly over --conns
keep-alive connections, one request in flight per connection) for
--seconds, and counts what the client saw: 2xx, 5xx, other statuses and
connection errors (refused, reset, closed early, timed out). A failed
connection is replaced at once. Prints one JSON object at the end, with a
per-second timeline of errors and latency percentiles (measured from each
request's scheduled time, so a stalled connection counts its backlog too). Bounded: every socket operation has
--timeout, and the run ends after --seconds plus one timeout.
"""

import argparse
import http.client
import json
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="failover.local")
    parser.add_argument("--path", default="/")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--timeout", type=float, default=5)
    parser.add_argument("--start-at", type=float, default=0, help="epoch seconds to start at (aligns runs)")
    args = parser.parse_args()

    lock = threading.Lock()
    counts = {"ok": 0, "5xx": 0, "other": 0, "conn_error": 0}
    timeline = {}
    latencies = []
    start = max(args.start_at, time.time())
    end = start + args.seconds
    interval = args.conns / args.rate

    def record(kind, at):
        with lock:
            counts[kind] += 1
            latencies.append(time.time() - at)
            if kind != "ok":
                second = int(at - start)
                timeline[second] = timeline.get(second, 0) + 1

    def worker(index):
        conn = None
        next_at = start + index * interval / args.conns
        while True:
            now = time.time()
            if next_at >= end:
                break
            if now < next_at:
                time.sleep(next_at - now)
            sent_at = next_at
            next_at += interval
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=args.timeout)
                conn.request("GET", args.path, headers={"Host": args.host})
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
                if 200 <= status < 300:
                    record("ok", sent_at)
                elif status >= 500:
                    record("5xx", sent_at)
                else:
                    record("other", sent_at)
            except (OSError, http.client.HTTPException):
                record("conn_error", sent_at)
                if conn is not None:
                    conn.close()
                conn = None

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, end - time.time()) + args.timeout + 2)
    with lock:
        counts["timeline"] = {str(k): v for k, v in sorted(timeline.items())}
        latencies.sort()
        if latencies:
            counts["p50_ms"] = round(1000 * latencies[len(latencies) // 2], 1)
            counts["p99_ms"] = round(1000 * latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)], 1)
            counts["max_ms"] = round(1000 * latencies[-1], 1)
            counts["over_1s"] = sum(1 for x in latencies if x > 1.0)
        print(json.dumps(counts))


if __name__ == "__main__":
    main()
