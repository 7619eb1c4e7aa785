#!/usr/bin/python3
"""fakekube: a fake Kubernetes API server for Sluice's controller tests.

It speaks the real wire protocol a controller meets in a cluster, for the
kinds Sluice reads and writes, so a controller that works against it works
against kube-apiserver:

  * HTTPS (CA + server certificate made with the openssl CLI, or given) or
    plain HTTP on 127.0.0.1; bearer tokens (401 Status otherwise; rotatable),
    optionally client certificates.
  * One global resourceVersion counter (the etcd revision), as strings.
  * GET, LIST (kind "XList", items without kind/apiVersion, limit/continue
    pagination served from a consistent snapshot, resourceVersion and
    resourceVersionMatch), WATCH (chunked newline-delimited JSON events,
    replay from a bounded history, 410 as an ERROR event or as HTTP status,
    BOOKMARKs, timeoutSeconds, selectors with the real ADDED/DELETED
    semantics when an object moves in or out of a selector).
  * POST, PUT (409 on a stale metadata.resourceVersion), PATCH (merge and
    strategic merge, the latter treated as merge), DELETE, the /status
    subresource of Ingresses and Services.
  * Large responses gzip-compressed when the client accepts it (the real
    server does so above 128 KiB).

Tests steer it through /_fake/... (never under /api or /apis, and not
authenticated): faults (410/403/429/500, delays, 410 as watch event), closing
watches, compaction, token rotation, recorded requests, bulk loading. See
client.py for the Python side and README.md in this folder for the list.

Usage: fakekube.py [--port 0] [--port-file F] [--tls --cert-dir DIR]
                   [--token T ...] [--token-file F] [--client-cert-auth]
                   [--kubeconfig-out FILE] [--bookmark-interval S]
                   [--history N] [--load FILE ...]
Standard library only (plus PyYAML for YAML input).
"""

import argparse
import base64
import bisect
import collections
import copy
import datetime
import gzip
import http.server
import json
import os
import re
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

try:
    import yaml  # python3-yaml; only needed for YAML input
except ImportError:  # pragma: no cover
    yaml = None


# ---------------------------------------------------------------------------
# The resource types served.


class ResourceType:
    def __init__(self, group, version, plural, kind, namespaced=True, subresources=(), has_generation=False,
                 field_labels=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.subresources = set(subresources)
        self.has_generation = has_generation
        # Field selectors the real server accepts for this type, beyond
        # metadata.name and metadata.namespace.
        self.field_labels = set(field_labels) | {"metadata.name", "metadata.namespace"}

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self):  # "ingresses.networking.k8s.io", as Status messages name it
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def key(self):
        return (self.group, self.version, self.plural)


RESOURCE_TYPES = [
    ResourceType("", "v1", "services", "Service", subresources=("status",)),
    ResourceType("", "v1", "secrets", "Secret", field_labels=("type",)),
    ResourceType("", "v1", "events", "Event",
                 field_labels=("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")),
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, field_labels=("status.phase",)),
    ResourceType("events.k8s.io", "v1", "events", "Event",
                 field_labels=("regarding.kind", "regarding.namespace", "regarding.name", "reason", "type")),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", has_generation=True),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", subresources=("status",), has_generation=True),
    ResourceType("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False,
                 has_generation=True),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    # Static sites: ConfigMaps (the controller lists them with a
    # labelSelector) and the StaticSite custom resource of the chart's CRD.
    ResourceType("", "v1", "configmaps", "ConfigMap"),
    ResourceType("sluice.io", "v1alpha1", "staticsites", "StaticSite", has_generation=True),
]
BY_PATH = {t.key(): t for t in RESOURCE_TYPES}
BY_KIND = {(t.api_version, t.kind): t for t in RESOURCE_TYPES}
BY_PLURAL = {}
for _t in RESOURCE_TYPES:
    BY_PLURAL.setdefault(_t.plural, _t)  # "events" -> core/v1 events

GZIP_THRESHOLD = 128 * 1024  # kube-apiserver compresses responses above this


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.body = status_body(code, reason, message, details)
        self.headers = headers or {}


def not_found(rtype, name):
    return ApiError(404, "NotFound", f'{rtype.qualified} "{name}" not found',
                    {"name": name, "group": rtype.group, "kind": rtype.plural})


def expired(message):
    return ApiError(410, "Expired", message)


# ---------------------------------------------------------------------------
# Selectors.

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


def _split_top_level(text):
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text):
    """A list of predicates over a labels dict; ApiError 400 when malformed."""
    predicates = []
    for req in _split_top_level(text or ""):
        m = re.fullmatch(rf"(!)?\s*({_KEY})", req)
        if m:
            key, negate = m.group(2), bool(m.group(1))
            predicates.append(lambda labels, k=key, n=negate: (k in labels) != n)
            continue
        m = re.fullmatch(rf"({_KEY})\s*(==|=|!=)\s*({_VALUE})", req)
        if m:
            key, op, value = m.group(1), m.group(3), m.group(4)
            if op == "!=":
                predicates.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                predicates.append(lambda labels, k=key, v=value: labels.get(k) == v)
            continue
        m = re.fullmatch(rf"({_KEY})\s+(in|notin)\s*\(([^)]*)\)", req)
        if m:
            key, op = m.group(1), m.group(3)
            values = {v.strip() for v in m.group(4).split(",") if v.strip()}
            if op == "in":
                predicates.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                predicates.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
            continue
        raise ApiError(400, "BadRequest", f"unable to parse requirement: {req!r}")
    return predicates


