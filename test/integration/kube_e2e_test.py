"""Cluster mode end to end: fakekube (the Kubernetes API over TLS with a
bearer token) + sluice-controller --kubeconfig + sluice-proxy + echo
backends, real processes on 127.0.0.1. Requests go through the proxy; API
behaviour (watch ends, 410, 403, 429, slow lists, token rotation) is
injected through fakekube's control API, and its request log shows what
the controller asked."""

import base64
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_harness as h  # noqa: E402

# Flags of the controller's leader election and status publishing, in one
# place should they be renamed.
LEASE_NAMESPACE = "sluice-system"
LEADER_FLAGS = ["--election-namespace", LEASE_NAMESPACE, "--lease-duration", "4s", "--renew-deadline", "3s",
                "--retry-period", "1s", "--publish-service", f"{LEASE_NAMESPACE}/sluice-proxy"]


class KubeTestBase(unittest.TestCase):
    bookmark_interval = 60.0
    start_proxy = True

    def setUp(self):
        self.env = h.Environment(tempfile.mkdtemp(prefix=self.id().split(".")[-1] + "-",
                                                  dir=os.environ.get("TEST_TMPDIR")))
        self.fake = self.env.start_fake(tls=True, bookmark_interval=self.bookmark_interval)
        self.backends = self.env.start_backends("app", "api")
        self.seed()

    def tearDown(self):
        failed = any(error for _, error in (self._outcome.result.errors + self._outcome.result.failures)
                     if _ is self) if hasattr(self._outcome, "result") else False
        if failed:
            sys.stderr.write(self.env.logs() + "\n")
        self.env.stop()

    def seed(self):
        """The demo's shape: our default class, two Services with slices, one Ingress."""
        self.fake.apply(h.ingress_class("sluice", default=True))
        for name in ("app", "api"):
            self.fake.apply(h.service(name))
            for obj in h.endpoint_slice(name, [self.backends[name]]):
                self.fake.apply(obj)
        self.fake.apply(h.ingress("demo", [("demo.local", [("/app", "Prefix", "app", 80),
                                                           ("/api", "Prefix", "api", "http")])]))

    def start(self, extra=(), wait_ready=True):
        self.controller = self.env.start_controller(extra=list(extra))
        self.proxy = self.env.start_proxy(self.controller)
        if wait_ready:
            h.wait_until(lambda: h.ready(self.proxy), timeout=20, what="proxy /readyz")
            h.wait_backend(self.proxy, "demo.local", "/app", "app")

    def ingress_watches(self, since):
        return h.api_requests(self.fake, since, "ingresses", "watch")

    def ingress_lists(self, since):
        return h.api_requests(self.fake, since, "ingresses", "list")


