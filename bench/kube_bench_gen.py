#!/usr/bin/python3
"""Objects for the cluster-mode benchmark, as one JSON List for fakekube's
/_fake/load (or --load): N Ingresses with 2 paths each over M Services with
3 ready endpoints each (one EndpointSlice per Service), spread over 10
namespaces, plus our default IngressClass.

Usage: kube_bench_gen.py [--ingresses 10000] [--services 1000] > objects.json
"""

import argparse
import json
import sys

NAMESPACES = 10


def generate(ingresses, services):
    items = [{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
              "metadata": {"name": "sluice",
                           "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
              "spec": {"controller": "sluice.io/ingress-controller"}}]
    for s in range(services):
        ns = f"team-{s % NAMESPACES}"
        name = f"svc-{s}"
        items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                      "spec": {"type": "ClusterIP", "clusterIP": f"10.96.{s // 250}.{s % 250 + 1}",
                               "selector": {"app": name},
                               "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
        items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                      "metadata": {"name": f"{name}-x7k2p", "namespace": ns,
                                   "labels": {"kubernetes.io/service-name": name,
                                              "endpointslice.kubernetes.io/managed-by":
                                                  "endpointslice-controller.k8s.io"}},
                      "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                      "endpoints": [{"addresses": [f"10.{s // 250 + 1}.{s % 250}.{e + 1}"],
                                     "conditions": {"ready": True, "serving": True, "terminating": False},
                                     "nodeName": f"node-{e}", "zone": f"zone-{e}",
                                     "targetRef": {"kind": "Pod", "namespace": ns, "name": f"{name}-pod-{e}"}}
                                    for e in range(3)]})
    for i in range(ingresses):
        s = i % services
        ns = f"team-{s % NAMESPACES}"  # an Ingress refers to Services of its own namespace
        svc = f"svc-{s}"
        items.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                      "metadata": {"name": f"ing-{i}", "namespace": ns,
                                   "creationTimestamp": f"2024-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}Z"},
                      "spec": {"ingressClassName": "sluice", "rules": [{"host": f"host-{i}.bench.example", "http": {
                          "paths": [{"path": "/", "pathType": "Prefix",
                                     "backend": {"service": {"name": svc, "port": {"number": 80}}}},
                                    {"path": "/api", "pathType": "Prefix",
                                     "backend": {"service": {"name": svc, "port": {"name": "http"}}}}]}}]}})
    return {"apiVersion": "v1", "kind": "List", "items": items}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ingresses", type=int, default=10000)
    parser.add_argument("--services", type=int, default=1000)
    args = parser.parse_args()
    json.dump(generate(args.ingresses, args.services), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