def _field_value(obj, path):
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def parse_field_selector(text, rtype):
    predicates = []
    for req in [r.strip() for r in (text or "").split(",") if r.strip()]:
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)", req)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid selector: '{req}'; can't understand '{req}'")
        field, op, value = m.group(1), m.group(2), m.group(3).strip()
        if field not in rtype.field_labels:
            raise ApiError(400, "BadRequest", f'"{field}" is not a known field selector: only "'
                           + '", "'.join(sorted(rtype.field_labels)) + '"')
        if op == "!=":
            predicates.append(lambda o, f=field, v=value: _field_value(o, f) != v)
        else:
            predicates.append(lambda o, f=field, v=value: _field_value(o, f) == v)
    return predicates


class Filter:
    """Namespace + label selector + field selector of one list or watch."""

    def __init__(self, namespace, label_selector, field_selector, rtype):
        self.namespace = namespace
        self.labels = parse_label_selector(label_selector)
        self.fields = parse_field_selector(field_selector, rtype)
        self.selective = bool(self.labels or self.fields)

    def matches(self, obj):
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace", "") != self.namespace:
            return False
        labels = meta.get("labels") or {}
        return all(p(labels) for p in self.labels) and all(p(obj) for p in self.fields)


# ---------------------------------------------------------------------------
# Patches.


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target, ops):
    """RFC 6902, the operations controllers use (add, replace, remove, test)."""
    result = copy.deepcopy(target)

    def walk(path):
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        parent = result
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        return parent, parts[-1]

    try:
        for op in ops:
            parent, last = walk(op["path"])
            kind = op["op"]
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, op["value"])
                elif kind == "replace":
                    parent[index] = op["value"]
                elif kind == "remove":
                    del parent[index]
                elif kind == "test" and parent[index] != op["value"]:
                    raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
            else:
                if kind in ("add", "replace"):
                    if kind == "replace" and last not in parent:
                        raise ApiError(422, "Invalid", f"replace operation does not apply: {op['path']} missing")
                    parent[last] = op["value"]
                elif kind == "remove":
                    del parent[last]
                elif kind == "test" and parent.get(last) != op["value"]:
                    raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
    except (KeyError, IndexError, ValueError, TypeError) as error:
        raise ApiError(422, "Invalid", f"the JSON patch could not be applied: {error}")
    return result


# ---------------------------------------------------------------------------
# The object store with its revision history.


class Event:
    __slots__ = ("rv", "rtype", "type", "obj", "prev")

    def __init__(self, rv, rtype, type_, obj, prev):
        self.rv, self.rtype, self.type, self.obj, self.prev = rv, rtype, type_, obj, prev


class Fault:
    """One injected behaviour: answer matching requests with `code` (0: no
    error, only the delay), `count` times (-1: until cleared)."""

    def __init__(self, spec):
        self.verb = spec.get("verb", "*")          # get list watch create update patch delete *
        self.resource = spec.get("resource", "*")  # plural, e.g. "ingresses", or "*"
        self.subresource = spec.get("subresource", "*")  # "status", "" (main resource) or "*"
        self.code = int(spec.get("code", 0))
        self.count = int(spec.get("count", 1))
        self.delay_ms = int(spec.get("delay_ms", 0))
        self.retry_after = int(spec.get("retry_after", 1))
        self.mode = spec.get("mode", "http")       # watch 410: "http" status or "event" (ERROR event)
        self.message = spec.get("message", "")
        # Only requests with this query parameter, e.g. "continue" (a later
        # page of a list) or "resourceVersion".
        self.query_has = spec.get("query_has", "")

    def matches(self, verb, rtype, subresource, query):
        return (self.verb in ("*", verb) and self.resource in ("*", rtype.plural)
                and (self.subresource == "*" or self.subresource == (subresource or ""))
                and (not self.query_has or bool(query.get(self.query_has))))

    def describe(self):
        return {"verb": self.verb, "resource": self.resource, "subresource": self.subresource, "code": self.code,
                "count": self.count, "delay_ms": self.delay_ms, "retry_after": self.retry_after, "mode": self.mode,
                "query_has": self.query_has}