class SyncAndRoutingTest(KubeTestBase):
    def test_first_snapshot_only_after_initial_sync(self):
        # Ingresses take 3 s to list: no snapshot, not even a partial one,
        # until every kind has been listed.
        self.fake.fault(verb="list", resource="ingresses", delay_ms=3000)
        self.start(wait_ready=False)
        started = time.monotonic()
        h.wait_until(lambda: h.http_get(self.proxy.admin_port, "/readyz")[0] != 0, timeout=10, what="proxy up")
        while time.monotonic() - started < 2.0:
            self.assertNotEqual(h.http_get(self.proxy.admin_port, "/readyz")[0], 200)
            self.assertNotEqual(h.backend_for(self.proxy, "demo.local", "/app"), "app")
            time.sleep(0.1)
        h.wait_until(lambda: h.ready(self.proxy), timeout=15, what="proxy /readyz")
        # The first snapshot is whole: both routes at once.
        self.assertEqual(h.backend_for(self.proxy, "demo.local", "/app"), "app")
        self.assertEqual(h.backend_for(self.proxy, "demo.local", "/api"), "api")

    def test_routing_follows_ingress_service_and_endpoint_changes(self):
        self.start()
        # A new Ingress.
        self.fake.apply(h.ingress("new", [("new.local", [("/", "Prefix", "api", 80)])]))
        h.wait_backend(self.proxy, "new.local", "/x", "api")
        # An Ingress changes its backend.
        self.fake.apply(h.ingress("new", [("new.local", [("/", "Prefix", "app", 80)])]))
        h.wait_backend(self.proxy, "new.local", "/x", "app")
        # Endpoints move: Service app's slice now points at the api backend.
        for obj in h.endpoint_slice("app", [self.backends["api"]]):
            self.fake.apply(obj)
        h.wait_backend(self.proxy, "new.local", "/x", "api")
        # The Service disappears: 503, then it comes back.
        self.fake.delete("Service", "default", "app")
        h.wait_backend(self.proxy, "new.local", "/x", "503")
        self.fake.apply(h.service("app"))
        h.wait_backend(self.proxy, "new.local", "/x", "api")
        # The endpoint terminates: no new requests go there.
        for obj in h.endpoint_slice("app", [self.backends["api"]], ready=False, terminating=True):
            self.fake.apply(obj)
        h.wait_backend(self.proxy, "new.local", "/x", "503")
        # The Ingress is deleted.
        self.fake.delete("Ingress", "default", "new")
        h.wait_backend(self.proxy, "new.local", "/x", "404")
        self.assertEqual(h.backend_for(self.proxy, "demo.local", "/api"), "api")

    def test_class_selection(self):
        self.fake.apply(h.ingress_class("sluice", default=False))
        self.fake.apply(h.ingress_class("nginx", controller="k8s.io/ingress-nginx"))
        self.fake.apply(h.ingress("ours", [("ours.local", [("/", "Prefix", "app", 80)])], class_name="sluice"))
        self.fake.apply(h.ingress("theirs", [("theirs.local", [("/", "Prefix", "app", 80)])], class_name="nginx"))
        self.fake.apply(h.ingress("legacy", [("legacy.local", [("/", "Prefix", "app", 80)])], class_name=None,
                                  annotations={"kubernetes.io/ingress.class": "sluice"}))
        self.fake.apply(h.ingress("classless", [("classless.local", [("/", "Prefix", "app", 80)])],
                                  class_name=None))
        self.start()
        self.assertEqual(h.backend_for(self.proxy, "ours.local", "/"), "app")
        self.assertEqual(h.backend_for(self.proxy, "legacy.local", "/"), "app")
        self.assertEqual(h.backend_for(self.proxy, "theirs.local", "/"), "404")
        self.assertEqual(h.backend_for(self.proxy, "classless.local", "/"), "404")
        # Our class becomes the default: the class-less Ingress is ours now.
        self.fake.apply(h.ingress_class("sluice", default=True))
        h.wait_backend(self.proxy, "classless.local", "/", "app")
        self.assertEqual(h.backend_for(self.proxy, "theirs.local", "/"), "404")


