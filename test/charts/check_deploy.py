#!/usr/bin/env python3
"""Checks the Helm chart (charts/sluice) and the plain manifests (deploy/manifests).

Without a cluster or a helm binary this checks what a cluster admin would hit
first:
  * the chart's files parse; values.yaml matches values.schema.json; the
    templates' {{ }} and if/range/with/define ... end blocks balance; every
    .Values path a template uses exists in values.yaml, and every value in
    values.yaml is used by some template;
  * when a renderer is given (test/charts/helmrender, Go text/template + sprig,
    the engine Helm uses), the chart renders with its defaults and with
    test/charts/values/*.yaml, and the rendered objects are consistent:
    selectors match pod labels, named ports exist, probes reach the admin
    listener, the proxy's drain fits in its grace period, the proxy dials the
    controller Service, RBAC covers what the controller does, pods are
    locked down; values files named bad-* must be rejected;
  * the snapshot stream is mutual TLS on both ends (or plaintext asked for
    explicitly on both): the certificate flags name files of a mounted
    Secret, and the certificates the chart (or deploy/manifests/
    snapshot-tls.sh, run against a stand-in kubectl) makes chain to the CA
    each side trusts and carry the controller's Service name and the proxy
    identity the controller demands; the proxies still read no Secret;
  * deploy/manifests passes the same object checks and describes the same
    objects as the chart's defaults (the Secrets come from snapshot-tls.sh).

Usage: check_deploy.py --root REPO [--renderer PATH]
Prints one line per failed check and a closing "N passed, N failed" line;
exits 1 if anything failed.
"""

import argparse
import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

RELEASE = "sluice"
NAMESPACE = "sluice-system"


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = []

    def expect(self, condition, what):
        if condition:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: " + what)
        return condition

    def skip(self, what):
        self.skipped.append(what)
        print("SKIP: " + what)


# ---------------------------------------------------------------- static ---

ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
OPENERS = ("if", "range", "with", "define", "block")


def check_braces_and_blocks(checks, path, text):
    """{{ and }} alternate, and block actions nest and close."""
    depth_braces = 0
    ok = True
    i = 0
    while i < len(text):
        if text.startswith("{{", i):
            if depth_braces:
                ok = False
                break
            depth_braces = 1
            i += 2
        elif text.startswith("}}", i):
            if not depth_braces:
                ok = False
                break
            depth_braces = 0
            i += 2
        else:
            i += 1
    checks.expect(ok and depth_braces == 0, f"{path}: unbalanced {{{{ }}}}")

    depth = 0
    balanced = True
    for action in ACTION.findall(text):
        if action.startswith("/*"):
            continue
        word = action.split(None, 1)[0] if action.split() else ""
        if word in OPENERS:
            depth += 1
        elif word == "end":
            depth -= 1
            if depth < 0:
                balanced = False
    checks.expect(balanced and depth == 0, f"{path}: if/range/with/define blocks do not match their ends")


VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
VAR_ASSIGN = re.compile(r"(\$[A-Za-z_][A-Za-z0-9_]*)\s*:=\s*\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def values_paths_used(text):
    """Every .Values.a.b path in a template, following `$v := .Values.a` aliases."""
    used = set()
    for match in VALUES_REF.finditer(text):
        used.add(tuple(match.group(1).lstrip(".").split(".")))
    for var, path in VAR_ASSIGN.findall(text):
        base = tuple(path.lstrip(".").split("."))
        for match in re.finditer(re.escape(var) + r"((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            used.add(base + tuple(match.group(1).lstrip(".").split(".")))
    return used


def lookup(values, path):
    node = values
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def leaf_paths(values, prefix=()):
    """Paths of values.yaml's settings: leaves, and maps/lists passed on whole."""
    for key, value in values.items():
        path = prefix + (key,)
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, path)
        else:
            yield path


def check_chart_static(checks, chart_dir):
    chart = yaml.safe_load(open(os.path.join(chart_dir, "Chart.yaml")))
    checks.expect(chart.get("apiVersion") == "v2", "Chart.yaml: apiVersion must be v2 (Helm 3)")
    checks.expect(chart.get("name") == "sluice", "Chart.yaml: name must be sluice")
    semver = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
    checks.expect(semver.match(str(chart.get("version", ""))), "Chart.yaml: version is not SemVer")
    checks.expect(semver.match(str(chart.get("appVersion", ""))), "Chart.yaml: appVersion is not SemVer")

    values = yaml.safe_load(open(os.path.join(chart_dir, "values.yaml")))
    checks.expect(isinstance(values, dict), "values.yaml: not a mapping")
    schema = json.load(open(os.path.join(chart_dir, "values.schema.json")))

    used = set()
    templates = sorted(p for p in glob.glob(os.path.join(chart_dir, "templates", "**"), recursive=True)
                       if os.path.isfile(p))
    checks.expect(templates, "no templates found")
    for path in templates:
        text = open(path).read()
        name = os.path.relpath(path, chart_dir)
        check_braces_and_blocks(checks, name, text)
        for ref in values_paths_used(text):
            used.add(ref)
            checks.expect(lookup(values, ref), f"{name}: .Values.{'.'.join(ref)} is not in values.yaml")
    for setting in leaf_paths(values):
        covered = any(setting[: len(ref)] == ref or ref[: len(setting)] == setting for ref in used)
        checks.expect(covered, f"values.yaml: {'.'.join(setting)} is not used by any template")
    return values, schema


def schema_validator(checks, schema):
    try:
        import jsonschema
    except ImportError:
        checks.skip("values.schema.json validation: python3-jsonschema is not installed")
        return None
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


# --------------------------------------------------------- object checks ---

NAMESPACED = {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "PodDisruptionBudget",
              "NetworkPolicy", "ServiceMonitor", "Secret", "Certificate", "Pod", "HorizontalPodAutoscaler"}


def is_helm_hook(obj):
    return "helm.sh/hook" in ((obj.get("metadata") or {}).get("annotations") or {})


def check_container_hardening(checks, where, container, pod_security):
    """The hardening every container of the chart carries (issue: production)."""
    security = container.get("securityContext") or {}
    checks.expect(security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True,
                  f"{where}: runAsNonRoot is not set")
    checks.expect(security.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem is writable")
    checks.expect(security.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation allowed")
    checks.expect((security.get("capabilities") or {}).get("drop") == ["ALL"],
                  f"{where}: capabilities are not all dropped")
    checks.expect((security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
                  in ("RuntimeDefault", "Localhost"), f"{where}: no seccomp profile")
    resources = container.get("resources") or {}
    checks.expect(resources.get("requests") and resources.get("limits"),
                  f"{where}: resource requests and limits are required")


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def arg_value(args, flag):
    for arg in args:
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def check_objects(checks, label, objects, namespace):
    """Consistency of one set of objects meant to be applied together."""
    by_kind = {}
    seen = set()
    for obj in objects:
        kind, meta = obj.get("kind"), obj.get("metadata") or {}
        checks.expect(obj.get("apiVersion") and kind and meta.get("name"),
                      f"{label}: object without apiVersion/kind/metadata.name: {obj!r:.120}")
        key = (kind, meta.get("name"))
        checks.expect(key not in seen, f"{label}: duplicate {kind}/{meta.get('name')}")
        seen.add(key)
        if kind in NAMESPACED:
            checks.expect(meta.get("namespace") == namespace,
                          f"{label}: {kind}/{meta.get('name')} is not in namespace {namespace}")
        by_kind.setdefault(kind, []).append(obj)

    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    accounts = {a["metadata"]["name"] for a in by_kind.get("ServiceAccount", [])}
    pod_labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}

    def component(name):
        return pod_labels.get(name, {}).get("app.kubernetes.io/component")

    controller = next((d for n, d in deployments.items() if component(n) == "controller"), None)
    proxy = next((d for n, d in deployments.items() if component(n) == "proxy"), None)
    if not checks.expect(controller and proxy, f"{label}: needs a controller and a proxy Deployment"):
        return by_kind

    for name, deployment in deployments.items():
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        checks.expect(selects(spec["selector"]["matchLabels"], pod_labels[name]),
                      f"{label}: Deployment/{name} selector does not match its pod labels")
        checks.expect(pod.get("serviceAccountName") in accounts,
                      f"{label}: Deployment/{name} uses a ServiceAccount that is not created")
        pod_security = pod.get("securityContext") or {}
        for constraint in pod.get("topologySpreadConstraints") or []:
            checks.expect(selects(constraint["labelSelector"]["matchLabels"], pod_labels[name]),
                          f"{label}: Deployment/{name} topology spread selects other pods")
        for container in pod["containers"]:
            where = f"{label}: Deployment/{name} container {container['name']}"
            check_container_hardening(checks, where, container, pod_security)
            port_names = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            args = container.get("args") or []
            for probe_name in ("readinessProbe", "livenessProbe"):
                probe = container.get(probe_name)
                if not checks.expect(probe and "httpGet" in probe, f"{where}: no HTTP {probe_name}"):
                    continue
                port = probe["httpGet"]["port"]
                checks.expect(port in port_names or port in port_names.values(),
                              f"{where}: {probe_name} port {port} is not a container port")
                # The admin listener defaults to 127.0.0.1, which the kubelet
                # cannot reach: an HTTP probe needs --admin-listen on the pod IP.
                admin = arg_value(args, "--admin-listen")
                checks.expect(admin and not admin.startswith("127.") and not admin.startswith("[::1]")
                              and admin.rsplit(":", 1)[1] == str(port_names.get(port, port)),
                              f"{where}: {probe_name} targets an admin listener the kubelet cannot reach "
                              f"(--admin-listen={admin})")
            for mount in container.get("volumeMounts") or []:
                checks.expect(any(v["name"] == mount["name"] for v in pod.get("volumes") or []),
                              f"{where}: volume {mount['name']} is not defined")

    for name, service in services.items():
        selector = service["spec"].get("selector") or {}
        targets = [n for n, labels in pod_labels.items() if selects(selector, labels)]
        if not checks.expect(targets, f"{label}: Service/{name} selects no Deployment's pods"):
            continue
        ports = {p["name"]: p for c in deployments[targets[0]]["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            checks.expect(port["targetPort"] in ports, f"{label}: Service/{name} targetPort "
                          f"{port['targetPort']} is not a named container port")

    for pdb in by_kind.get("PodDisruptionBudget", []):
        checks.expect(any(selects(pdb["spec"]["selector"]["matchLabels"], l) for l in pod_labels.values()),
                      f"{label}: PodDisruptionBudget/{pdb['metadata']['name']} selects no pods")

    for policy in by_kind.get("NetworkPolicy", []):
        spec = policy["spec"]
        checks.expect(selects(spec["podSelector"]["matchLabels"], pod_labels[controller["metadata"]["name"]]),
                      f"{label}: NetworkPolicy does not select the controller")
        proxy_labels = pod_labels[proxy["metadata"]["name"]]
        grpc_from = [rule for rule in spec["ingress"]
                     if any(p["port"] == "grpc" for p in rule.get("ports", []))]
        checks.expect(grpc_from and all(selects(peer["podSelector"]["matchLabels"], proxy_labels)
                                        for rule in grpc_from for peer in rule.get("from", [])),
                      f"{label}: NetworkPolicy does not admit the proxies to the gRPC port")
        checks.expect(any(not rule.get("from") and any(p["port"] == "admin" for p in rule.get("ports", []))
                          for rule in spec["ingress"]),
                      f"{label}: NetworkPolicy would block kubelet probes on the admin port")

    # The helm test hook: hardened like the rest, and aimed at the proxies'
    # client-facing Service.
    for pod in by_kind.get("Pod", []):
        where = f"{label}: Pod/{pod['metadata']['name']}"
        checks.expect(is_helm_hook(pod) and pod["metadata"]["annotations"]["helm.sh/hook"] == "test",
                      f"{where}: the only Pod the chart makes is the helm test hook")
        spec = pod["spec"]
        checks.expect(spec.get("restartPolicy") == "Never", f"{where}: a test Pod must not restart")
        checks.expect(spec.get("automountServiceAccountToken") is False, f"{where}: mounts an API token")
        for container in spec["containers"]:
            check_container_hardening(checks, f"{where} container {container['name']}", container,
                                      spec.get("securityContext") or {})
        script = " ".join(spec["containers"][0].get("command") or [])
        proxy_service = services.get(proxy["metadata"]["name"])
        checks.expect(proxy_service and f"http://{proxy['metadata']['name']}.{namespace}.svc." in script
                      and any(f":{p['port']}/" in script for p in proxy_service["spec"]["ports"]),
                      f"{where}: does not send its request to the proxies' Service")

    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        where = f"{label}: HorizontalPodAutoscaler/{hpa['metadata']['name']}"
        target = hpa["spec"]["scaleTargetRef"]
        checks.expect(target["kind"] == "Deployment" and target["name"] == proxy["metadata"]["name"],
                      f"{where}: does not scale the proxy Deployment")
        checks.expect(1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"],
                      f"{where}: minReplicas/maxReplicas out of order")
        # With an autoscaler, a replicas field in the Deployment would reset
        # the scaled count at every helm upgrade.
        checks.expect("replicas" not in proxy["spec"], f"{where}: the proxy Deployment still sets replicas")

    controller_args = controller["spec"]["template"]["spec"]["containers"][0]["args"]
    proxy_container = proxy["spec"]["template"]["spec"]["containers"][0]
    proxy_args = proxy_container["args"]

    # The proxy dials the controller's Service on its gRPC port.
    dial = arg_value(proxy_args, "--controller") or ""
    host, _, port = dial.rpartition(":")
    controller_services = [s for s in services.values()
                           if selects(s["spec"]["selector"], pod_labels[controller["metadata"]["name"]])]
    checks.expect(any(host.startswith(f"{s['metadata']['name']}.{namespace}.svc")
                      and any(str(p["port"]) == port for p in s["spec"]["ports"]) for s in controller_services),
                  f"{label}: proxy --controller={dial} is not the controller Service")

    drain = int(arg_value(proxy_args, "--drain-timeout") or 10)
    shutdown_grace = int(arg_value(proxy_args, "--shutdown-grace-period") or 0)
    grace = proxy["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
    checks.expect(grace > drain + shutdown_grace, f"{label}: proxy terminationGracePeriodSeconds ({grace}) "
                  f"must exceed --shutdown-grace-period + --drain-timeout ({shutdown_grace} + {drain})")
    # Without a grace period a rolling restart refuses the connections that
    # still arrive while Endpoints and load balancers catch up.
    checks.expect(shutdown_grace > 0, f"{label}: proxy has no --shutdown-grace-period")
    checks.expect(arg_value(proxy_args, "--node-id") == "$(POD_NAME)"
                  and any(e["name"] == "POD_NAME" for e in proxy_container.get("env", [])),
                  f"{label}: proxy --node-id should be the pod name")
    workers = arg_value(proxy_args, "--workers")
    checks.expect(workers and workers.isdigit() and int(workers) >= 1, f"{label}: proxy --workers missing")

    publish = arg_value(controller_args, "--publish-service")
    if publish:
        checks.expect(publish in {f"{namespace}/{n}" for n, s in services.items()
                                  if s["spec"].get("type") in ("LoadBalancer", "NodePort")},
                      f"{label}: --publish-service={publish} is not the proxies' external Service")
    else:
        checks.expect(arg_value(controller_args, "--publish-status-address"),
                      f"{label}: controller has neither --publish-service nor --publish-status-address")

    classes = by_kind.get("IngressClass", [])
    for ingress_class in classes:
        checks.expect(ingress_class["spec"]["controller"] == arg_value(controller_args, "--ingress-class-controller"),
                      f"{label}: IngressClass controller differs from --ingress-class-controller")

    # RBAC: what the controller does, granted to the account it runs as.
    def granted_to(account):
        granted = set()
        for role_kind, binding_kind in (("ClusterRole", "ClusterRoleBinding"), ("Role", "RoleBinding")):
            for binding in by_kind.get(binding_kind, []):
                if not any(s["kind"] == "ServiceAccount" and s["name"] == account and s["namespace"] == namespace
                           for s in binding["subjects"]):
                    continue
                role = next((r for r in by_kind.get(role_kind, [])
                             if r["metadata"]["name"] == binding["roleRef"]["name"]), None)
                checks.expect(role, f"{label}: {binding_kind} refers to a missing {role_kind}")
                for rule in (role or {}).get("rules", []):
                    for group in rule["apiGroups"]:
                        for resource in rule["resources"]:
                            for verb in rule["verbs"]:
                                for name in rule.get("resourceNames") or ["*"]:
                                    granted.add((group, resource, verb, name))
        return granted

    granted = granted_to(controller["spec"]["template"]["spec"]["serviceAccountName"])
    election = arg_value(controller_args, "--election-id")
    needed = [(g, r, v, "*") for g, r in (("networking.k8s.io", "ingresses"), ("networking.k8s.io", "ingressclasses"),
                                          ("", "services"), ("discovery.k8s.io", "endpointslices"), ("", "secrets"))
              for v in ("get", "list", "watch")]
    needed += [("networking.k8s.io", "ingresses/status", "update", "*"),
               ("", "events", "create", "*"), ("", "events", "patch", "*"),
               ("events.k8s.io", "events", "create", "*"), ("events.k8s.io", "events", "patch", "*"),
               ("coordination.k8s.io", "leases", "create", "*")]
    checks.expect(election, f"{label}: controller has no --election-id")
    needed += [("coordination.k8s.io", "leases", v, election) for v in ("get", "update")]
    for group, resource, verb, name in needed:
        checks.expect((group, resource, verb, name) in granted or (group, resource, verb, "*") in granted,
                      f"{label}: controller may not {verb} {group or 'core'}/{resource}"
                      + (f" {name}" if name != "*" else ""))
    proxy_pod = proxy["spec"]["template"]["spec"]
    checks.expect(proxy_pod.get("automountServiceAccountToken") is False,
                  f"{label}: the proxy needs no API token; do not mount one")

    check_snapshot_tls(checks, label, by_kind, controller, proxy, granted_to)

    for monitor in by_kind.get("ServiceMonitor", []):
        matched = [s for s in services.values()
                   if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
        checks.expect(len(matched) == 1, f"{label}: ServiceMonitor should select exactly one Service")
        for endpoint in monitor["spec"]["endpoints"]:
            checks.expect(matched and any(p["name"] == endpoint["port"] for p in matched[0]["spec"]["ports"]),
                          f"{label}: ServiceMonitor port {endpoint['port']} is not on the metrics Service")
    return by_kind


# ------------------------------------------------- snapshot stream TLS ---

def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True)


def secret_files(secret):
    """A Secret's data (base64) or stringData, decoded."""
    import base64
    files = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    files.update(secret.get("stringData") or {})
    return files


def subject_alt_names(pem):
    text = openssl("x509", "-noout", "-ext", "subjectAltName", stdin=pem).stdout
    return {name.strip() for line in text.splitlines()[1:] for name in line.split(",") if name.strip()}


def verifies(ca_pem, cert_pem, tmp):
    ca_path = os.path.join(tmp, "ca.crt")
    with open(ca_path, "w") as out:
        out.write(ca_pem)
    return openssl("verify", "-CAfile", ca_path, stdin=cert_pem).returncode == 0


def check_snapshot_tls(checks, label, by_kind, controller, proxy, granted_to):
    """Mutual TLS on the snapshot stream, wired and with certificates that fit."""
    ends = {}
    for deployment, prefix, flags, insecure in (
            (controller, "controller", ("--grpc-tls-cert", "--grpc-tls-key", "--grpc-client-ca"), "--grpc-insecure"),
            (proxy, "proxy", ("--controller-tls-cert", "--controller-tls-key", "--controller-ca"),
             "--controller-insecure")):
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        args = container.get("args") or []
        paths = [arg_value(args, flag) for flag in flags]
        if not any(paths):
            checks.expect(insecure in args, f"{label}: the {prefix}'s snapshot stream is neither mutual TLS "
                          f"nor explicitly plaintext ({insecure})")
            ends[prefix] = None
            continue
        checks.expect(all(paths), f"{label}: the {prefix} needs all of {', '.join(flags)}")
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        secret_names = set()
        for path in filter(None, paths):
            mount = next((m for m in container.get("volumeMounts") or []
                          if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
            volume = volumes.get(mount["name"]) if mount else None
            if checks.expect(volume and "secret" in volume and "subPath" not in mount,
                             f"{label}: the {prefix}'s {path} is not in a mounted Secret (without subPath, "
                             "so that rotated files appear)"):
                secret_names.add(volume["secret"]["secretName"])
        checks.expect(len(secret_names) == 1, f"{label}: the {prefix}'s certificate files span several Secrets")
        ends[prefix] = (args, next(iter(secret_names), None), [os.path.basename(p or "") for p in paths])
    if not checks.expect((ends["controller"] is None) == (ends["proxy"] is None),
                         f"{label}: mutual TLS on one end of the snapshot stream only"):
        return
    proxy_account = proxy["spec"]["template"]["spec"]["serviceAccountName"]
    checks.expect(not any(resource == "secrets" for _, resource, _, _ in granted_to(proxy_account)),
                  f"{label}: the proxy's service account may read Secrets")
    if ends["controller"] is None:
        return
    controller_args, controller_secret, controller_files = ends["controller"]
    proxy_args, proxy_secret, proxy_files = ends["proxy"]
    checks.expect(controller_secret != proxy_secret, f"{label}: controller and proxies share one Secret: "
                  "a proxy would hold the controller's key")
    identity = arg_value(controller_args, "--grpc-client-identity")
    checks.expect(identity, f"{label}: controller without --grpc-client-identity")
    dial_host = (arg_value(proxy_args, "--controller-server-name")
                 or (arg_value(proxy_args, "--controller") or "").rpartition(":")[0])

    certificates = {c["spec"]["secretName"]: c for c in by_kind.get("Certificate", [])}
    if certificates:
        for secret, wanted, what in ((controller_secret, dial_host, "the controller Service name the proxies dial"),
                                     (proxy_secret, identity, "the proxy identity")):
            certificate = certificates.get(secret)
            if checks.expect(certificate, f"{label}: no cert-manager Certificate writes Secret {secret}"):
                checks.expect(wanted in (certificate["spec"].get("dnsNames") or [])
                              + (certificate["spec"].get("uris") or []),
                              f"{label}: Certificate for {secret} does not name {what} ({wanted})")
        return
    secrets = {s["metadata"]["name"]: secret_files(s) for s in by_kind.get("Secret", [])}
    if not checks.expect(controller_secret in secrets and proxy_secret in secrets,
                         f"{label}: Secrets {controller_secret} and {proxy_secret} are not created"):
        return
    controller_pem, proxy_pem = secrets[controller_secret], secrets[proxy_secret]
    for files, pem, who in ((controller_files, controller_pem, controller_secret),
                            (proxy_files, proxy_pem, proxy_secret)):
        checks.expect(all(f in pem for f in files), f"{label}: Secret {who} lacks one of {files}")
    cert, ca = "tls.crt", "ca.crt"
    with tempfile.TemporaryDirectory() as tmp:
        checks.expect(verifies(proxy_pem.get(ca, ""), controller_pem.get(cert, ""), tmp),
                      f"{label}: the controller's certificate does not chain to the CA the proxies trust")
        checks.expect(verifies(controller_pem.get(ca, ""), proxy_pem.get(cert, ""), tmp),
                      f"{label}: the proxies' certificate does not chain to the CA the controller trusts")
    checks.expect(f"DNS:{dial_host}" in subject_alt_names(controller_pem.get(cert, "")),
                  f"{label}: the controller's certificate does not name {dial_host}, which the proxies dial")
    proxy_names = subject_alt_names(proxy_pem.get(cert, ""))
    checks.expect(f"DNS:{identity}" in proxy_names or f"URI:{identity}" in proxy_names,
                  f"{label}: the proxies' certificate does not carry --grpc-client-identity {identity}")


def snapshot_tls_script_secrets(checks, script, tmp):
    """Runs deploy/manifests/snapshot-tls.sh against a stand-in kubectl and
    returns the Secrets it would apply."""
    bin_dir = os.path.join(tmp, "bin")
    os.makedirs(bin_dir, exist_ok=True)
    applied = os.path.join(tmp, "applied.yaml")
    fake = os.path.join(bin_dir, "kubectl")
    with open(fake, "w") as out:
        out.write(f"""#!/usr/bin/env python3
# Stand-in kubectl: nothing exists yet; `create secret generic --dry-run`
# prints the Secret, `apply -f -` records it.
import base64, sys
args = sys.argv[1:]
if "get" in args:
    sys.exit(1 if "secret" in args else 0)
if "create" in args and "secret" in args:
    name = args[args.index("generic") + 1]
    data = {{}}
    for arg in args:
        if arg.startswith("--from-file="):
            key, path = arg[len("--from-file="):].split("=", 1)
            data[key] = base64.b64encode(open(path, "rb").read()).decode()
    lines = ["apiVersion: v1", "kind: Secret", "type: kubernetes.io/tls",
             "metadata: {{name: " + name + ", namespace: {NAMESPACE}}}", "data:"]
    lines += [f"  {{k}}: {{v}}" for k, v in data.items()]
    print("\\n".join(lines))
elif "apply" in args:
    with open({applied!r}, "a") as out:
        out.write("---\\n" + sys.stdin.read())
""")
    os.chmod(fake, 0o755)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(["bash", script], capture_output=True, text=True, env=env)
    if not checks.expect(result.returncode == 0 and os.path.exists(applied),
                         f"deploy/manifests/snapshot-tls.sh failed: {result.stderr.strip()}"):
        return []
    return [d for d in yaml.safe_load_all(open(applied)) if d]


def load_documents(checks, label, text):
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        checks.expect(False, f"{label}: invalid YAML: {error}")
        return []


# ------------------------------------------------------------- rendering ---

def render(renderer, chart_dir, values_files, notes_path=None, values_out=None):
    command = [renderer, "-chart", chart_dir, "-name", RELEASE, "-namespace", NAMESPACE, "-strict"]
    for path in values_files:
        command += ["-f", path]
    if notes_path:
        command += ["-notes", notes_path]
    if values_out:
        command += ["-values-out", values_out]
    return subprocess.run(command, capture_output=True, text=True)


def check_rendered(checks, renderer, chart_dir, variants_dir, validator, tmp):
    rendered_default = None
    variants = [None] + sorted(glob.glob(os.path.join(variants_dir, "*.yaml")))
    for variant in variants:
        label = "chart(" + (os.path.basename(variant) if variant else "defaults") + ")"
        must_fail = bool(variant) and os.path.basename(variant).startswith("bad-")
        notes = os.path.join(tmp, "NOTES.txt")
        merged = os.path.join(tmp, "values.json")
        for leftover in (notes, merged):
            if os.path.exists(leftover):
                os.remove(leftover)
        result = render(renderer, chart_dir, [variant] if variant else [], notes, merged)
        schema_errors = []
        if validator and os.path.exists(merged):
            schema_errors = [e.message for e in validator.iter_errors(json.load(open(merged)))]
        if must_fail:
            if result.returncode == 0 and not validator:
                checks.skip(f"{label}: may only be rejected by the schema, which is not checked here")
                continue
            checks.expect(result.returncode != 0 or schema_errors,
                          f"{label}: should be rejected (by a template's fail or by the schema) but was not")
            continue
        checks.expect(not schema_errors, f"{label}: values do not match values.schema.json: {schema_errors}")
        if not checks.expect(result.returncode == 0, f"{label}: does not render: {result.stderr.strip()}"):
            continue
        objects = load_documents(checks, label, result.stdout)
        by_kind = check_objects(checks, label, objects, NAMESPACE)
        notes_text = open(notes).read() if os.path.exists(notes) else ""
        values = json.load(open(merged))
        class_name = values["ingressClass"]["name"]
        checks.expect(f"ingressClassName: {class_name}" in notes_text,
                      f"{label}: NOTES.txt does not show an Ingress with ingressClassName {class_name}")
        classes = by_kind.get("IngressClass", [])
        is_default = any((c["metadata"].get("annotations") or {}).get("ingressclass.kubernetes.io/is-default-class")
                         == "true" for c in classes)
        checks.expect(is_default == bool(values["ingressClass"]["default"]),
                      f"{label}: is-default-class annotation does not follow ingressClass.default")
        monitored = sorted(m["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component", "")
                           for m in by_kind.get("ServiceMonitor", []))
        checks.expect(monitored == (["controller", "proxy"] if values["metrics"]["serviceMonitor"]["enabled"] else []),
                      f"{label}: ServiceMonitors for {monitored} do not follow metrics.serviceMonitor.enabled "
                      "(one for the proxies, one for the controllers)")
        checks.expect(bool(by_kind.get("NetworkPolicy")) == values["networkPolicy"]["enabled"],
                      f"{label}: NetworkPolicy does not follow networkPolicy.enabled")
        controller_args = [c for d in by_kind["Deployment"]
                           if d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "controller"
                           for c in d["spec"]["template"]["spec"]["containers"]][0]["args"]
        checks.expect(arg_value(controller_args, "--watch-namespace") == (values["watchNamespace"] or None),
                      f"{label}: --watch-namespace does not follow watchNamespace")
        checks.expect(("--enable-ssl-passthrough" in controller_args) == values["controller"]["enableSslPassthrough"],
                      f"{label}: --enable-ssl-passthrough does not follow controller.enableSslPassthrough")
        checks.expect(bool(by_kind.get("HorizontalPodAutoscaler")) == values["proxy"]["autoscaling"]["enabled"],
                      f"{label}: HorizontalPodAutoscaler does not follow proxy.autoscaling.enabled")
        checks.expect(bool(by_kind.get("Pod")) == values["tests"]["enabled"],
                      f"{label}: the helm test Pod does not follow tests.enabled")
        check_proxy_options(checks, label, by_kind, values["proxy"])
        if variant is None:
            rendered_default = objects
    return rendered_default


def check_proxy_options(checks, label, by_kind, proxy_values):
    """The proxy's limit, rate-limit and firewall values become its flags and mounts."""
    proxy = [d for d in by_kind["Deployment"]
             if d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "proxy"][0]
    pod = proxy["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in pod.get("volumes") or []}

    def file_flag(flag, ref, kind):
        value = arg_value(args, flag)
        if not ref or not ref["name"]:
            checks.expect(value is None, f"{label}: {flag} without a {kind} to read it from")
            return
        if not checks.expect(value, f"{label}: {flag} missing though {kind} {ref['name']} is set"):
            return
        directory, _, key = value.rpartition("/")
        volume = volumes.get(mounts.get(directory))
        source = (volume or {}).get("secret" if kind == "Secret" else "configMap") or {}
        checks.expect(key == ref["key"] and (source.get("secretName") or source.get("name")) == ref["name"],
                      f"{label}: {flag}={value} is not the mounted {kind} {ref['name']} key {ref['key']}")

    limits = proxy_values["connectionLimits"]
    for key, flag in (("maxConnections", "--max-connections"), ("maxConnectionsPerAddress",
                      "--max-connections-per-address"), ("maxConnectionRatePerAddress",
                      "--max-connection-rate-per-address")):
        expected = str(limits[key]) if limits[key] else None
        checks.expect(arg_value(args, flag) == expected, f"{label}: {flag} does not follow connectionLimits.{key}")
    checks.expect(arg_value(args, "--trusted-proxies") == (",".join(proxy_values["trustedProxies"]) or None),
                  f"{label}: --trusted-proxies does not follow proxy.trustedProxies")
    checks.expect(arg_value(args, "--proxy-protocol") == (",".join(proxy_values["proxyProtocol"]) or None),
                  f"{label}: --proxy-protocol does not follow proxy.proxyProtocol")
    redis = proxy_values["rateLimit"]["redis"]
    checks.expect(arg_value(args, "--ratelimit-redis") == (redis["address"] or None),
                  f"{label}: --ratelimit-redis does not follow proxy.rateLimit.redis.address")
    file_flag("--ratelimit-redis-password-file", redis["passwordSecret"] if redis["address"] else None, "Secret")
    file_flag("--ratelimit-redis-ca", redis["caConfigMap"] if redis["address"] else None, "ConfigMap")
    waf = proxy_values["waf"]
    checks.expect((arg_value(args, "--waf-audit-log") or "stderr") == waf["auditLog"],
                  f"{label}: --waf-audit-log does not follow proxy.waf.auditLog")
    file_flag("--waf-extra-rules", waf["extraRulesConfigMap"], "ConfigMap")
    cache = proxy_values["cache"]
    for key, flag in (("memory", "--cache-memory"), ("maxObjectSize", "--cache-max-object-size"),
                      ("diskSize", "--cache-disk-size")):
        checks.expect(arg_value(args, flag) == (cache[key] or None), f"{label}: {flag} does not follow proxy.cache.{key}")
    # The disk tier's directory is a writable volume (the root filesystem is read-only).
    cache_dir = arg_value(args, "--cache-dir")
    checks.expect((cache_dir is not None) == bool(cache["diskSize"]),
                  f"{label}: --cache-dir does not follow proxy.cache.diskSize")
    if cache_dir is not None:
        cache_mounts = {m["mountPath"]: m for m in container.get("volumeMounts") or []}
        checks.expect(cache_dir in cache_mounts and not cache_mounts[cache_dir].get("readOnly", False),
                      f"{label}: --cache-dir {cache_dir} is not a writable volume mount")


# --------------------------------------------------- manifests vs chart ---

def comparable(obj):
    """The parts of an object that the chart and the plain manifests must agree on."""
    kind = obj["kind"]
    spec = copy.deepcopy(obj.get("spec"))
    if kind == "Deployment":
        pod = spec["template"]["spec"]
        return {"replicas": spec.get("replicas"), "strategy": spec.get("strategy"),
                "containers": pod["containers"], "volumes": pod.get("volumes"),
                "securityContext": pod.get("securityContext"),
                "serviceAccountName": pod.get("serviceAccountName"),
                "automountServiceAccountToken": pod.get("automountServiceAccountToken"),
                "terminationGracePeriodSeconds": pod.get("terminationGracePeriodSeconds"),
                "topologyKeys": [c["topologyKey"] for c in pod.get("topologySpreadConstraints") or []]}
    if kind == "Service":
        return {"type": spec.get("type"), "ports": spec.get("ports")}
    if kind in ("ClusterRole", "Role"):
        return obj.get("rules")
    if kind == "PodDisruptionBudget":
        return {k: v for k, v in spec.items() if k != "selector"}
    if kind in ("IngressClass", "CustomResourceDefinition"):
        return spec
    return None


def normalise_container(container):
    container = copy.deepcopy(container)
    # The manifests pin the chart's default image repository:tag.
    container.pop("image", None)
    return container


def check_manifests(checks, manifests_dir, chart_objects):
    files = sorted(f for f in glob.glob(os.path.join(manifests_dir, "*.yaml"))
                   if os.path.basename(f) != "kustomization.yaml")
    objects = []
    for path in files:
        objects += load_documents(checks, os.path.relpath(path, manifests_dir), open(path).read())
    kustomization = yaml.safe_load(open(os.path.join(manifests_dir, "kustomization.yaml")))
    checks.expect(sorted(kustomization["resources"]) == [os.path.basename(f) for f in files],
                  "deploy/manifests/kustomization.yaml does not list exactly the manifest files")
    checks.expect(any(o["kind"] == "Namespace" and o["metadata"]["name"] == NAMESPACE for o in objects),
                  f"deploy/manifests: no Namespace {NAMESPACE}")
    # The snapshot stream's Secrets hold private keys: not files in the
    # repository but made per cluster by snapshot-tls.sh.
    with tempfile.TemporaryDirectory() as tmp:
        objects += snapshot_tls_script_secrets(checks, os.path.join(manifests_dir, "snapshot-tls.sh"), tmp)
    check_objects(checks, "deploy/manifests", objects, NAMESPACE)
    for obj in objects:
        for container in (obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])):
            checks.expect(container["image"].endswith(":0.1.0"), f"deploy/manifests: {container['name']} image "
                          "tag should be the release version")
    if chart_objects is None:
        return
    # Same objects, same substance: the two install paths must not drift.
    # Helm hooks (the test Pod) exist only for Helm.
    chart_index = {(o["kind"], o["metadata"]["name"]): o for o in chart_objects if not is_helm_hook(o)}
    plain_index = {(o["kind"], o["metadata"]["name"]): o for o in objects if o["kind"] != "Namespace"}
    checks.expect(set(chart_index) == set(plain_index),
                  "deploy/manifests and the chart's defaults create different objects: "
                  f"only in manifests {sorted(set(plain_index) - set(chart_index))}, "
                  f"only in chart {sorted(set(chart_index) - set(plain_index))}")
    for key in sorted(set(chart_index) & set(plain_index)):
        a, b = comparable(chart_index[key]), comparable(plain_index[key])
        if key[0] == "Deployment":
            a["containers"] = [normalise_container(c) for c in a["containers"]]
            b["containers"] = [normalise_container(c) for c in b["containers"]]
        checks.expect(a == b, f"{key[0]}/{key[1]} differs between deploy/manifests and the chart's defaults:\n"
                      f"  manifests: {json.dumps(b, sort_keys=True)}\n  chart:     {json.dumps(a, sort_keys=True)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="repository root")
    parser.add_argument("--renderer", help="helmrender binary; without it only static checks run")
    options = parser.parse_args()
    chart_dir = os.path.join(options.root, "charts", "sluice")
    checks = Checks()

    _, schema = check_chart_static(checks, chart_dir)
    validator = schema_validator(checks, schema)
    if validator:
        values = yaml.safe_load(open(os.path.join(chart_dir, "values.yaml")))
        errors = [e.message for e in validator.iter_errors(values)]
        checks.expect(not errors, f"values.yaml does not match values.schema.json: {errors}")

    chart_objects = None
    if options.renderer:
        with tempfile.TemporaryDirectory() as tmp:
            chart_objects = check_rendered(checks, options.renderer, chart_dir,
                                           os.path.join(options.root, "test", "charts", "values"), validator, tmp)
        # Helm installs crds/ as they are (not templates): part of the chart's objects.
        for path in sorted(glob.glob(os.path.join(chart_dir, "crds", "*.yaml"))):
            chart_objects += load_documents(checks, os.path.relpath(path, chart_dir), open(path).read())
    else:
        checks.skip("rendering the chart: no renderer (see test/charts/render_check.sh)")
    check_manifests(checks, os.path.join(options.root, "deploy", "manifests"), chart_objects)

    suffix = f", {len(checks.skipped)} skipped" if checks.skipped else ""
    print(f"{checks.passed} passed, {checks.failed} failed{suffix}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
