#!/usr/bin/python3
"""Cluster-mode benchmark (run through kube_bench.sh): a large cluster in
fakekube, then how fast and how cheaply sluice-controller + sluice-proxy
follow it.

 1. 10,000 Ingresses (2 paths each) over 1,000 Services with 3 endpoints
    each are loaded into fakekube; controller and proxy start together.
    Measured: controller start -> first snapshot served by the proxy
    (/readyz), controller RSS, the first snapshot's size on the wire, the
    proxy's share of that time and its RSS.
 2. 100 Ingress changes and 100 endpoint changes, one at a time: time from
    the API write until the proxy routes accordingly (p50/p99), and bytes
    pushed to the proxy per change.
Needs SLUICE_BIN_ROOT (a bazel-bin with the three binaries)."""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "test", "integration"))
sys.path.insert(0, HERE)
import kube_harness as h  # noqa: E402
from kube_bench_gen import generate  # noqa: E402

TARGETS = {"first": 5.0, "change_p99_ms": 100.0, "endpoint_bytes": 1024, "controller_rss_mb": 300.0}


def rss_mb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def applied_lines(proxy):
    """The proxy's "snapshot applied" log lines, parsed."""
    out = []
    for line in proxy.output().splitlines():
        if "snapshot applied" not in line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def controller_lines(controller, msg):
    """The controller's log lines with this "msg", parsed."""
    out = []
    for line in controller.output().splitlines():
        if f'"{msg}"' not in line:
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if parsed.get("msg") == msg:
            out.append(parsed)
    return out


def controller_share(controller, translated_before, published_before):
    """The controller's CPU-side share of a phase's changes: translation
    (the "translated" log's translate_ms) and building the published state
    (the "snapshot published" log's build_ms), p50/p99, and how the
    translations went (full / partial / endpoints)."""
    translated = controller_lines(controller, "translated")[translated_before:]
    published = controller_lines(controller, "snapshot published")[published_before:]
    t = [float(line["translate_ms"]) for line in translated if "translate_ms" in line]
    b = [float(line["build_ms"]) for line in published if "build_ms" in line]
    kinds = {}
    for line in translated:
        kinds[line.get("kind", "?")] = kinds.get(line.get("kind", "?"), 0) + 1
    if not t:
        return "n/a"
    text = f"translate p50 {percentile(t, 0.5):.1f} ms, p99 {percentile(t, 0.99):.1f} ms"
    if b:
        text += f"; publish p50 {percentile(b, 0.5):.2f} ms, p99 {percentile(b, 0.99):.2f} ms"
    return text + " (" + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))]


