"""Python side of fakekube for tests: start it, talk to its API as a
controller would (api()), and steer it through /_fake/ (everything else).

    fake = FakeKube.start(tmpdir, tls=True)
    fake.apply(ingress_dict)                # create or replace, no auth, no faults
    fake.fault(verb="watch", resource="ingresses", code=410, mode="event")
    status, body = fake.api("GET", "/apis/networking.k8s.io/v1/ingresses")
    fake.requests()                         # what clients asked, with status
    fake.stop()
"""

import gzip
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKEKUBE = os.path.join(HERE, "fakekube.py")

API_VERSIONS = {
    "Service": "v1", "Secret": "v1", "Namespace": "v1", "Event": "v1",
    "EndpointSlice": "discovery.k8s.io/v1", "Ingress": "networking.k8s.io/v1",
    "IngressClass": "networking.k8s.io/v1", "Lease": "coordination.k8s.io/v1",
}


class FakeKube:
    def __init__(self, process, port, tls, workdir, token, kubeconfig, token_file, ca_file):
        self.process, self.port, self.tls, self.workdir = process, port, tls, workdir
        self.token, self.kubeconfig, self.token_file, self.ca_file = token, kubeconfig, token_file, ca_file
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self._ssl = None
        if tls:
            self._ssl = ssl.create_default_context(cafile=ca_file)

    @classmethod
    def start(cls, workdir, tls=True, token="test-token", token_file=True, bookmark_interval=60.0,
              history=5000, extra_args=(), log_name="fakekube.log", client_cert_auth=False,
              kubeconfig_client_cert=False, timeout=20.0):
        os.makedirs(workdir, exist_ok=True)
        port_file = os.path.join(workdir, "fakekube.port")
        if os.path.exists(port_file):
            os.remove(port_file)
        kubeconfig = os.path.join(workdir, "kubeconfig")
        token_path = os.path.join(workdir, "token") if token_file else None
        cert_dir = os.path.join(workdir, "certs")
        args = [sys.executable, FAKEKUBE, "--port", "0", "--port-file", port_file, "--token", token,
                "--kubeconfig-out", kubeconfig, "--bookmark-interval", str(bookmark_interval),
                "--history", str(history)]
        if tls:
            args += ["--tls", "--cert-dir", cert_dir]
        if token_path:
            args += ["--token-file", token_path]
        if client_cert_auth:
            args.append("--client-cert-auth")
        if kubeconfig_client_cert:
            args.append("--kubeconfig-client-cert")
        args += list(extra_args)
        log = open(os.path.join(workdir, log_name), "ab")
        process = subprocess.Popen(args, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(port_file):
                port = int(open(port_file).read().strip())
                return cls(process, port, tls, workdir, token, kubeconfig, token_path,
                           os.path.join(cert_dir, "ca.crt") if tls else None)
            if process.poll() is not None:
                break
            time.sleep(0.05)
        process.kill()
        raise RuntimeError("fakekube did not start; see " + os.path.join(workdir, log_name))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    # -- raw HTTP --

    def _open(self, method, path, body=None, headers=None, timeout=30.0):
        data = None
        headers = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=timeout, context=self._ssl)
        except urllib.error.HTTPError as error:
            response = error
        raw = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        return response.status if hasattr(response, "status") else response.code, response.headers, raw

    def api(self, method, path, body=None, token="default", content_type=None, headers=None, timeout=30.0):
        """A request as a controller makes it: (status, parsed JSON body)."""
        headers = dict(headers or {})
        token = self.token if token == "default" else token
        if token:
            headers["Authorization"] = "Bearer " + token
        if content_type:
            headers["Content-Type"] = content_type
        status, _, raw = self._open(method, path, body, headers, timeout)
        return status, (json.loads(raw) if raw.strip() else None)

    def api_with_headers(self, method, path, token="default", headers=None):
        headers = dict(headers or {})
        token = self.token if token == "default" else token
        if token:
            headers["Authorization"] = "Bearer " + token
        return self._open(method, path, None, headers)

    def control(self, method, action, body=None, query=""):
        if isinstance(body, str):
            body = body.encode()
        status, _, raw = self._open(method, "/_fake/" + action + query, body)
        parsed = json.loads(raw) if raw.strip() else None
        if status >= 300:
            raise RuntimeError(f"/_fake/{action}: {status} {parsed}")
        return parsed

    # -- objects (no auth, no faults, not recorded) --

    def apply(self, obj):
        """Create or replace; returns the stored object (with its resourceVersion)."""
        obj = dict(obj)
        obj.setdefault("apiVersion", API_VERSIONS.get(obj.get("kind"), "v1"))
        return self.control("POST", "apply", obj)

    def delete(self, kind, namespace, name):
        return self.control("POST", "delete", {"apiVersion": API_VERSIONS[kind], "kind": kind,
                                                "namespace": namespace, "name": name})

    def load(self, text):
        """Bulk-load YAML or JSON documents (str)."""
        return self.control("POST", "load", text.encode())

    def objects(self, resource):
        return self.control("GET", "objects", query="?resource=" + resource)["items"]

    def state(self):
        return self.control("GET", "state")

    # -- faults and control --

    def fault(self, verb="*", resource="*", code=0, count=1, delay_ms=0, retry_after=1, mode="http",
              subresource="*", message="", query_has=""):
        """Next `count` matching requests (-1: until clear_faults) get `code`
        (0: only the delay). mode="event" makes a watch 410 an ERROR event
        after 200 instead of an HTTP 410. query_has="continue" limits the
        fault to later pages of a list."""
        return self.control("POST", "faults", {"verb": verb, "resource": resource, "code": code, "count": count,
                                                "delay_ms": delay_ms, "retry_after": retry_after, "mode": mode,
                                                "subresource": subresource, "message": message,
                                                "query_has": query_has})

    def clear_faults(self):
        return self.control("DELETE", "faults")

    def close_watches(self, abrupt=False):
        return self.control("POST", "close_watches", {"abrupt": abrupt})

    def compact(self):
        return int(self.control("POST", "compact", {})["compacted"])

    def rotate_token(self, new_token, write_file=True):
        """Only `new_token` is accepted from now on; the token file (if any)
        is rewritten with it."""
        self.token = new_token
        return self.control("POST", "tokens", {"tokens": [new_token], "write_file": write_file})

    def set_tokens(self, tokens):
        return self.control("POST", "tokens", {"tokens": list(tokens), "write_file": False})

    def set_bookmark_interval(self, seconds):
        return self.control("POST", "bookmark_interval", {"seconds": seconds})

    def requests(self, since=0.0):
        return self.control("GET", "requests", query=f"?since={since}")["requests"]

    def clear_requests(self):
        return self.control("DELETE", "requests")


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls predicate() until truthy; returns its value or raises."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