class WatchResumeTest(KubeTestBase):
    bookmark_interval = 0.3

    def test_closed_watch_resumes_from_last_version_without_relist(self):
        self.start()
        # Ready means every first list finished; the watch that follows the
        # list may still be on its way (slow under ASan): wait for it.
        watches = h.wait_until(lambda: self.ingress_watches(0), timeout=10, what="the controller watches Ingresses")
        self.assertIn(watches[-1]["query"].get("allowWatchBookmarks"), ("true", "1"))
        # The last Ingress event the controller saw.
        last_rv = self.fake.objects("ingresses")[-1]["metadata"]["resourceVersion"]
        since = time.time()
        self.fake.close_watches()
        self.fake.apply(h.ingress("after-close", [("after.local", [("/", "Prefix", "api", 80)])]))
        h.wait_backend(self.proxy, "after.local", "/", "api")
        resumed = self.ingress_watches(since)
        self.assertTrue(resumed)
        self.assertGreaterEqual(int(resumed[0]["query"]["resourceVersion"]), int(last_rv))
        self.assertEqual(self.ingress_lists(since), [], "no relist after a clean watch end")

    def test_bookmarks_advance_the_resume_point(self):
        self.start()
        ingress_rv = int(self.fake.objects("ingresses")[-1]["metadata"]["resourceVersion"])
        # Only other kinds change; bookmarks carry the newer revision.
        bumped = self.fake.apply(h.service("unrelated"))
        bumped_rv = int(bumped["metadata"]["resourceVersion"])
        self.assertGreater(bumped_rv, ingress_rv)
        time.sleep(1.0)  # a few bookmark intervals
        since = time.time()
        self.fake.close_watches()
        resumed = h.wait_until(lambda: self.ingress_watches(since), timeout=10, what="ingress watch resumed")
        self.assertGreaterEqual(int(resumed[0]["query"]["resourceVersion"]), bumped_rv)

    def _delete_while_away_then(self, watch_fault_mode):
        self.fake.apply(h.ingress("doomed", [("doomed.local", [("/", "Prefix", "app", 80)])]))
        self.start()
        h.wait_backend(self.proxy, "doomed.local", "/", "app")
        since = time.time()
        # The next Ingress watch starts late; meanwhile the Ingress is deleted
        # and the history compacted, so only a relist can tell.
        self.fake.fault(verb="watch", resource="ingresses", delay_ms=1500)
        self.fake.close_watches()
        self.fake.delete("Ingress", "default", "doomed")
        self.fake.compact()
        if watch_fault_mode:
            self.fake.clear_faults()
            self.fake.fault(verb="watch", resource="ingresses", code=410, mode=watch_fault_mode)
        h.wait_backend(self.proxy, "doomed.local", "/", "404", timeout=15)
        self.assertTrue(self.ingress_lists(since), "a relist after 410")
        self.assertEqual(h.backend_for(self.proxy, "demo.local", "/app"), "app")

    def test_410_error_event_on_watch_relists_and_deleted_objects_vanish(self):
        self._delete_while_away_then(None)  # the real server's too-old watch: 200 + ERROR 410

    def test_410_status_on_watch_relists(self):
        self._delete_while_away_then("http")

    def test_410_on_list_restarts_the_list(self):
        # 600 Services: a paginated list (limit 500); the continue token of
        # the second page has expired.
        text = "\n---\n".join(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: bulk-{i}, namespace: bulk}}\n"
            f"spec: {{ports: [{{name: http, port: 80}}]}}" for i in range(600))
        self.fake.load(text)
        self.fake.fault(verb="list", resource="services", code=410, query_has="continue")
        since = time.time()
        self.start()
        lists = h.api_requests(self.fake, since, "services", "list")
        statuses = [(bool(r["query"].get("continue")), r["status"]) for r in lists]
        self.assertIn((True, 410), statuses)
        # After the 410 a list without continue, and it completed.
        after = statuses[statuses.index((True, 410)) + 1:]
        self.assertEqual(after[0], (False, 200), statuses)
        self.assertIn((True, 200), after)


class ApiErrorsTest(KubeTestBase):
    def test_403_is_logged_clearly_and_recovers(self):
        self.fake.fault(verb="list", resource="secrets", code=403, count=-1)
        self.start(wait_ready=False)
        h.wait_until(lambda: "secrets" in self.controller.output() and "403" in self.controller.output(),
                     timeout=10, what="a log line about the 403 on secrets")
        line = [l for l in self.controller.output().splitlines() if "secrets" in l and "403" in l][0]
        self.assertIn("forbidden", line.lower())
        self.assertNotEqual(h.http_get(self.proxy.admin_port, "/readyz")[0], 200)
        self.fake.clear_faults()
        h.wait_until(lambda: h.ready(self.proxy), timeout=40, what="ready after the 403 stops")
        self.assertEqual(h.backend_for(self.proxy, "demo.local", "/app"), "app")

    def test_429_is_retried_after_a_backoff(self):
        self.fake.fault(verb="list", resource="ingresses", code=429, retry_after=1, count=3)
        since = time.time()
        self.start()
        attempts = [r for r in self.ingress_lists(since)]
        self.assertEqual([r["status"] for r in attempts[:4]], [429, 429, 429, 200])
        gaps = [b["time"] - a["time"] for a, b in zip(attempts, attempts[1:4])]
        self.assertTrue(all(gap >= 0.9 for gap in gaps), f"Retry-After honoured: gaps {gaps}")

    def test_500_and_slow_watch_recover(self):
        self.start()
        since = time.time()
        self.fake.fault(verb="watch", resource="ingresses", code=500, count=2)
        self.fake.fault(verb="watch", resource="ingresses", delay_ms=1000, count=1)
        self.fake.close_watches()
        self.fake.apply(h.ingress("later", [("later.local", [("/", "Prefix", "api", 80)])]))
        h.wait_backend(self.proxy, "later.local", "/", "api", timeout=20)
        statuses = [r["status"] for r in self.ingress_watches(since)]
        # The watch that was open before the faults may be recorded after
        # `since` (requests are logged when their response starts): skip it.
        self.assertIn(500, statuses)
        self.assertEqual(statuses[statuses.index(500):][:2], [500, 500])

    def test_token_rotation_is_picked_up_from_the_token_file(self):
        self.start()
        # The first watch may still be opening with the old token (slow under
        # ASan): let it open before the rotation, so only watches opened after
        # the rotation count below.
        h.wait_until(lambda: self.ingress_watches(0), timeout=10, what="the first Ingress watch")
        time.sleep(0.2)
        since = time.time()
        self.fake.rotate_token("rotated-token")  # the old one is now rejected
        self.fake.close_watches()
        self.fake.apply(h.ingress("rotated", [("rotated.local", [("/", "Prefix", "api", 80)])]))
        h.wait_backend(self.proxy, "rotated.local", "/", "api", timeout=20)
        users = {r["user"] for r in self.ingress_watches(since) if r["status"] == 200}
        self.assertEqual(users, {"token:rotated-token"})