class State:
    def __init__(self, history_limit, bookmark_interval, tokens):
        self.cond = threading.Condition()
        self.rv = 1
        self.compacted_rv = 1   # resourceVersions below this are gone (410)
        # The newest event no longer in the history: a watcher that has not
        # seen it cannot continue (410), one that has is unaffected.
        self.dropped_rv = 0
        self.objects = {t.key(): {} for t in RESOURCE_TYPES}  # -> {(ns, name): obj}
        self.history = collections.deque()
        self.history_limit = history_limit
        self.bookmark_interval = bookmark_interval
        self.tokens = set(tokens)
        self.token_file = None
        self.faults = []
        self.watch_epoch = 0      # bumped to end every open watch
        self.watch_abrupt = False
        self.open_watches = 0
        self.requests = []
        self.request_limit = 100000
        # (type, rv, namespace, selectors) -> (objects, etcd keys, sorted?):
        # the pages of one paginated list share one snapshot.
        self.list_cache = {}

    # -- revisions --

    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _record(self, rtype, type_, obj, prev):
        self.history.append(Event(self.rv, rtype, type_, obj, prev))
        while len(self.history) > self.history_limit:
            dropped = self.history.popleft()
            self.compacted_rv = max(self.compacted_rv, dropped.rv)
            self.dropped_rv = max(self.dropped_rv, dropped.rv)
        self.cond.notify_all()

    def compact(self):
        """Like an etcd compaction after other writes: every resourceVersion
        and continue token handed out so far is now too old."""
        with self.cond:
            self._next_rv()
            self.compacted_rv = self.rv
            if self.history:
                self.dropped_rv = max(self.dropped_rv, self.history[-1].rv)
            self.history.clear()
            self.cond.notify_all()
            return self.rv

    # -- faults --

    def take_fault(self, verb, rtype, subresource, query):
        """The first matching fault, its count consumed; None if none."""
        with self.cond:
            for fault in self.faults:
                if fault.matches(verb, rtype, subresource, query):
                    if fault.count > 0:
                        fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # -- reads --

    def list_at(self, rtype, rv, flt):
        """Matching objects as they were at revision rv (within history),
        sorted by the etcd key order: namespace, then name."""
        with self.cond:
            if rv < self.compacted_rv:
                raise expired(f"too old resource version: {rv} ({self.compacted_rv})")
            current = dict(self.objects[rtype.key()])
            for event in reversed(self.history):
                if event.rv <= rv:
                    break
                if event.rtype is not rtype:
                    continue
                key = (event.obj["metadata"].get("namespace", ""), event.obj["metadata"]["name"])
                if event.prev is None:
                    current.pop(key, None)
                else:
                    current[key] = event.prev
        return [current[k] for k in sorted(current) if flt.matches(current[k])]

    def get(self, rtype, ns, name):
        with self.cond:
            obj = self.objects[rtype.key()].get((ns, name))
            if obj is None:
                raise not_found(rtype, name)
            return obj

    # -- writes (callers hold no lock) --

    def create(self, rtype, ns, obj, keep_timestamps=False):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if rtype.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and ns and body_ns != ns:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the "
                               "namespace sent on the request")
            meta["namespace"] = ns or body_ns or "default"
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name or not isinstance(name, str):
            raise ApiError(422, "Invalid", f"{rtype.kind} \"\" is invalid: metadata.name: Required value: name or "
                           "generateName is required", {"kind": rtype.kind})
        obj["kind"], obj["apiVersion"] = rtype.kind, rtype.api_version
        with self.cond:
            table = self.objects[rtype.key()]
            key = (meta.get("namespace", ""), name)
            if key in table:
                raise ApiError(409, "AlreadyExists", f'{rtype.qualified} "{name}" already exists',
                               {"name": name, "group": rtype.group, "kind": rtype.plural})
            meta["uid"] = str(uuid.uuid4())
            if not (keep_timestamps and meta.get("creationTimestamp")):
                meta["creationTimestamp"] = now_rfc3339()
            if rtype.has_generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            meta.pop("deletionTimestamp", None)
            meta["resourceVersion"] = str(self._next_rv())
            table[key] = obj
            self._record(rtype, "ADDED", obj, None)
            return obj

    def update(self, rtype, ns, name, obj, subresource="", check_rv=True):
        """PUT semantics: the main resource keeps the old status, /status
        keeps everything but status."""
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        meta = obj.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        with self.cond:
            table = self.objects[rtype.key()]
            key = (ns if rtype.namespaced else "", name)
            old = table.get(key)
            if old is None:
                raise not_found(rtype, name)
            sent_rv = meta.get("resourceVersion")
            if check_rv and sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {rtype.qualified} "{name}": the object has been '
                               "modified; please apply your changes to the latest version and try again",
                               {"name": name, "group": rtype.group, "kind": rtype.plural})
            if subresource == "status":
                new = copy.deepcopy(old)
                if "status" in obj:
                    new["status"] = copy.deepcopy(obj["status"])
                else:
                    new.pop("status", None)
            else:
                new = copy.deepcopy(obj)
                new_meta = new.setdefault("metadata", {})
                for field in ("uid", "creationTimestamp", "namespace", "generation"):
                    if field in old["metadata"]:
                        new_meta[field] = old["metadata"][field]
                    else:
                        new_meta.pop(field, None)
                new_meta["name"] = name
                if rtype.subresources and "status" in rtype.subresources:
                    if "status" in old:
                        new["status"] = copy.deepcopy(old["status"])
                    else:
                        new.pop("status", None)
                if rtype.has_generation and self._spec_of(new) != self._spec_of(old):
                    new_meta["generation"] = old["metadata"].get("generation", 1) + 1
            new["kind"], new["apiVersion"] = rtype.kind, rtype.api_version
            if self._same(old, new):
                return old  # a no-op update writes nothing, as in the real server
            new["metadata"]["resourceVersion"] = str(self._next_rv())
            table[key] = new
            self._record(rtype, "MODIFIED", new, old)
            return new

    @staticmethod
    def _spec_of(obj):
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}

    @staticmethod
    def _same(old, new):
        a = {k: v for k, v in old.items() if k != "metadata"}
        b = {k: v for k, v in new.items() if k != "metadata"}
        ma = {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}
        mb = {k: v for k, v in new["metadata"].items() if k != "resourceVersion"}
        return a == b and ma == mb

    def patch(self, rtype, ns, name, patch_type, patch, subresource=""):
        with self.cond:
            old = self.get(rtype, ns if rtype.namespaced else "", name)
            if patch_type == "json":
                merged = json_patch(old, patch)
            else:
                if not isinstance(patch, dict):
                    raise ApiError(400, "BadRequest", "a merge patch must be a JSON object")
                merged = merge_patch(old, patch)
            # A resourceVersion in the patch is a precondition; none means
            # "whatever is there now".
            check = isinstance(patch, dict) and "resourceVersion" in (patch.get("metadata") or {})
            if not check:
                merged.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self.update(rtype, ns, name, merged, subresource, check_rv=True)

    def delete(self, rtype, ns, name, precondition_rv=None):
        with self.cond:
            table = self.objects[rtype.key()]
            key = (ns if rtype.namespaced else "", name)
            old = table.get(key)
            if old is None:
                raise not_found(rtype, name)
            if precondition_rv and precondition_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {rtype.qualified} "{name}": Precondition failed: '
                               f"ResourceVersion in precondition: {precondition_rv}, ResourceVersion in object meta: "
                               f"{old['metadata']['resourceVersion']}",
                               {"name": name, "group": rtype.group, "kind": rtype.plural})
            del table[key]
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self._next_rv())
            self._record(rtype, "DELETED", gone, old)
            return gone

    def apply(self, obj, keep_timestamps=True):
        """Create or replace (for the control API and bulk loading)."""
        rtype = BY_KIND.get((obj.get("apiVersion"), obj.get("kind")))
        if rtype is None:
            raise ApiError(400, "BadRequest", f"unknown kind {obj.get('apiVersion')}/{obj.get('kind')}")
        meta = obj.get("metadata") or {}
        ns = (meta.get("namespace") or "default") if rtype.namespaced else ""
        with self.cond:
            if (ns, meta.get("name")) in self.objects[rtype.key()]:
                body = copy.deepcopy(obj)
                body["metadata"].pop("resourceVersion", None)
                updated = self.update(rtype, ns, meta["name"], body, check_rv=False)
                if "status" in obj and "status" in rtype.subresources:
                    updated = self.update(rtype, ns, meta["name"], body, subresource="status", check_rv=False)
                return updated
            return self.create(rtype, ns, obj, keep_timestamps=keep_timestamps)

    def record_request(self, entry):
        with self.cond:
            if len(self.requests) < self.request_limit:
                self.requests.append(entry)


