"""Real processes for the cluster-mode tests and the benchmark: fakekube,
sluice-controller --kubeconfig, sluice-proxy and echo backends, all on
127.0.0.1 with ports chosen at run time.

Binaries are found under $SLUICE_BIN_ROOT (a bazel-bin or a runfiles tree);
under `bazel test` that is the runfiles directory."""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.environ.get("SLUICE_BIN_ROOT") or os.path.join(os.environ.get("TEST_SRCDIR", ""),
                                                           os.environ.get("TEST_WORKSPACE", "sluice"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fakekube"))
sys.path.insert(0, os.path.join(ROOT, "test", "fakekube"))
from client import FakeKube, wait_until  # noqa: E402,F401

CONTROLLER = "controlplane/main/sluice-controller"
PROXY = "dataplane/main/sluice-proxy"
BACKEND = "test/backend/sluice-echo-backend"
CLASS_CONTROLLER = "sluice.io/ingress-controller"


def binary(relative):
    return os.path.join(ROOT, relative)


_HANDED_OUT = set()
_RNG = random.Random(os.getpid() ^ time.time_ns())


def free_port():
    """A bindable port below the kernel's ephemeral range (32768-60999): a
    bind(0) port, once released, can be taken by any outgoing connection
    before our server binds it. Never the same port twice in one process."""
    for _ in range(200):
        port = _RNG.randint(20000, 32000)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def http_get(port, path, host="127.0.0.1", timeout=3.0):
    """(status, headers dict lower-cased, body bytes); status 0 when nothing answered."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
    except (urllib.error.URLError, OSError):
        return 0, {}, b""


class Process:
    def __init__(self, name, argv, log_path, env=None):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.log = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env)

    def running(self):
        return self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.log.close()

    def kill(self):
        self.stop(signal.SIGKILL)

    def output(self):
        try:
            return open(self.log_path, errors="replace").read()
        except OSError:
            return ""


# ---- objects ----


def ingress_class(name, controller=CLASS_CONTROLLER, default=False):
    obj = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": name},
           "spec": {"controller": controller}}
    if default:
        obj["metadata"]["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return obj


def service(name, ns="default", port=80, port_name="http"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "ClusterIP", "selector": {"app": name},
                     "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}}


def endpoint_slice(service_name, target_ports, ns="default", name=None, port_name="http", ready=True,
                   terminating=False):
    """One endpoint per port in target_ports (all 127.0.0.1: the echo backends)."""
    # All backends share the address 127.0.0.1 and differ by port; a slice
    # has one port set, so each backend port gets its own slice.
    return [{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
             "metadata": {"name": f"{name or service_name}-{i}", "namespace": ns,
                          "labels": {"kubernetes.io/service-name": service_name,
                                     "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
             "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
             "endpoints": [{"addresses": ["127.0.0.1"],
                            "conditions": {"ready": ready, "serving": ready or terminating,
                                           "terminating": terminating}}]}
            for i, port in enumerate(target_ports)]


def ingress(name, rules, ns="default", class_name="sluice", annotations=None, default_backend=None):
    """rules: [(host, [(path, pathType, service, port)])]"""
    spec = {"rules": [{"host": host, "http": {"paths": [
        {"path": path, "pathType": path_type,
         "backend": {"service": {"name": svc, "port": ({"number": port} if isinstance(port, int)
                                                       else {"name": port})}}}
        for path, path_type, svc, port in paths]}} for host, paths in rules]}
    if class_name:
        spec["ingressClassName"] = class_name
    if default_backend:
        spec["defaultBackend"] = {"service": {"name": default_backend[0], "port": {"number": default_backend[1]}}}
    obj = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": ns}, "spec": spec}
    if annotations:
        obj["metadata"]["annotations"] = annotations
    return obj


# ---- the environment ----


class Environment:
    def __init__(self, workdir):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.processes = []
        self.fake = None
        self.backends = {}  # name -> port

    def start_fake(self, **kwargs):
        self.fake = FakeKube.start(os.path.join(self.workdir, "fakekube"), **kwargs)
        return self.fake

    def start_backends(self, *names):
        for name in names:
            port = free_port()
            self.processes.append(Process(name, [binary(BACKEND), "--listen", f"127.0.0.1:{port}", "--name", name],
                                          os.path.join(self.workdir, f"backend-{name}.log")))
            self.backends[name] = port
        for name in names:
            assert wait_port(self.backends[name]), f"backend {name} did not start"
        return self.backends

    def start_controller(self, name="controller", kubeconfig=None, extra=()):
        grpc_port, admin_port = free_port(), free_port()
        argv = [binary(CONTROLLER), "--kubeconfig", kubeconfig or self.fake.kubeconfig,
                "--grpc-listen", f"127.0.0.1:{grpc_port}", "--admin-listen", f"127.0.0.1:{admin_port}",
                *extra]
        env = dict(os.environ)
        env["POD_NAME"] = name
        process = Process(name, argv, os.path.join(self.workdir, f"{name}.log"), env=env)
        process.grpc_port, process.admin_port = grpc_port, admin_port
        self.processes.append(process)
        return process

    def start_proxy(self, controller, name="proxy", workers=1, target=None):
        """`target`: a gRPC target instead of `controller`'s address, e.g.
        "ipv4:127.0.0.1:A,127.0.0.1:B" (two replicas behind one name, as a
        Service gives them)."""
        http_port, admin_port = free_port(), free_port()
        process = Process(name, [binary(PROXY), "--controller", target or f"127.0.0.1:{controller.grpc_port}",
                                 "--http-listen", f"127.0.0.1:{http_port}", "--admin-listen",
                                 f"127.0.0.1:{admin_port}", "--workers", str(workers), "--node-id", name,
                                 "--access-log", os.path.join(self.workdir, f"{name}-access.log")],
                          os.path.join(self.workdir, f"{name}.log"))
        process.http_port, process.admin_port = http_port, admin_port
        self.processes.append(process)
        return process

    def stop(self):
        for process in reversed(self.processes):
            process.stop()
        if self.fake:
            self.fake.stop()

    def logs(self):
        out = []
        for process in self.processes:
            if process.name.startswith("backend"):
                continue
            out.append(f"--- {process.name} ({process.log_path})\n{process.output()[-6000:]}")
        if self.fake:
            out.append("--- fakekube\n" + open(os.path.join(self.fake.workdir, "fakekube.log"),
                                              errors="replace").read()[-3000:])
        return "\n".join(out)


def ready(process):
    return http_get(process.admin_port, "/readyz")[0] == 200


def backend_for(proxy, host, path):
    """x-backend of the answer, or the status as a string ("404", "503", "0")."""
    status, headers, _ = http_get(proxy.http_port, path, host=host)
    if status != 200:
        return str(status)
    return headers.get("x-backend", "?")


def wait_backend(proxy, host, path, expected, timeout=10.0):
    """Seconds until host+path is served by `expected` (a backend name or a status)."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        last = backend_for(proxy, host, path)
        if last == expected:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{host}{path}: expected {expected}, still {last} after {timeout}s")


def api_requests(fake, since, resource, verb=None):
    """Recorded requests for a resource plural (e.g. "ingresses"), verb in
    list/watch/write."""
    out = []
    for r in fake.requests(since):
        parts = r["path"].strip("/").split("/")
        if resource not in parts:
            continue
        if verb == "list" and (r["method"] != "GET" or r["watch"]):
            continue
        if verb == "watch" and not r["watch"]:
            continue
        if verb == "write" and r["method"] == "GET":
            continue
        out.append(r)
    return out


def json_of(port, path):
    status, _, body = http_get(port, path)
    return json.loads(body) if status == 200 and body else None