def wait_for(proxy, host, path, expected, timeout=10.0):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if h.backend_for(proxy, host, path) == expected:
            return time.monotonic() - started
    return float("inf")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ingresses", type=int, default=10000)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--workdir", default=None)
    # Quiet time before each change, outside the measurement: the controller
    # debounces (a change within 100 ms of the last publish waits for the
    # burst to end), so back-to-back changes (--gap-ms 0) measure a steady
    # trickle, not one change.
    parser.add_argument("--gap-ms", type=int, default=200)
    args = parser.parse_args()

    env = h.Environment(args.workdir or tempfile.mkdtemp(prefix="kube-bench-"))
    rows = []
    try:
        fake = env.start_fake(tls=True, history=100000)
        backends = env.start_backends("a", "b")
        objects = generate(args.ingresses, args.services)
        # One Service whose endpoints are real (the echo backends), for the
        # change measurements.
        for n in range(10):  # in every namespace, as Ingresses only reach their own
            objects["items"].append(h.service("bench-real", ns=f"team-{n}"))
            objects["items"].extend(h.endpoint_slice("bench-real", [backends["a"]], ns=f"team-{n}"))
        objects["items"].append(h.ingress("bench-probe", [("probe.bench.example", [("/", "Prefix", "bench-real", 80)])],
                                          ns="team-0"))
        started = time.monotonic()
        loaded = fake.load(json.dumps(objects))
        print(f"loaded {loaded['loaded']} objects into fakekube in {time.monotonic() - started:.1f}s",
              file=sys.stderr)

        started = time.monotonic()
        controller = env.start_controller()
        proxy = env.start_proxy(controller, workers=2)
        controller_ready = proxy_ready = None
        deadline = started + 120
        while time.monotonic() < deadline and proxy_ready is None:
            now = time.monotonic()
            if controller_ready is None and h.ready(controller):
                controller_ready = now - started
            if h.ready(proxy):
                proxy_ready = now - started
            if not controller.running():
                raise SystemExit("controller exited:\n" + controller.output()[-3000:])
            time.sleep(0.01)
        if proxy_ready is None:
            raise SystemExit("no snapshot within 120 s:\n" + env.logs())
        if controller_ready is None:
            controller_ready = proxy_ready
        assert h.wait_backend(proxy, "probe.bench.example", "/", "a", timeout=10) >= 0
        first_lines = applied_lines(proxy)
        first_bytes = int(first_lines[0].get("bytes", -1)) if first_lines else -1
        time.sleep(1.0)  # let allocations settle before reading RSS
        controller_rss, proxy_rss = rss_mb(controller.popen.pid), rss_mb(proxy.popen.pid)
        rows += [("first snapshot served (controller start -> proxy /readyz)", f"{proxy_ready:.2f} s",
                  f"< {TARGETS['first']:.0f} s", proxy_ready < TARGETS["first"]),
                 ("  controller ready (admin /readyz)", f"{controller_ready:.2f} s", "", None),
                 ("  proxy receive + apply (after controller ready)", f"{(proxy_ready - controller_ready) * 1000:.0f} ms",
                  "", None),
                 ("first snapshot on the wire", f"{first_bytes / 1e6:.2f} MB" if first_bytes >= 0 else "n/a", "", None),
                 ("controller RSS", f"{controller_rss:.0f} MB", f"< {TARGETS['controller_rss_mb']:.0f} MB",
                  controller_rss < TARGETS["controller_rss_mb"]),
                 ("proxy RSS", f"{proxy_rss:.0f} MB", "", None)]

        # ---- Ingress changes: a new host on an existing Ingress. ----
        before = len(applied_lines(proxy))
        translated_before = len(controller_lines(controller, "translated"))
        published_before = len(controller_lines(controller, "snapshot published"))
        ingress_ms = []
        for k in range(args.changes):
            s = k % args.services
            ns = f"team-{s % 10}"
            changed = h.ingress(f"ing-{k}", [(f"host-{k}.bench.example", [("/", "Prefix", f"svc-{s}", 80)]),
                                             (f"changed-{k}.bench.example", [("/", "Prefix", "bench-real", 80)])],
                                ns=ns)
            time.sleep(args.gap_ms / 1000.0)
            fake.apply(changed)
            ingress_ms.append(wait_for(proxy, f"changed-{k}.bench.example", "/", "a") * 1000)
        time.sleep(0.3)
        ingress_pushes = applied_lines(proxy)[before:]
        ingress_controller = controller_share(controller, translated_before, published_before)

        # ---- Endpoint changes: bench-real's only endpoint moves a <-> b. ----
        before = len(applied_lines(proxy))
        translated_before = len(controller_lines(controller, "translated"))
        published_before = len(controller_lines(controller, "snapshot published"))
        endpoint_ms = []
        for k in range(args.changes):
            target = "b" if k % 2 == 0 else "a"
            time.sleep(args.gap_ms / 1000.0)
            for obj in h.endpoint_slice("bench-real", [backends[target]], ns="team-0"):
                fake.apply(obj)
            endpoint_ms.append(wait_for(proxy, "probe.bench.example", "/", target) * 1000)
        time.sleep(0.3)
        endpoint_pushes = applied_lines(proxy)[before:]
        endpoint_controller = controller_share(controller, translated_before, published_before)

        def bytes_per_push(lines):
            sizes = [int(line["bytes"]) for line in lines if "bytes" in line]
            return (statistics.median(sizes), max(sizes), len(sizes)) if sizes else (float("nan"), float("nan"), 0)

        i_med, i_max, i_n = bytes_per_push(ingress_pushes)
        e_med, e_max, e_n = bytes_per_push(endpoint_pushes)
        rows += [(f"Ingress change -> proxy serves it (n={len(ingress_ms)})",
                  f"p50 {percentile(ingress_ms, 0.5):.0f} ms, p99 {percentile(ingress_ms, 0.99):.0f} ms",
                  f"p99 < {TARGETS['change_p99_ms']:.0f} ms", percentile(ingress_ms, 0.99) < TARGETS["change_p99_ms"]),
                 ("  bytes pushed per Ingress change", f"median {i_med:.0f} B, max {i_max:.0f} B ({i_n} pushes)", "",
                  None),
                 ("  controller share per Ingress change", ingress_controller, "", None),
                 (f"endpoint change -> proxy serves it (n={len(endpoint_ms)})",
                  f"p50 {percentile(endpoint_ms, 0.5):.0f} ms, p99 {percentile(endpoint_ms, 0.99):.0f} ms",
                  f"p99 < {TARGETS['change_p99_ms']:.0f} ms",
                  percentile(endpoint_ms, 0.99) < TARGETS["change_p99_ms"]),
                 ("  bytes pushed per endpoint change", f"median {e_med:.0f} B, max {e_max:.0f} B ({e_n} pushes)",
                  f"< {TARGETS['endpoint_bytes']} B", e_max < TARGETS["endpoint_bytes"]),
                 ("  controller share per endpoint change", endpoint_controller, "", None),
                 ("controller RSS after changes", f"{rss_mb(controller.popen.pid):.0f} MB", "", None)]
    finally:
        env.stop()

    print(f"\nsluice cluster-mode benchmark: {args.ingresses} Ingresses x 2 paths, {args.services} Services x 3 "
          f"endpoints (fakekube over TLS)\n")
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<{vwidth}}  {'target':<16}  ok")
    print("-" * (width + vwidth + 24))
    for name, value, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:<{width}}  {value:<{vwidth}}  {target:<16}  {mark}")
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