def load_documents(text):
    """Objects from YAML (multi-document) or JSON, unwrapping "List"s."""
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        docs = json.loads(text)
        docs = docs if isinstance(docs, list) else [docs]
    else:
        if yaml is None:
            raise ApiError(400, "BadRequest", "YAML input needs python3-yaml")
        docs = list(yaml.safe_load_all(text))
    out = []
    for doc in docs:
        if not doc:
            continue
        if isinstance(doc, dict) and doc.get("kind", "").endswith("List") and "items" in doc:
            out.extend(doc["items"])
        else:
            out.append(doc)
    return out


# ---------------------------------------------------------------------------
# HTTP.


class Request:
    """A parsed /api or /apis path."""

    def __init__(self, rtype, namespace, name, subresource, watch_path):
        self.rtype, self.namespace, self.name = rtype, namespace, name
        self.subresource, self.watch_path = subresource, watch_path


def parse_api_path(path):
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch_path = False
    if rest and rest[0] == "watch":  # the deprecated /watch/ form
        watch_path, rest = True, rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    rtype = BY_PATH.get((group, version, rest[0]))
    if rtype is None:
        return None
    if namespace is not None and not rtype.namespaced:
        return None
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3 or (subresource and subresource not in rtype.subresources):
        return None
    return Request(rtype, namespace, name, subresource, watch_path)


