#!/usr/bin/env bash
# Checks deploy/monitoring with promtool (Debian's prometheus package): the
# PrometheusRule's alert groups, and the Grafana dashboard's queries.
set -euo pipefail

if [[ -n "${TEST_SRCDIR:-}" ]]; then
  root="${TEST_SRCDIR}/${TEST_WORKSPACE:-sluice}"
else
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fi
work="$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/monitoring_check.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

if [[ ! -x /usr/bin/promtool ]]; then
  echo "SKIPPED: /usr/bin/promtool is not installed (Debian package prometheus; scripts/install-deps.sh installs it)"
  [[ "${CI:-}" == "true" ]] && exit 1  # CI installs it: missing there is a failure
  exit 0
fi

python3 "${root}/test/deploy/monitoring_rules.py" \
  "${root}/deploy/monitoring/prometheus-rules.yaml" "${root}/deploy/monitoring/grafana-dashboard.json" \
  "${work}/alerts.yaml" "${work}/queries.yaml"
/usr/bin/promtool check rules "${work}/alerts.yaml" "${work}/queries.yaml"
echo "monitoring_check: ok"
