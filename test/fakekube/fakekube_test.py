"""Checks fakekube against the Kubernetes API protocol: a fake that drifts
from the real server makes every controller test that uses it meaningless.

Each assertion here is about behaviour of kube-apiserver that a controller
depends on (pagination with consistent snapshots, watch resumption, 410 as
an event or a status, bookmarks, optimistic concurrency, Status bodies)."""

import http.client
import json
import os
import socket
import ssl
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import FakeKube, wait_until  # noqa: E402

INGRESSES = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"


def service(name, ns="default", labels=None, port=80):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"ports": [{"name": "http", "port": port}]}}


def ingress(name, ns="default", host="a.example"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "app", "port": {"number": 80}}}}]}}]}}


class Watch:
    """A watch stream read line by line, as a client-go reflector does."""

    def __init__(self, fake, path, token="default", timeout=10.0):
        if fake.tls:
            self.conn = http.client.HTTPSConnection("127.0.0.1", fake.port, timeout=timeout,
                                                    context=ssl.create_default_context(cafile=fake.ca_file))
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
        token = fake.token if token == "default" else token
        self.conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        self.response = self.conn.getresponse()
        self.status = self.response.status

    def next(self):
        """The next event, or None when the stream ended cleanly."""
        line = self.response.readline()
        if not line:
            return None
        return json.loads(line)

    def events_until_end(self, limit=1000):
        events = []
        for _ in range(limit):
            event = self.next()
            if event is None:
                self.close()
                return events
            events.append(event)
        raise AssertionError("stream did not end")

    def close(self):
        self.conn.close()


class FakeKubeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fakekube-test-", dir=os.environ.get("TEST_TMPDIR"))
        cls.fake = FakeKube.start(os.path.join(cls.tmp, "tls"), tls=True, client_cert_auth=True,
                                  bookmark_interval=0.2)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.clear_faults()
        self.fake.set_tokens(["test-token"])
        self.fake.token = "test-token"
        self.ns = "ns" + str(int(time.monotonic() * 1e6))  # a namespace of its own per test

    def assertStatus(self, body, code, reason):
        self.assertEqual(body["kind"], "Status")
        self.assertEqual(body["apiVersion"], "v1")
        self.assertEqual(body["status"], "Failure")
        self.assertEqual(body["code"], code)
        self.assertEqual(body["reason"], reason)
        self.assertTrue(body["message"])

    # -- authentication and authorisation --

    def test_missing_or_wrong_token_is_401_status(self):
        for token in (None, "wrong"):
            status, body = self.fake.api("GET", "/api/v1/services", token=token)
            self.assertEqual(status, 401)
            self.assertStatus(body, 401, "Unauthorized")

    def test_token_rotation_rejects_the_old_token_and_rewrites_the_token_file(self):
        self.assertEqual(self.fake.api("GET", "/api/v1/services")[0], 200)
        self.fake.rotate_token("second-token")
        self.assertEqual(self.fake.api("GET", "/api/v1/services", token="test-token")[0], 401)
        self.assertEqual(self.fake.api("GET", "/api/v1/services", token="second-token")[0], 200)
        self.assertEqual(open(self.fake.token_file).read().strip(), "second-token")

    def test_kubeconfig_points_at_the_server_with_ca_and_token_file(self):
        import yaml
        config = yaml.safe_load(open(self.fake.kubeconfig))
        cluster = config["clusters"][0]["cluster"]
        self.assertEqual(cluster["server"], f"https://127.0.0.1:{self.fake.port}")
        self.assertIn("certificate-authority-data", cluster)
        self.assertEqual(config["users"][0]["user"]["tokenFile"], self.fake.token_file)
        self.assertEqual(config["current-context"], "fakekube")

    def test_client_certificate_authenticates_without_token(self):
        certs = os.path.join(self.fake.workdir, "certs")
        context = ssl.create_default_context(cafile=self.fake.ca_file)
        context.load_cert_chain(os.path.join(certs, "client.crt"), os.path.join(certs, "client.key"))
        conn = http.client.HTTPSConnection("127.0.0.1", self.fake.port, context=context, timeout=5)
        conn.request("GET", "/api/v1/services")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    def test_injected_403_for_one_verb_and_resource(self):
        self.fake.fault(verb="list", resource="ingresses", code=403, count=-1)
        status, body = self.fake.api("GET", "/apis/networking.k8s.io/v1/ingresses")
        self.assertEqual(status, 403)
        self.assertStatus(body, 403, "Forbidden")
        self.assertIn('cannot list resource "ingresses" in API group "networking.k8s.io"', body["message"])
        # Other verbs and resources are unaffected; the fault stays until cleared.
        self.assertEqual(self.fake.api("GET", "/api/v1/services")[0], 200)
        self.assertEqual(self.fake.api("GET", "/apis/networking.k8s.io/v1/ingresses")[0], 403)
        self.fake.clear_faults()
        self.assertEqual(self.fake.api("GET", "/apis/networking.k8s.io/v1/ingresses")[0], 200)

    def test_429_carries_retry_after_and_500_is_internal_error(self):
        self.fake.fault(verb="list", resource="services", code=429, retry_after=3)
        status, headers, raw = self.fake.api_with_headers("GET", "/api/v1/services")
        self.assertEqual(status, 429)
        self.assertEqual(headers["Retry-After"], "3")
        body = json.loads(raw)
        self.assertStatus(body, 429, "TooManyRequests")
        self.assertEqual(body["details"]["retryAfterSeconds"], 3)
        self.fake.fault(verb="list", resource="services", code=500)
        status, body = self.fake.api("GET", "/api/v1/services")
        self.assertStatus(body, 500, "InternalError")
        # count=1 each: the next list succeeds.
        self.assertEqual(self.fake.api("GET", "/api/v1/services")[0], 200)

    def test_delay_slows_only_matching_requests(self):
        self.fake.fault(verb="list", resource="services", delay_ms=400)
        started = time.monotonic()
        self.assertEqual(self.fake.api("GET", "/api/v1/services")[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        started = time.monotonic()
        self.assertEqual(self.fake.api("GET", "/api/v1/services")[0], 200)
        self.assertLess(time.monotonic() - started, 0.4)

    # -- objects --

    def test_server_sets_metadata_and_get_returns_kind(self):
        status, created = self.fake.api("POST", f"/api/v1/namespaces/{self.ns}/services", service("web", self.ns))
        self.assertEqual(status, 201)
        meta = created["metadata"]
        for field in ("uid", "creationTimestamp", "resourceVersion"):
            self.assertIn(field, meta)
        self.assertIsInstance(meta["resourceVersion"], str)
        self.assertEqual(meta["namespace"], self.ns)
        status, got = self.fake.api("GET", f"/api/v1/namespaces/{self.ns}/services/web")
        self.assertEqual((status, got["kind"], got["apiVersion"]), (200, "Service", "v1"))
        status, body = self.fake.api("POST", f"/api/v1/namespaces/{self.ns}/services", service("web", self.ns))
        self.assertStatus(body, 409, "AlreadyExists")
        status, body = self.fake.api("GET", f"/api/v1/namespaces/{self.ns}/services/nope")
        self.assertStatus(body, 404, "NotFound")
        self.assertEqual(body["details"], {"name": "nope", "group": "", "kind": "services"})

    def test_put_with_stale_resource_version_is_409_conflict(self):
        _, created = self.fake.api("POST", INGRESSES.format(ns=self.ns), ingress("i", self.ns))
        self.assertEqual(created["metadata"]["generation"], 1)
        fresh = json.loads(json.dumps(created))
        fresh["spec"]["rules"][0]["host"] = "b.example"
        status, updated = self.fake.api("PUT", INGRESSES.format(ns=self.ns) + "/i", fresh)
        self.assertEqual(status, 200)
        self.assertEqual(updated["metadata"]["generation"], 2)
        self.assertNotEqual(updated["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"])
        stale = created  # still carries the first resourceVersion
        status, body = self.fake.api("PUT", INGRESSES.format(ns=self.ns) + "/i", stale)
        self.assertEqual(status, 409)
        self.assertStatus(body, 409, "Conflict")
        self.assertIn("the object has been modified", body["message"])

    def test_status_subresource_updates_only_status(self):
        _, created = self.fake.api("POST", INGRESSES.format(ns=self.ns), ingress("s", self.ns))
        body = json.loads(json.dumps(created))
        body["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
        body["spec"]["rules"][0]["host"] = "ignored.example"
        status, updated = self.fake.api("PUT", INGRESSES.format(ns=self.ns) + "/s/status", body)
        self.assertEqual(status, 200)
        self.assertEqual(updated["status"]["loadBalancer"]["ingress"][0]["ip"], "10.0.0.1")
        self.assertEqual(updated["spec"]["rules"][0]["host"], "a.example")
        self.assertEqual(updated["metadata"]["generation"], 1)
        # And the main resource ignores status.
        updated["status"] = {}
        status, again = self.fake.api("PUT", INGRESSES.format(ns=self.ns) + "/s", updated)
        self.assertEqual(again["status"]["loadBalancer"]["ingress"][0]["ip"], "10.0.0.1")
        # Stale resourceVersion on /status is a conflict too.
        status, body = self.fake.api("PUT", INGRESSES.format(ns=self.ns) + "/s/status", created)
        self.assertEqual(status, 409)

    def test_merge_and_strategic_merge_patch(self):
        self.fake.api("POST", f"/api/v1/namespaces/{self.ns}/services", service("p", self.ns, {"a": "1", "b": "2"}))
        status, patched = self.fake.api("PATCH", f"/api/v1/namespaces/{self.ns}/services/p",
                                        {"metadata": {"labels": {"a": None, "c": "3"}}},
                                        content_type="application/merge-patch+json")
        self.assertEqual(status, 200)
        self.assertEqual(patched["metadata"]["labels"], {"b": "2", "c": "3"})
        status, patched = self.fake.api("PATCH", INGRESSES.format(ns=self.ns) + "/missing", {},
                                        content_type="application/strategic-merge-patch+json")
        self.assertEqual(status, 404)
        self.fake.api("POST", INGRESSES.format(ns=self.ns), ingress("q", self.ns))
        status, patched = self.fake.api("PATCH", INGRESSES.format(ns=self.ns) + "/q/status",
                                        {"status": {"loadBalancer": {"ingress": [{"hostname": "lb"}]}}},
                                        content_type="application/strategic-merge-patch+json")
        self.assertEqual(patched["status"]["loadBalancer"]["ingress"], [{"hostname": "lb"}])
        status, body = self.fake.api("PATCH", INGRESSES.format(ns=self.ns) + "/q", {},
                                     content_type="application/yaml")
        self.assertEqual(status, 415)

    def test_leases_create_get_update_with_conflict(self):
        path = f"/apis/coordination.k8s.io/v1/namespaces/{self.ns}/leases"
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "sluice"},
                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
        status, created = self.fake.api("POST", path, lease)
        self.assertEqual(status, 201)
        status, body = self.fake.api("POST", path, lease)
        self.assertEqual(status, 409)  # the loser of a create race
        mine = json.loads(json.dumps(created))
        mine["spec"]["holderIdentity"] = "b"
        theirs = json.loads(json.dumps(created))
        theirs["spec"]["holderIdentity"] = "c"
        self.assertEqual(self.fake.api("PUT", path + "/sluice", mine)[0], 200)
        self.assertEqual(self.fake.api("PUT", path + "/sluice", theirs)[0], 409)
        self.assertEqual(self.fake.api("GET", path + "/sluice")[1]["spec"]["holderIdentity"], "b")

    def test_delete_returns_object_and_404_after(self):
        self.fake.api("POST", f"/api/v1/namespaces/{self.ns}/services", service("d", self.ns))
        status, body = self.fake.api("DELETE", f"/api/v1/namespaces/{self.ns}/services/d")
        self.assertEqual((status, body["metadata"]["name"]), (200, "d"))
        self.assertEqual(self.fake.api("DELETE", f"/api/v1/namespaces/{self.ns}/services/d")[0], 404)

    def test_cluster_scoped_ingressclasses(self):
        cls = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "c" + self.ns},
               "spec": {"controller": "sluice.io/ingress-controller"}}
        status, created = self.fake.api("POST", "/apis/networking.k8s.io/v1/ingressclasses", cls)
        self.assertEqual(status, 201)
        self.assertNotIn("namespace", created["metadata"])
        self.assertEqual(self.fake.api("GET", f"/apis/networking.k8s.io/v1/namespaces/{self.ns}/ingressclasses")[0],
                         404)

    # -- list --

    def test_list_shape_items_without_kind(self):
        self.fake.apply(service("x", self.ns))
        status, body = self.fake.api("GET", f"/api/v1/namespaces/{self.ns}/services")
        self.assertEqual((body["kind"], body["apiVersion"]), ("ServiceList", "v1"))
        self.assertIsInstance(body["metadata"]["resourceVersion"], str)
        self.assertNotIn("continue", body["metadata"])
        self.assertEqual(len(body["items"]), 1)
        self.assertNotIn("kind", body["items"][0])
        self.assertNotIn("apiVersion", body["items"][0])

    def test_pagination_serves_a_consistent_snapshot(self):
        for i in range(7):
            self.fake.apply(service(f"s{i}", self.ns))
        path = f"/api/v1/namespaces/{self.ns}/services"
        _, first = self.fake.api("GET", path + "?limit=3")
        self.assertEqual([o["metadata"]["name"] for o in first["items"]], ["s0", "s1", "s2"])
        self.assertEqual(first["metadata"]["remainingItemCount"], 4)
        token = first["metadata"]["continue"]
        # Changes after the first page do not show in the later pages.
        self.fake.delete("Service", self.ns, "s5")
        self.fake.apply(service("s9", self.ns))
        names = []
        for _ in range(5):
            _, page = self.fake.api("GET", path + "?limit=3&continue=" + token)
            self.assertEqual(page["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"])
            names += [o["metadata"]["name"] for o in page["items"]]
            token = page["metadata"].get("continue")
            if not token:
                break
        self.assertEqual(names, ["s3", "s4", "s5", "s6"])
        _, fresh = self.fake.api("GET", path)
        self.assertEqual([o["metadata"]["name"] for o in fresh["items"]],
                         ["s0", "s1", "s2", "s3", "s4", "s6", "s9"])

    def test_expired_continue_token_is_410_expired(self):
        for i in range(4):
            self.fake.apply(service(f"e{i}", self.ns))
        path = f"/api/v1/namespaces/{self.ns}/services"
        _, first = self.fake.api("GET", path + "?limit=2")
        self.fake.compact()
        status, body = self.fake.api("GET", path + "?limit=2&continue=" + first["metadata"]["continue"])
        self.assertEqual(status, 410)
        self.assertStatus(body, 410, "Expired")
        # An injected 410 on a continued list looks the same.
        _, first = self.fake.api("GET", path + "?limit=2")
        self.fake.fault(verb="list", resource="services", code=410)
        status, body = self.fake.api("GET", path + "?limit=2&continue=" + first["metadata"]["continue"])
        self.assertStatus(body, 410, "Expired")
        self.assertIn("continue", body["message"])

    def test_list_resource_version_semantics(self):
        created = self.fake.apply(service("r", self.ns))
        rv = int(created["metadata"]["resourceVersion"])
        path = f"/api/v1/namespaces/{self.ns}/services"
        self.fake.apply(service("r2", self.ns))
        _, exact = self.fake.api("GET", path + f"?resourceVersion={rv}&resourceVersionMatch=Exact")
        self.assertEqual([o["metadata"]["name"] for o in exact["items"]], ["r"])
        self.assertEqual(exact["metadata"]["resourceVersion"], str(rv))
        _, any_ = self.fake.api("GET", path + "?resourceVersion=0")
        self.assertEqual(len(any_["items"]), 2)
        status, body = self.fake.api("GET", path + "?resourceVersionMatch=Exact")
        self.assertEqual(status, 400)
        self.fake.compact()
        status, body = self.fake.api("GET", path + f"?resourceVersion={rv}&resourceVersionMatch=Exact")
        self.assertStatus(body, 410, "Expired")
        status, body = self.fake.api("GET", path + "?resourceVersion=99999999&resourceVersionMatch=NotOlderThan")
        self.assertStatus(body, 504, "Timeout")

    def test_selectors(self):
        self.fake.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                         "metadata": {"name": "tls", "namespace": self.ns, "labels": {"app": "web"}},
                         "data": {"tls.crt": "", "tls.key": ""}})
        self.fake.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                         "metadata": {"name": "opaque", "namespace": self.ns, "labels": {"app": "db"}}})
        path = f"/api/v1/namespaces/{self.ns}/secrets"
        names = lambda q: [o["metadata"]["name"] for o in self.fake.api("GET", path + q)[1]["items"]]  # noqa
        self.assertEqual(names("?fieldSelector=type%3Dkubernetes.io%2Ftls"), ["tls"])
        self.assertEqual(names("?fieldSelector=type!%3Dkubernetes.io%2Ftls"), ["opaque"])
        self.assertEqual(names("?labelSelector=app%3Dweb"), ["tls"])
        self.assertEqual(names("?labelSelector=app%20in%20(db,x)"), ["opaque"])
        self.assertEqual(names("?labelSelector=!app"), [])
        self.assertEqual(names("?fieldSelector=metadata.name%3Dopaque"), ["opaque"])
        status, body = self.fake.api("GET", path + "?fieldSelector=spec.foo%3Dx")
        self.assertStatus(body, 400, "BadRequest")
        # All-namespace path sees both namespaces' objects.
        self.fake.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                         "metadata": {"name": "web-1", "namespace": self.ns,
                                      "labels": {"kubernetes.io/service-name": "web"}}, "endpoints": []})
        status, body = self.fake.api(
            "GET", "/apis/discovery.k8s.io/v1/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb")
        self.assertIn(("web-1", self.ns), [(o["metadata"]["name"], o["metadata"]["namespace"])
                                            for o in body["items"]])

    # -- watch --

    def test_watch_resumes_after_the_given_resource_version(self):
        path = INGRESSES.format(ns=self.ns)
        _, listed = self.fake.api("GET", path)
        rv = listed["metadata"]["resourceVersion"]
        a = self.fake.apply(ingress("a", self.ns))
        self.fake.apply(service("unrelated", self.ns))
        b = json.loads(json.dumps(a))
        b["spec"]["rules"][0]["host"] = "changed.example"
        self.fake.apply(b)
        self.fake.delete("Ingress", self.ns, "a")
        watch = Watch(self.fake, path + f"?watch=1&resourceVersion={rv}&timeoutSeconds=1")
        self.assertEqual(watch.status, 200)
        self.assertEqual(watch.response.getheader("Transfer-Encoding"), "chunked")
        events = watch.events_until_end()
        self.assertEqual([e["type"] for e in events], ["ADDED", "MODIFIED", "DELETED"])
        self.assertEqual(events[0]["object"]["kind"], "Ingress")
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        self.assertEqual(rvs, sorted(rvs))
        self.assertEqual(len(set(rvs)), 3)
        self.assertEqual(events[1]["object"]["spec"]["rules"][0]["host"], "changed.example")
        # Resuming from the MODIFIED event's version replays only what followed.
        watch = Watch(self.fake, path + f"?watch=true&resourceVersion={rvs[1]}&timeoutSeconds=1")
        self.assertEqual([e["type"] for e in watch.events_until_end()], ["DELETED"])

    def test_watch_without_resource_version_starts_with_synthetic_added(self):
        self.fake.apply(ingress("x", self.ns))
        watch = Watch(self.fake, INGRESSES.format(ns=self.ns) + "?watch=1&timeoutSeconds=1")
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in watch.events_until_end()],
                         [("ADDED", "x")])

    def test_watch_from_compacted_version_is_410_error_event(self):
        path = INGRESSES.format(ns=self.ns)
        _, listed = self.fake.api("GET", path)
        self.fake.compact()
        watch = Watch(self.fake, path + f"?watch=1&resourceVersion={listed['metadata']['resourceVersion']}")
        self.assertEqual(watch.status, 200)  # the real watch cache answers 200, then an ERROR event
        events = watch.events_until_end()
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["type"], "ERROR")
        self.assertStatus(events[0]["object"], 410, "Expired")
        self.assertIn("too old resource version", events[0]["object"]["message"])

    def test_injected_410_on_watch_as_status_or_event(self):
        path = INGRESSES.format(ns=self.ns)
        _, listed = self.fake.api("GET", path)
        rv = listed["metadata"]["resourceVersion"]
        self.fake.fault(verb="watch", resource="ingresses", code=410, mode="http")
        watch = Watch(self.fake, path + f"?watch=1&resourceVersion={rv}")
        self.assertEqual(watch.status, 410)
        self.assertStatus(json.loads(watch.response.read()), 410, "Expired")
        self.fake.fault(verb="watch", resource="ingresses", code=410, mode="event")
        watch = Watch(self.fake, path + f"?watch=1&resourceVersion={rv}")
        self.assertEqual(watch.status, 200)
        events = watch.events_until_end()
        self.assertEqual([e["type"] for e in events], ["ERROR"])
        self.assertEqual(events[0]["object"]["code"], 410)

    def test_existing_watch_survives_compaction_when_caught_up(self):
        path = INGRESSES.format(ns=self.ns)
        _, listed = self.fake.api("GET", path)
        watch = Watch(self.fake, path + f"?watch=1&resourceVersion={listed['metadata']['resourceVersion']}"
                      "&timeoutSeconds=2")
        time.sleep(0.2)
        self.fake.compact()
        self.fake.apply(ingress("after", self.ns))
        self.assertEqual([e["type"] for e in watch.events_until_end()], ["ADDED"])

    def test_bookmarks_carry_only_the_resource_version_and_advance(self):
        path = INGRESSES.format(ns=self.ns)
        _, listed = self.fake.api("GET", path)
        rv = int(listed["metadata"]["resourceVersion"])
        watch = Watch(self.fake, path + f"?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
                      "&timeoutSeconds=3")
        first = watch.next()
        self.assertEqual(first["type"], "BOOKMARK")
        self.assertEqual(first["object"]["kind"], "Ingress")
        self.assertEqual(set(first["object"]["metadata"]), {"resourceVersion", "creationTimestamp"})
        # Another kind changes: the next bookmark moves past it although no
        # Ingress event was sent.
        changed = self.fake.apply(service("bump", self.ns))
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            event = watch.next()
            self.assertEqual(event["type"], "BOOKMARK")
            if int(event["object"]["metadata"]["resourceVersion"]) >= int(changed["metadata"]["resourceVersion"]):
                break
        else:
            self.fail("bookmark did not advance")
        watch.close()
        # Without allowWatchBookmarks there are none.
        watch = Watch(self.fake, path + f"?watch=1&resourceVersion={rv}&timeoutSeconds=1")
        self.assertEqual(watch.events_until_end(), [])

    def test_timeout_seconds_closes_the_stream_cleanly(self):
        started = time.monotonic()
        watch = Watch(self.fake, INGRESSES.format(ns=self.ns) + "?watch=1&resourceVersion=1&timeoutSeconds=1")
        watch.events_until_end()  # ends with the terminating chunk, no exception
        self.assertLess(time.monotonic() - started, 3)

    def test_watch_selector_transitions(self):
        path = f"/api/v1/namespaces/{self.ns}/services"
        _, listed = self.fake.api("GET", path)
        rv = listed["metadata"]["resourceVersion"]
        self.fake.apply(service("m", self.ns, {"tier": "web"}))
        self.fake.apply(service("m", self.ns, {"tier": "db"}))  # leaves the selector
        self.fake.apply(service("m", self.ns, {"tier": "web"}))  # comes back
        watch = Watch(self.fake, path + f"?watch=1&resourceVersion={rv}&labelSelector=tier%3Dweb&timeoutSeconds=1")
        self.assertEqual([e["type"] for e in watch.events_until_end()], ["ADDED", "DELETED", "ADDED"])

    def test_static_site_configmaps_and_crd(self):
        # The controller lists ConfigMaps only with the static-site label
        # (its RBAC and memory depend on the server honouring it), and
        # lists and watches the StaticSite custom resource.
        for name, labels in (("site", {"sluice.io/static-site": "true"}), ("other", {})):
            self.fake.apply({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": name, "namespace": self.ns, "labels": labels},
                             "data": {"index.html": name}})
        path = f"/api/v1/namespaces/{self.ns}/configmaps"
        _, body = self.fake.api("GET", path + "?labelSelector=sluice.io%2Fstatic-site%3Dtrue")
        self.assertEqual([o["metadata"]["name"] for o in body["items"]], ["site"])
        rv = body["metadata"]["resourceVersion"]
        self.fake.apply({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "other", "namespace": self.ns,
                                      "labels": {"sluice.io/static-site": "true"}}, "data": {}})
        watch = Watch(self.fake, path + f"?watch=1&resourceVersion={rv}"
                      "&labelSelector=sluice.io%2Fstatic-site%3Dtrue&timeoutSeconds=1")
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in watch.events_until_end()],
                         [("ADDED", "other")])

        sites = f"/apis/sluice.io/v1alpha1/namespaces/{self.ns}/staticsites"
        _, listed = self.fake.api("GET", sites)
        rv = listed["metadata"]["resourceVersion"]
        self.fake.apply({"apiVersion": "sluice.io/v1alpha1", "kind": "StaticSite",
                         "metadata": {"name": "docs", "namespace": self.ns},
                         "spec": {"root": "/srv/sluice/static/docs"}})
        _, listed = self.fake.api("GET", "/apis/sluice.io/v1alpha1/staticsites")
        self.assertIn(("docs", self.ns), [(o["metadata"]["name"], o["metadata"]["namespace"])
                                          for o in listed["items"]])
        watch = Watch(self.fake, sites + f"?watch=1&resourceVersion={rv}&timeoutSeconds=1")
        events = watch.events_until_end()
        self.assertEqual([(e["type"], e["object"]["spec"]["root"]) for e in events],
                         [("ADDED", "/srv/sluice/static/docs")])

    def test_close_watches_ends_open_streams(self):
        watch = Watch(self.fake, INGRESSES.format(ns=self.ns) + "?watch=1&resourceVersion=1&timeoutSeconds=30")
        time.sleep(0.1)
        started = time.monotonic()
        self.fake.close_watches()
        self.assertEqual(watch.events_until_end(), [])
        self.assertLess(time.monotonic() - started, 2)
        # abrupt: the connection drops without the terminating chunk, as
        # when an API server instance goes away.
        context = ssl.create_default_context(cafile=self.fake.ca_file)
        with context.wrap_socket(socket.create_connection(("127.0.0.1", self.fake.port), timeout=5),
                                 server_hostname="127.0.0.1") as sock:
            sock.sendall(INGRESSES.format(ns=self.ns).encode().join(
                [b"GET ", b"?watch=1&resourceVersion=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-token"
                 b"\r\n\r\n"]))
            data = sock.recv(65536)
            self.assertIn(b"200 OK", data)
            self.fake.close_watches(abrupt=True)
            for _ in range(100):
                try:
                    chunk = sock.recv(65536)
                except (ssl.SSLError, OSError):
                    break
                if not chunk:
                    break
                data += chunk
            self.assertFalse(data.endswith(b"0\r\n\r\n"))

    def test_requests_are_recorded_with_status(self):
        since = time.time()
        self.fake.api("GET", "/apis/networking.k8s.io/v1/ingresses?limit=5")
        self.fake.api("GET", "/apis/networking.k8s.io/v1/ingresses", token="bad")
        recorded = [r for r in self.fake.requests(since) if r["path"] == "/apis/networking.k8s.io/v1/ingresses"]
        self.assertEqual([(r["method"], r["status"], r["query"].get("limit")) for r in recorded],
                         [("GET", 200, "5"), ("GET", 401, None)])
        self.assertEqual(recorded[0]["user"], "token:test-token")

    def test_bulk_load_yaml(self):
        text = "\n---\n".join(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: b{i}, namespace: {self.ns}}}\nspec: {{ports: [{{port: 80}}]}}"
            for i in range(20))
        self.assertEqual(self.fake.load(text)["loaded"], 20)
        _, body = self.fake.api("GET", f"/api/v1/namespaces/{self.ns}/services")
        self.assertEqual(len(body["items"]), 20)

    def test_large_list_is_gzip_compressed_when_accepted(self):
        text = "\n---\n".join(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: g{i}, namespace: {self.ns}, "
            f"annotations: {{pad: {'x' * 400}}}}}\nspec: {{ports: [{{port: 80}}]}}" for i in range(400))
        self.fake.load(text)
        status, headers, raw = self.fake.api_with_headers("GET", f"/api/v1/namespaces/{self.ns}/services",
                                                          headers={"Accept-Encoding": "gzip"})
        self.assertEqual(headers["Content-Encoding"], "gzip")
        self.assertEqual(len(json.loads(raw)["items"]), 400)


class PlainHttpTest(unittest.TestCase):
    def test_plain_http_with_token(self):
        tmp = tempfile.mkdtemp(prefix="fakekube-plain-", dir=os.environ.get("TEST_TMPDIR"))
        fake = FakeKube.start(tmp, tls=False, token_file=False)
        try:
            self.assertEqual(fake.api("GET", "/api/v1/services")[0], 200)
            self.assertEqual(fake.api("GET", "/api/v1/services", token=None)[0], 401)
            self.assertEqual(fake.api("GET", "/version", token=None)[0], 200)
            with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as sock:
                sock.sendall(b"GET /api/v1/services?watch=1&timeoutSeconds=1 HTTP/1.1\r\nHost: x\r\n"
                             b"Authorization: Bearer test-token\r\n\r\n")
                data = b""
                while not data.endswith(b"0\r\n\r\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            self.assertIn(b"Transfer-Encoding: chunked", data)
            self.assertTrue(data.endswith(b"\r\n0\r\n\r\n"))
        finally:
            fake.stop()


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    unittest.main(verbosity=2)