def truthy(value):
    return value in ("1", "true", "True")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakekube"
    sys_version = ""

    # -- plumbing --

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.request.close()
                raise
            self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fakekube: " + (fmt % args) + "\n")

    @property
    def state(self):
        return self.server.state

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, code, body, headers=None):
        data = json.dumps(body, separators=(",", ":")).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        if len(data) > GZIP_THRESHOLD and "gzip" in self.headers.get("Accept-Encoding", ""):
            data = gzip.compress(data, compresslevel=1)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._status = code
        self._record_response(code)

    def send_error_status(self, error):
        self.send_json(error.code, error.body, error.headers)

    # -- dispatch --

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        self._status = 0
        self._entry = None  # the handler lives as long as the connection
        if url.path.startswith("/_fake/"):
            try:
                self.control(url.path, query)
            except ApiError as error:
                self.send_error_status(error)
            except (ValueError, KeyError, TypeError) as error:
                self.send_error_status(ApiError(400, "BadRequest", f"control request: {error}"))
            return
        started = time.time()
        user = None
        is_watch = False
        # Recorded when the response starts (a watch is visible while it
        # runs), or at the end if no response was sent.
        self._entry = {"time": started, "method": self.command, "path": url.path, "query": query, "status": 0,
                       "watch": truthy(query.get("watch")) or "/watch/" in url.path, "user": None,
                       "user_agent": self.headers.get("User-Agent", "")}
        try:
            if url.path in ("/version", "/healthz", "/readyz", "/livez"):
                self.meta_endpoint(url.path)  # public, as system:public-info-viewer
                return
            user = self.authenticate()
            self._entry["user"] = user
            if url.path in ("/api", "/apis"):
                self.meta_endpoint(url.path)
                return
            request = parse_api_path(url.path)
            if request is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            is_watch = request.watch_path or truthy(query.get("watch"))
            verb = self.verb_of(request, is_watch)
            self.inject(verb, request, query)
            self.serve(verb, request, query)
        except ApiError as error:
            if not self._status:
                self.send_error_status(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self._status = self._status or 499
        finally:
            self._entry["duration_ms"] = round((time.time() - started) * 1000, 1)
            if self._entry["status"] == 0:
                self._entry["status"] = self._status or 499
                self.state.record_request(self._entry)

    def _record_response(self, code):
        entry = getattr(self, "_entry", None)
        if entry is not None and entry["status"] == 0:
            entry["status"] = code
            self.state.record_request(entry)

    def authenticate(self):
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer "):].strip()
            with self.state.cond:
                if token in self.state.tokens:
                    return "token:" + token
        elif not header and isinstance(self.connection, ssl.SSLSocket) and self.server.client_cert_auth:
            cert = self.connection.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for key, value in rdn:
                        if key == "commonName":
                            return "cert:" + value
        raise ApiError(401, "Unauthorized", "Unauthorized")

    def meta_endpoint(self, path):
        if path == "/version":
            self.send_json(200, {"major": "1", "minor": "29", "gitVersion": "v1.29.0-fakekube",
                                 "platform": "linux/amd64"})
        elif path == "/api":
            self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        elif path == "/apis":
            groups = sorted({t.group for t in RESOURCE_TYPES if t.group})
            self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}} for g in groups]})
        else:
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self._status = 200

    def verb_of(self, request, is_watch):
        method = self.command
        if method == "GET":
            if is_watch:
                return "watch"
            return "get" if request.name else "list"
        if method == "POST" and not request.name:
            return "create"
        if method == "PUT" and request.name:
            return "update"
        if method == "PATCH" and request.name:
            return "patch"
        if method == "DELETE" and request.name:
            return "delete"
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")

    def inject(self, verb, request, query):
        fault = self.state.take_fault(verb, request.rtype, request.subresource, query)
        if fault is None:
            return
        if fault.delay_ms:
            time.sleep(fault.delay_ms / 1000.0)
        code = fault.code
        if code == 0:
            return
        rtype = request.rtype
        scope = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
        if code == 410:
            if verb == "watch" and fault.mode == "event":
                self.start_stream()
                self.write_event({"type": "ERROR", "object": status_body(
                    410, "Expired", fault.message or f"too old resource version: {query.get('resourceVersion', '')} "
                    f"({self.state.rv})")})
                self.end_stream()
                raise ApiError(410, "Expired", "sent as a watch event")
            if "continue" in query:
                raise expired(fault.message or "The provided continue parameter is too old to display a consistent "
                              "list result. You can start a new list without the continue parameter, or use the "
                              "continue token in this response to retrieve the remainder of the results. Continuing "
                              "with the provided token results in an inconsistent list - objects that were created, "
                              "modified, or deleted between the time the first chunk was returned and now may show up "
                              "in the list.")
            raise expired(fault.message or f"too old resource version: {query.get('resourceVersion', '')} "
                          f"({self.state.rv})")
        if code == 403:
            raise ApiError(403, "Forbidden", fault.message or
                           f'{rtype.qualified} is forbidden: User "system:serviceaccount:sluice:sluice" cannot '
                           f'{verb} resource "{rtype.plural}" in API group "{rtype.group}" {scope}',
                           {"group": rtype.group, "kind": rtype.plural})
        if code == 429:
            raise ApiError(429, "TooManyRequests", fault.message or "Too many requests, please try again later.",
                           {"retryAfterSeconds": fault.retry_after},
                           headers={"Retry-After": str(fault.retry_after)})
        if code == 500:
            raise ApiError(500, "InternalError", fault.message or "Internal error occurred: injected by fakekube",
                           {"causes": [{"message": "injected by fakekube"}]})
        if code == 503:
            raise ApiError(503, "ServiceUnavailable", fault.message or "the server is currently unable to handle "
                           "the request", headers={"Retry-After": str(fault.retry_after)})
        if code == 504:
            raise ApiError(504, "Timeout", fault.message or "Timeout: request did not complete within requested "
                           "timeout")
        raise ApiError(code, "Unknown", fault.message or f"injected status {code}")

    # -- the verbs --

    def serve(self, verb, request, query):
        rtype, state = request.rtype, self.state
        ns = request.namespace if rtype.namespaced else ""
        if verb == "get":
            if rtype.namespaced and request.namespace is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            self.send_json(200, state.get(rtype, ns, request.name))
        elif verb == "list":
            self.serve_list(request, query)
        elif verb == "watch":
            self.serve_watch(request, query)
        elif verb in ("create", "update", "patch", "delete"):
            if rtype.namespaced and request.namespace is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource")
            raw = self.read_body()
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as error:
                    raise ApiError(400, "BadRequest", f"the body of the request was in an unknown format: {error}")
            if query.get("dryRun"):
                raise ApiError(400, "BadRequest", "fakekube does not implement dryRun")
            if verb == "create":
                if request.subresource:
                    raise ApiError(405, "MethodNotAllowed", "create on a subresource")
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "the body must be a JSON object")
                self.check_kind(rtype, body)
                self.send_json(201, state.create(rtype, ns, body))
            elif verb == "update":
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "the body must be a JSON object")
                self.check_kind(rtype, body)
                body_ns = (body.get("metadata") or {}).get("namespace")
                if rtype.namespaced and body_ns and body_ns != ns:
                    raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the "
                                   "namespace sent on the request")
                self.send_json(200, state.update(rtype, ns, request.name, body, request.subresource))
            elif verb == "patch":
                content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                kinds = {"application/merge-patch+json": "merge", "application/strategic-merge-patch+json": "merge",
                         "application/json-patch+json": "json"}
                if content_type not in kinds:
                    raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format '
                                   f'- accepted media types include: application/json-patch+json, '
                                   f'application/merge-patch+json, application/strategic-merge-patch+json')
                self.send_json(200, state.patch(rtype, ns, request.name, kinds[content_type], body,
                                                request.subresource))
            else:
                precondition = ((body or {}).get("preconditions") or {}).get("resourceVersion")
                self.send_json(200, state.delete(rtype, ns, request.name, precondition))

    @staticmethod
    def check_kind(rtype, body):
        kind, api_version = body.get("kind"), body.get("apiVersion")
        if (kind and kind != rtype.kind) or (api_version and api_version != rtype.api_version):
            raise ApiError(400, "BadRequest", f"the API version in the data ({api_version}) does not match the "
                           f"expected API version ({rtype.api_version})")

    def serve_list(self, request, query):
        rtype, state = request.rtype, self.state
        flt = Filter(request.namespace, query.get("labelSelector"), query.get("fieldSelector"), rtype)
        limit = int(query.get("limit") or 0)
        token = query.get("continue")
        rv_param = query.get("resourceVersion")
        match = query.get("resourceVersionMatch")
        start_after = None
        if token:
            if rv_param:
                raise ApiError(400, "BadRequest", "specifying resource version is not allowed when using continue")
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
                snapshot_rv = int(decoded["rv"])
                start_after = decoded["start"]
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "BadRequest", "continue key is not valid: invalid continue token")
            if snapshot_rv < state.compacted_rv:
                raise expired("The provided continue parameter is too old to display a consistent list result. You "
                              "can start a new list without the continue parameter, or use the continue token in "
                              "this response to retrieve the remainder of the results. Continuing with the provided "
                              "token results in an inconsistent list - objects that were created, modified, or "
                              "deleted between the time the first chunk was returned and now may show up in the list.")
        else:
            if match and not rv_param:
                raise ApiError(400, "BadRequest", "resourceVersionMatch is forbidden unless resourceVersion is "
                               "provided")
            if match not in (None, "", "Exact", "NotOlderThan"):
                raise ApiError(400, "BadRequest", f'resourceVersionMatch: Unsupported value: "{match}"')
            try:
                wanted = int(rv_param) if rv_param else None
            except ValueError:
                raise ApiError(400, "BadRequest", f'invalid resource version "{rv_param}"')
            with state.cond:
                current = state.rv
            if wanted is not None and wanted > current:
                # The real server waits up to 3 s for a watch cache this
                # fresh, then answers 504 "Too large resource version".
                raise ApiError(504, "Timeout", f"Too large resource version: {wanted}, current: {current}",
                               {"causes": [{"reason": "ResourceVersionTooLarge",
                                            "message": "Too large resource version"}], "retryAfterSeconds": 1})
            if match == "Exact":
                snapshot_rv = wanted
            else:
                # "" (most recent), "0" (any) and NotOlderThan all get the
                # current state here.
                snapshot_rv = current
        # A paginated list asks for the same snapshot once per page: build
        # it (and its etcd keys) once, not once per page, so listing 10,000
        # objects in pages of 500 costs what it costs a real API server.
        cache_key = (rtype.key(), snapshot_rv, request.namespace, query.get("labelSelector"),
                     query.get("fieldSelector"))
        with state.cond:
            # Compacted away: list_at below answers 410 as before.
            cached = state.list_cache.get(cache_key) if snapshot_rv >= state.compacted_rv else None
        if cached is None:
            listed = state.list_at(rtype, snapshot_rv, flt)
            keys = [self.etcd_key(o) for o in listed]
            cached = (listed, keys, all(a < b for a, b in zip(keys, keys[1:])))
            with state.cond:
                if len(state.list_cache) >= 16:
                    state.list_cache.clear()
                state.list_cache[cache_key] = cached
        items, keys, keys_sorted = cached
        if start_after is not None:
            if keys_sorted:
                items = items[bisect.bisect_right(keys, start_after):]
            else:
                items = [o for o, key in zip(items, keys) if key > start_after]
        meta = {"resourceVersion": str(snapshot_rv)}
        # limit is ignored with resourceVersion="0" (served from the watch
        # cache), as by the real server.
        if limit > 0 and rv_param != "0" and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": snapshot_rv, "start": self.etcd_key(items[-1])},
                separators=(",", ":")).encode()).decode().rstrip("=")
            if not flt.selective:
                meta["remainingItemCount"] = remaining
        out_items = []
        for obj in items:
            item = dict(obj)
            item.pop("kind", None)
            item.pop("apiVersion", None)
            out_items.append(item)
        self.send_json(200, {"kind": rtype.kind + "List", "apiVersion": rtype.api_version, "metadata": meta,
                             "items": out_items})

    @staticmethod
    def etcd_key(obj):
        meta = obj["metadata"]
        return meta.get("namespace", "") + "/" + meta["name"]

    # -- watch --

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self._status = 200
        self._record_response(200)

    def write_event(self, event):
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def serve_watch(self, request, query):
        rtype, state = request.rtype, self.state
        flt = Filter(request.namespace, query.get("labelSelector"), query.get("fieldSelector"), rtype)
        if request.name:
            name = request.name
            inner = flt.matches
            flt.matches = lambda o: inner(o) and o["metadata"]["name"] == name
        rv_param = query.get("resourceVersion", "")
        bookmarks = truthy(query.get("allowWatchBookmarks"))
        timeout = float(query.get("timeoutSeconds") or self.server.default_watch_timeout)
        deadline = time.monotonic() + timeout
        try:
            from_rv = int(rv_param) if rv_param else None
        except ValueError:
            raise ApiError(400, "BadRequest", f'invalid resource version "{rv_param}"')
        initial = []
        with state.cond:
            epoch = state.watch_epoch
            if from_rv is None or from_rv == 0:
                # Unset / "0": synthetic ADDED events for the current state.
                last = state.rv
                initial = [copy.deepcopy(o) for o in state.list_at(rtype, last, flt)]
                too_old = False
            else:
                last = from_rv
                too_old = from_rv < state.compacted_rv
            state.open_watches += 1
        try:
            self.start_stream()
            if too_old:
                self.write_event({"type": "ERROR", "object": status_body(
                    410, "Expired", f"too old resource version: {from_rv} ({state.compacted_rv})")})
                self.end_stream()
                return
            for obj in initial:
                self.write_event({"type": "ADDED", "object": obj})
            next_bookmark = time.monotonic() + state.bookmark_interval
            while True:
                events, bookmark_rv, ended, gone = [], None, None, False
                with state.cond:
                    while True:
                        now = time.monotonic()
                        if state.watch_epoch != epoch:
                            ended = "abrupt" if state.watch_abrupt else "clean"
                            break
                        if now >= deadline:
                            ended = "timeout"
                            break
                        if state.history and state.history[-1].rv > last:
                            break
                        if bookmarks and now >= next_bookmark:
                            break
                        wait = deadline - now
                        if bookmarks:
                            wait = min(wait, next_bookmark - now)
                        state.cond.wait(max(0.001, wait))
                    if ended is None or ended == "timeout":
                        if last < state.dropped_rv:
                            gone = True  # the watcher fell out of the history window
                        else:
                            for event in reversed(state.history):
                                if event.rv <= last:
                                    break
                                if event.rtype is rtype:
                                    events.append(event)
                            events.reverse()
                            last = max(last, state.rv)
                        if bookmarks and (time.monotonic() >= next_bookmark or ended == "timeout"):
                            bookmark_rv = state.rv
                if gone:
                    self.write_event({"type": "ERROR", "object": status_body(
                        410, "Expired", f"too old resource version: {last} ({state.compacted_rv})")})
                    self.end_stream()
                    return
                for event in events:
                    out = self.filter_event(event, flt)
                    if out:
                        self.write_event(out)
                if bookmark_rv is not None:
                    self.write_event({"type": "BOOKMARK", "object": {
                        "kind": rtype.kind, "apiVersion": rtype.api_version,
                        "metadata": {"resourceVersion": str(bookmark_rv), "creationTimestamp": None}}})
                    next_bookmark = time.monotonic() + state.bookmark_interval
                if ended == "abrupt":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if ended is not None:
                    self.end_stream()
                    return
        finally:
            with state.cond:
                state.open_watches -= 1

    @staticmethod
    def filter_event(event, flt):
        now, before = flt.matches(event.obj), flt.matches(event.prev)
        if event.type == "ADDED":
            return {"type": "ADDED", "object": event.obj} if now else None
        if event.type == "DELETED":
            return {"type": "DELETED", "object": event.obj} if before else None
        if now and before:
            return {"type": "MODIFIED", "object": event.obj}
        if now:
            return {"type": "ADDED", "object": event.obj}
        if before:
            return {"type": "DELETED", "object": event.obj}
        return None

    # -- the control API --

    def control(self, path, query):
        state = self.state
        raw = self.read_body() if self.command in ("POST", "PUT", "DELETE") else b""
        body = {}
        if raw and path != "/_fake/load":
            body = json.loads(raw)
        action = path[len("/_fake/"):]
        if action == "state":
            with state.cond:
                self.send_json(200, {"resourceVersion": str(state.rv), "compacted": str(state.compacted_rv),
                                     "openWatches": state.open_watches, "history": len(state.history),
                                     "faults": [f.describe() for f in state.faults],
                                     "objects": {t.plural if not t.group else t.qualified:
                                                 len(state.objects[t.key()]) for t in RESOURCE_TYPES}})
        elif action == "requests":
            if self.command == "DELETE":
                with state.cond:
                    state.requests = []
                self.send_json(200, {"cleared": True})
            else:
                since = float(query.get("since") or 0)
                with state.cond:
                    items = [r for r in state.requests if r["time"] >= since]
                self.send_json(200, {"requests": items})
        elif action == "faults":
            with state.cond:
                if self.command == "DELETE":
                    state.faults = []
                elif self.command == "POST":
                    specs = body if isinstance(body, list) else [body]
                    state.faults.extend(Fault(spec) for spec in specs)
                self.send_json(200, {"faults": [f.describe() for f in state.faults]})
        elif action == "close_watches":
            with state.cond:
                state.watch_epoch += 1
                state.watch_abrupt = bool(body.get("abrupt"))
                state.cond.notify_all()
            self.send_json(200, {"closed": True})
        elif action == "compact":
            self.send_json(200, {"compacted": str(state.compact())})
        elif action == "tokens":
            tokens = body.get("tokens") or [body["token"]]
            with state.cond:
                state.tokens = set(tokens)
            if state.token_file and body.get("write_file", True):
                write_atomically(state.token_file, tokens[0] + "\n")
            self.send_json(200, {"tokens": len(tokens)})
        elif action == "bookmark_interval":
            with state.cond:
                state.bookmark_interval = float(body["seconds"])
                state.cond.notify_all()
            self.send_json(200, {"seconds": state.bookmark_interval})
        elif action == "load":
            objects = load_documents(raw.decode())
            for obj in objects:
                state.apply(obj)
            self.send_json(200, {"loaded": len(objects), "resourceVersion": str(state.rv)})
        elif action == "apply":
            self.send_json(200, state.apply(body))
        elif action == "delete":
            rtype = BY_KIND.get((body.get("apiVersion"), body.get("kind")))
            if rtype is None:
                raise ApiError(400, "BadRequest", "unknown kind")
            ns = body.get("namespace", "default") if rtype.namespaced else ""
            self.send_json(200, state.delete(rtype, ns, body["name"]))
        elif action == "objects":
            rtype = BY_PLURAL.get(query.get("resource", ""))
            if rtype is None:
                raise ApiError(400, "BadRequest", "resource= one of " + ", ".join(sorted(BY_PLURAL)))
            with state.cond:
                items = [state.objects[rtype.key()][k] for k in sorted(state.objects[rtype.key()])]
            self.send_json(200, {"items": items})
        else:
            raise ApiError(404, "NotFound", f"no control action {action!r}")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # Clients that hang up (a watch being cancelled, a failed TLS
        # handshake) are normal here, not worth a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


