#!/usr/bin/env bash
# sluice-controller --check as users run it: a folder, stdin (as from
# kubectl), JSON output, and the exit codes (1: something will not behave as
# under ingress-nginx; 0: all supported; 2: nothing readable).
set -uo pipefail
controller="$1"
dir="$2"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }

out="$("$controller" --check "$dir")"; rc=$?
[[ $rc == 1 ]] || fail "folder: exit $rc, want 1"
grep -q "refused     nginx.ingress.kubernetes.io/configuration-snippet" <<<"$out" || fail "no refused snippet in: $out"
grep -q "did you mean nginx.ingress.kubernetes.io/proxy-body-size" <<<"$out" || fail "no typo suggestion"
grep -q "^5 Ingresses" <<<"$out" || fail "no summary"

"$controller" --check "$dir" --output json >"$tmp/json.out"; rc=$?
[[ $rc == 1 ]] || fail "json: exit $rc"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["summary"]["ingresses"]==5 and r["summary"]["blocking"], r["summary"]' "$tmp/json.out" ||
  fail "json report"

printf '%s\n' '{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"networking.k8s.io/v1","kind":"Ingress",' \
  '"metadata":{"name":"ok","namespace":"web","annotations":{"nginx.ingress.kubernetes.io/proxy-body-size":"8m"}},' \
  '"spec":{"defaultBackend":{"service":{"name":"web","port":{"number":80}}}}}]}' >"$tmp/list.json"
out="$("$controller" --check - <"$tmp/list.json")"; rc=$?
[[ $rc == 0 ]] || fail "stdin list: exit $rc: $out"
grep -q "supported   nginx.ingress.kubernetes.io/proxy-body-size" <<<"$out" || fail "stdin: $out"

"$controller" --check /nonexistent >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "missing folder: exit $rc, want 2"
echo PASS
