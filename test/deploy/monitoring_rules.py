#!/usr/bin/env python3
"""Writes two Prometheus rule files for promtool from deploy/monitoring:
the PrometheusRule's spec (alerts), and one recording rule per query of the
Grafana dashboard, with Grafana's variables replaced by what they expand to.
Also fails on a dashboard panel without a query or a duplicate panel id."""
import json
import re
import sys

import yaml

rules_in, dashboard_in, alerts_out, queries_out = sys.argv[1:5]

rule = yaml.safe_load(open(rules_in))
assert rule["kind"] == "PrometheusRule", rule["kind"]
yaml.safe_dump(rule["spec"], open(alerts_out, "w"))

dashboard = json.load(open(dashboard_in))
ids = set()
records = []
for panel in dashboard["panels"]:
    if panel["id"] in ids:
        sys.exit("duplicate panel id %d" % panel["id"])
    ids.add(panel["id"])
    if panel["type"] == "row":
        continue
    if not panel.get("targets"):
        sys.exit("panel %r has no query" % panel["title"])
    for target in panel["targets"]:
        expr = target["expr"].replace("$__rate_interval", "5m")
        expr = re.sub(r"\$\{?[a-z_]+\}?", ".*", expr)
        records.append({"record": "dashboard:query_%d" % len(records), "expr": expr})
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}, open(queries_out, "w"))
print("%d alerting groups, %d dashboard queries" % (len(rule["spec"]["groups"]), len(records)))