def write_atomically(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# Certificates.


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ensure_certificates(cert_dir):
    """ca.crt/ca.key, server.crt/key (127.0.0.1, localhost) and client.crt/key
    signed by the CA; existing files are kept."""
    os.makedirs(cert_dir, exist_ok=True)
    p = lambda name: os.path.join(cert_dir, name)  # noqa: E731
    if not os.path.exists(p("ca.crt")):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=fakekube-ca",
                 "-keyout", p("ca.key"), "-out", p("ca.crt"))
    for name, cn, ext in (("server", "kube-apiserver",
                           "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
                          ("client", "sluice-controller", "extendedKeyUsage=clientAuth")):
        if os.path.exists(p(f"{name}.crt")):
            continue
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", p(f"{name}.key"),
                 "-out", p(f"{name}.csr"))
        with open(p(f"{name}.ext"), "w") as f:
            f.write(ext + "\n")
        _openssl("x509", "-req", "-in", p(f"{name}.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
                 "-CAcreateserial", "-days", "2", "-extfile", p(f"{name}.ext"), "-out", p(f"{name}.crt"))
    return {k: p(v) for k, v in (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"),
                                 ("client_cert", "client.crt"), ("client_key", "client.key"))}


def kubeconfig_text(server_url, ca_file=None, token=None, token_file=None, client_cert=None, client_key=None):
    b64 = lambda path: base64.b64encode(open(path, "rb").read()).decode()  # noqa: E731
    cluster = {"server": server_url}
    if ca_file:
        cluster["certificate-authority-data"] = b64(ca_file)
    user = {}
    if token_file:
        user["tokenFile"] = token_file
    elif token:
        user["token"] = token
    if client_cert:
        user["client-certificate-data"] = b64(client_cert)
        user["client-key-data"] = b64(client_key)
    config = {"apiVersion": "v1", "kind": "Config", "preferences": {},
              "clusters": [{"name": "fakekube", "cluster": cluster}],
              "users": [{"name": "fakekube", "user": user}],
              "contexts": [{"name": "fakekube", "context": {"cluster": "fakekube", "user": "fakekube",
                                                             "namespace": "default"}}],
              "current-context": "fakekube"}
    if yaml is not None:
        return yaml.safe_dump(config, sort_keys=False)
    return json.dumps(config, indent=2) + "\n"


# ---------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description="A fake Kubernetes API server for tests.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (else plain HTTP)")
    parser.add_argument("--cert-dir", help="CA and certificates (made with openssl when missing)")
    parser.add_argument("--token", action="append", default=[], help="accepted bearer token (repeatable)")
    parser.add_argument("--token-file", help="write the first token here; the kubeconfig then uses tokenFile, "
                        "and /_fake/tokens rewrites it on rotation")
    parser.add_argument("--client-cert-auth", action="store_true", help="accept client certificates of the CA")
    parser.add_argument("--kubeconfig-out", help="write a kubeconfig pointing at this server")
    parser.add_argument("--kubeconfig-client-cert", action="store_true",
                        help="the kubeconfig authenticates with the client certificate instead of the token")
    parser.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds between watch BOOKMARKs")
    parser.add_argument("--watch-timeout", type=float, default=1800.0,
                        help="watch length when the client gives no timeoutSeconds")
    parser.add_argument("--history", type=int, default=5000, help="events kept for watch resumption")
    parser.add_argument("--load", action="append", default=[], help="YAML/JSON objects to load at start")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    tokens = args.token or ["fakekube-token"]
    state = State(args.history, args.bookmark_interval, tokens)
    for path in args.load:
        with open(path) as f:
            for obj in load_documents(f.read()):
                state.apply(obj)
    if args.token_file:
        state.token_file = os.path.abspath(args.token_file)
        write_atomically(state.token_file, tokens[0] + "\n")

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = state
    server.verbose = args.verbose
    server.client_cert_auth = args.client_cert_auth
    server.default_watch_timeout = args.watch_timeout
    certs = None
    if args.tls:
        certs = ensure_certificates(args.cert_dir or os.path.join(os.getcwd(), "fakekube-certs"))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certs["cert"], certs["key"])
        context.set_alpn_protocols(["http/1.1"])
        if args.client_cert_auth:
            context.load_verify_locations(certs["ca"])
            context.verify_mode = ssl.CERT_OPTIONAL
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    port = server.server_address[1]
    url = f"{'https' if args.tls else 'http'}://127.0.0.1:{port}"
    if args.kubeconfig_out:
        use_cert = args.kubeconfig_client_cert and certs
        write_atomically(args.kubeconfig_out, kubeconfig_text(
            url, certs["ca"] if certs else None,
            token=None if use_cert else tokens[0], token_file=None if use_cert else state.token_file,
            client_cert=certs["client_cert"] if use_cert else None,
            client_key=certs["client_key"] if use_cert else None))
    if args.port_file:
        write_atomically(args.port_file, f"{port}\n")
    sys.stderr.write(f"fakekube: serving {url}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