class LeaderAndStatusTest(KubeTestBase):
    def seed(self):
        super().seed()
        proxy_service = h.service("sluice-proxy", ns=LEASE_NAMESPACE)
        proxy_service["spec"]["type"] = "LoadBalancer"
        proxy_service["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
        self.fake.apply(proxy_service)

    def kubeconfig_with_token(self, token):
        path = os.path.join(self.env.workdir, f"kubeconfig-{token}")
        text = open(self.fake.kubeconfig).read()
        text = text.replace(f"tokenFile: {self.fake.token_file}", f"token: {token}")
        with open(path, "w") as f:
            f.write(text)
        return path

    def status_writers(self, since):
        return {r["user"] for r in h.api_requests(self.fake, since, "ingresses", "write")
                if r["path"].endswith("/status") and r["status"] < 300}

    def test_only_the_leader_writes_status_and_the_other_takes_over(self):
        self.fake.set_tokens(["token-a", "token-b"])
        since = time.time()
        a = self.env.start_controller("controller-a", self.kubeconfig_with_token("token-a"), LEADER_FLAGS)
        time.sleep(1.0)  # a wins the first election
        b = self.env.start_controller("controller-b", self.kubeconfig_with_token("token-b"), LEADER_FLAGS)

        def load_balancer():
            objs = [o for o in self.fake.objects("ingresses") if o["metadata"]["name"] == "demo"]
            return objs and (objs[0].get("status") or {}).get("loadBalancer", {}).get("ingress")

        self.assertEqual(h.wait_until(load_balancer, timeout=15, what="status written"), [{"ip": "203.0.113.7"}])
        lease = [l for l in self.fake.objects("leases") if l["metadata"]["namespace"] == LEASE_NAMESPACE]
        self.assertEqual(len(lease), 1)
        self.assertEqual(lease[0]["spec"]["holderIdentity"], "controller-a")
        self.fake.apply(h.ingress("second", [("second.local", [("/", "Prefix", "app", 80)])]))
        h.wait_until(lambda: [o for o in self.fake.objects("ingresses")
                              if o["metadata"]["name"] == "second" and o.get("status")], timeout=10,
                     what="status of the second Ingress")
        self.assertEqual(self.status_writers(since), {"token:token-a"})

        # The leader dies without releasing: b takes over within the lease duration.
        a.kill()
        killed = time.time()
        self.fake.apply(h.ingress("third", [("third.local", [("/", "Prefix", "app", 80)])]))
        h.wait_until(lambda: [o for o in self.fake.objects("ingresses")
                              if o["metadata"]["name"] == "third" and o.get("status")], timeout=15,
                     what="status written by the new leader")
        self.assertLess(time.time() - killed, 4 + 1 + 3, "takeover within lease duration + retry period")
        self.assertEqual(self.status_writers(killed), {"token:token-b"})
        lease = [l for l in self.fake.objects("leases") if l["metadata"]["namespace"] == LEASE_NAMESPACE]
        self.assertEqual(lease[0]["spec"]["holderIdentity"], "controller-b")
        b.stop()

    def test_leader_killed_during_1000_ingress_changes_loses_nothing(self):
        """Two controller replicas, a proxy that reaches them by one target
        (as through their Service), requests flowing the whole time: the
        leader is killed in the middle of 1,000 Ingress changes. The proxy
        fails over to the other replica and converges on the last change,
        the new leader goes on writing status, and no request fails."""
        import threading
        self.fake.set_tokens(["token-a", "token-b"])
        a = self.env.start_controller("controller-a", self.kubeconfig_with_token("token-a"), LEADER_FLAGS)
        time.sleep(1.0)  # a wins the first election
        b = self.env.start_controller("controller-b", self.kubeconfig_with_token("token-b"), LEADER_FLAGS)
        proxy = self.env.start_proxy(a, target=f"ipv4:127.0.0.1:{a.grpc_port},127.0.0.1:{b.grpc_port}")
        h.wait_until(lambda: h.ready(proxy), timeout=20, what="proxy /readyz")
        h.wait_backend(proxy, "demo.local", "/app", "app")

        counts = {"sent": 0, "failed": 0}
        stop = threading.Event()

        def load():
            deadline = time.monotonic() + 120
            while not stop.is_set() and time.monotonic() < deadline:
                status = h.http_get(proxy.http_port, "/app", host="demo.local")[0]
                counts["sent"] += 1
                if status != 200:
                    counts["failed"] += 1
        loader = threading.Thread(target=load)
        loader.start()
        killed = None
        try:
            for i in range(1, 1001):
                self.fake.apply(h.ingress("churn", [(f"churn{i}.local", [("/", "Prefix", "app", 80)])]))
                if i == 300:
                    a.kill()
                    killed = time.time()
            # The proxy converges on the last change through the survivor.
            h.wait_backend(proxy, "churn1000.local", "/", "app", timeout=30)
            self.assertEqual(h.backend_for(proxy, "churn999.local", "/"), "404")
            # The new leader writes status after the kill: the churned
            # Ingress already has the right address (nothing to write), a
            # new one gets it from b.
            self.fake.apply(h.ingress("after-failover", [("after.local", [("/", "Prefix", "app", 80)])]))
            h.wait_until(lambda: [o for o in self.fake.objects("ingresses")
                                  if o["metadata"]["name"] == "after-failover" and o.get("status")], timeout=15,
                         what="status written by the new leader")
        finally:
            stop.set()
            loader.join()
        # The proxy's stream now comes from b, and it has ACKed b's version.
        import json

        def acked_by_b():
            status, _, body = h.http_get(b.admin_port, "/nodes")
            nodes = json.loads(body) if status == 200 else {}
            return any(n.get("node") == "proxy" and n.get("applied_version") == nodes.get("version")
                       for n in nodes.get("nodes", []))
        h.wait_until(acked_by_b, timeout=10, what="the proxy on b's /nodes with b's version")
        sys.stderr.write(f"leader failover: {counts['sent']} requests, {counts['failed']} failed\n")
        self.assertGreater(counts["sent"], 100)
        self.assertEqual(counts["failed"], 0)
        self.assertEqual(self.status_writers(killed), {"token:token-b"})
        churn = [o for o in self.fake.objects("ingresses") if o["metadata"]["name"] == "churn"]
        self.assertTrue((churn[0].get("status") or {}).get("loadBalancer", {}).get("ingress"))
        b.stop()

    def test_events_for_an_invalid_ingress(self):
        self.controller = self.env.start_controller(extra=LEADER_FLAGS)
        self.fake.apply(h.ingress("broken", [("broken.local", [("/", "Prefix", "ghost", 80)])]))

        def events():
            return [e for e in self.fake.objects("events")
                    if (e.get("involvedObject") or e.get("regarding") or {}).get("name") == "broken"]

        found = h.wait_until(events, timeout=15, what="an Event on the broken Ingress")
        self.assertEqual(found[0]["reason"], "ServiceNotFound")
        self.assertEqual(found[0]["type"], "Warning")
        self.assertIn("ghost", found[0].get("message") or found[0].get("note", ""))


def metric_samples(text):
    """{'name{labels}': value} of a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def metric_sum(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for key, v in samples.items()
               if key.split("{")[0] == name and all(w in key for w in wanted))


class ControllerMetricsTest(KubeTestBase):
    """The controller's /metrics against a (fake) API server: watch events,
    lists and relists per kind, Events written, leadership, proxies; and the
    whole page passes promtool."""

    def controller_metrics(self):
        status, _, body = h.http_get(self.controller.admin_port, "/metrics")
        self.assertEqual(status, 200)
        return body.decode()

    def test_watch_relist_and_event_counters_follow_what_the_api_server_did(self):
        self.start(extra=LEADER_FLAGS)
        before = metric_samples(self.controller_metrics())
        self.assertEqual(metric_sum(before, "sluice_controller_leader"), 1)
        self.assertEqual(metric_sum(before, "sluice_controller_proxies_connected"), 1)
        first_lists = metric_sum(before, "sluice_controller_lists_total", kind="ingresses") \
            or metric_sum(before, "sluice_controller_lists_total", kind="Ingress")
        self.assertGreaterEqual(first_lists, 1, before)

        # Three Ingress watch events (ADDED, MODIFIED, DELETED), one of them
        # invalid enough for a Kubernetes Event.
        self.fake.apply(h.ingress("broken", [("broken.local", [("/", "Prefix", "ghost", 80)])]))
        self.fake.apply(h.ingress("broken", [("broken.local", [("/", "Prefix", "ghost", 81)])]))
        h.wait_until(lambda: [e for e in self.fake.objects("events")
                              if (e.get("involvedObject") or e.get("regarding") or {}).get("name") == "broken"],
                     timeout=15, what="an Event on the broken Ingress")
        self.fake.delete("Ingress", "default", "broken")

        # A watch that expired (410) while the controller was away: one relist.
        self.fake.fault(verb="watch", resource="ingresses", delay_ms=1500)
        self.fake.close_watches()
        self.fake.compact()
        self.fake.clear_faults()
        self.fake.fault(verb="watch", resource="ingresses", code=410)
        since = time.time()
        h.wait_until(lambda: self.ingress_lists(since), timeout=15, what="the Ingress relist")

        def counted():
            after = metric_samples(self.controller_metrics())
            events = {t: metric_sum(after, "sluice_controller_watch_events_total", type=t) -
                      metric_sum(before, "sluice_controller_watch_events_total", type=t)
                      for t in ("ADDED", "MODIFIED", "DELETED")}
            relists = metric_sum(after, "sluice_controller_relists_total") - \
                metric_sum(before, "sluice_controller_relists_total")
            written = metric_sum(after, "sluice_controller_events_written_total", result="ok")
            if all(n >= 1 for n in events.values()) and relists >= 1 and written >= 1:
                return after, events
            return None

        after, events = h.wait_until(counted, timeout=15, what="the watch, relist and Event counters")
        # Only Ingress watch events happened in between (the fake changes
        # nothing else): the counts are not inflated by other kinds.
        ingress_kinds = [k for k in after if k.startswith("sluice_controller_watch_events_total{")
                         and ("ngress" in k) and 'type="ADDED"' in k]
        self.assertTrue(ingress_kinds, "watch events are labelled by kind")
        self.assertLessEqual(events["ADDED"], 2, events)
        self.assertEqual(metric_sum(after, "sluice_controller_events_written_total", result="error"), 0)
        self.assertEqual(metric_sum(after, "sluice_controller_proxies_up_to_date"), 1)

        promtool = "/usr/bin/promtool"
        if not os.path.exists(promtool):
            self.skipTest("promtool is not installed (Debian package prometheus)")
        check = subprocess.run([promtool, "check", "metrics"], input=self.controller_metrics(),
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


def self_signed(workdir, name):
    """(certificate PEM, key PEM) of a fresh self-signed certificate."""
    cert, key = os.path.join(workdir, name + ".crt"), os.path.join(workdir, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=" + name, "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=20)
    return open(cert).read(), open(key).read()


def secret(name, secret_type, data, ns="default", annotations=None):
    obj = {"apiVersion": "v1", "kind": "Secret", "type": secret_type,
           "metadata": {"name": name, "namespace": ns},
           "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    if annotations:
        obj["metadata"]["annotations"] = annotations
    return obj


class SecretsTest(KubeTestBase):
    """Backend CA bundles from Opaque Secrets (sluice.io/backend-tls-ca-secret,
    ingress-nginx proxy-ssl-secret), and certificates the proxy rejects."""

    def controller_snapshot(self):
        return h.json_of(self.controller.admin_port, "/snapshot") or {}

    def backend_ca(self, cluster_name):
        for cluster in self.controller_snapshot().get("snapshot", {}).get("clusters", []):
            if cluster["name"] == cluster_name:
                return cluster.get("upstream_tls", {}).get("ca_pem", "")
        return None

    def node(self):
        nodes = (h.json_of(self.controller.admin_port, "/nodes") or {}).get("nodes", [])
        return nodes[0] if nodes else {}

    def wait_proxy_on(self, version):
        h.wait_until(lambda: self.node().get("applied_version") == version, timeout=10,
                     what=f"proxy ACKs version {version}")

    def test_opaque_ca_secret_is_used_and_editing_it_alone_pushes_a_snapshot(self):
        ca_one, _ = self_signed(self.env.workdir, "ca-one")
        ca_two, _ = self_signed(self.env.workdir, "ca-two")
        # kubectl apply leaves the whole Secret in an annotation: also not kept.
        self.fake.apply(secret("backend-ca", "Opaque", {"ca.crt": ca_one, "password": "hunter2"},
                               annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}"}))
        self.fake.apply(h.ingress("secure", [("secure.local", [("/", "Prefix", "api", 80)])],
                                  annotations={"sluice.io/backend-protocol": "HTTPS",
                                               "sluice.io/backend-tls-ca-secret": "backend-ca"}))
        since = time.time()
        self.start()
        h.wait_until(lambda: self.backend_ca("default/api:80") == ca_one, timeout=10, what="the CA from the Opaque Secret")
        version = self.controller_snapshot()["version"]
        self.wait_proxy_on(version)

        # Only the Secret changes: a new snapshot with the new CA reaches the proxy.
        self.fake.apply(secret("backend-ca", "Opaque", {"ca.crt": ca_two, "password": "hunter2"}))
        h.wait_until(lambda: self.backend_ca("default/api:80") == ca_two, timeout=10, what="the edited CA")
        edited = self.controller_snapshot()["version"]
        self.assertNotEqual(edited, version)
        self.wait_proxy_on(edited)

        # A key the controller does not read changes: nothing to push.
        self.fake.apply(secret("backend-ca", "Opaque", {"ca.crt": ca_two, "password": "changed"}))
        time.sleep(1.0)
        self.assertEqual(self.controller_snapshot()["version"], edited)

        # Secrets are listed without a type selector (Opaque ones must be
        # seen) but without service-account tokens.
        lists = h.api_requests(self.fake, since, "secrets", "list")
        self.assertTrue(lists)
        for request in lists:
            selector = request["query"].get("fieldSelector") or ""
            self.assertNotIn("type=kubernetes.io/tls", selector)
            self.assertIn("type!=kubernetes.io/service-account-token", selector)

    def test_rejected_certificate_shows_on_the_controllers_nodes_page(self):
        # A certificate with another certificate's key: the proxy applies the
        # version without it (partial ACK) and the controller shows why.
        cert, _ = self_signed(self.env.workdir, "shop.local")
        _, other_key = self_signed(self.env.workdir, "other")
        self.fake.apply(secret("shop-tls", "kubernetes.io/tls", {"tls.crt": cert, "tls.key": other_key}))
        shop = h.ingress("shop", [("shop.local", [("/", "Prefix", "app", 80)])],
                         annotations={"sluice.io/ssl-redirect": "false"})  # plain HTTP still answers below
        shop["spec"]["tls"] = [{"hosts": ["shop.local"], "secretName": "shop-tls"}]
        self.fake.apply(shop)
        self.start()
        node = h.wait_until(lambda: self.node() if self.node().get("rejected_resources") else None, timeout=10,
                            what="rejected_resources on /nodes")
        self.assertEqual(node["applied_version"], self.controller_snapshot()["version"])
        rejected = node["rejected_resources"]
        self.assertEqual(len(rejected), 1, rejected)
        self.assertEqual(rejected[0]["type"], "CERTIFICATE")
        self.assertIn("shop-tls", rejected[0]["name"])
        self.assertIn("does not match", rejected[0]["error"])
        # The rest of that version serves.
        self.assertEqual(h.backend_for(self.proxy, "shop.local", "/"), "app")


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    unittest.main(verbosity=2)
