#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo on loopback:
#   two echo backends (127.0.0.1:9001 "app", 127.0.0.1:9002 "api"),
#   sluice-controller --manifests deploy/examples (gRPC 127.0.0.1:18000),
#   sluice-proxy on 127.0.0.1:8080 (admin 127.0.0.1:9901).
# Edit deploy/examples/*.yaml while it runs: routing follows within a second.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# Debian's bazel (/etc/bazel/bazelrc) turns on --sandbox_debug, which prints
# ~2,900 "linux-sandbox" lines on a fresh build: turn it off, and drop the
# lines that actions cached by earlier debug builds replay (as test.sh does).
bazel build --nosandbox_debug //controlplane/main:sluice-controller //dataplane/main:sluice-proxy \
  //test/backend:sluice-echo-backend 2>&1 | { grep -v "linux-sandbox" || true; }
BIN="$(bazel info bazel-bin 2>/dev/null)"
MANIFESTS="${MANIFESTS:-deploy/examples}"
LOGS="$(mktemp -d /tmp/sluice-demo.XXXXXX)"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "logs kept in $LOGS"
}
trap cleanup INT TERM EXIT

"$BIN/test/backend/sluice-echo-backend" --listen 127.0.0.1:9001 --name app 2>"$LOGS/app.log" & pids+=($!)
"$BIN/test/backend/sluice-echo-backend" --listen 127.0.0.1:9002 --name api 2>"$LOGS/api.log" & pids+=($!)
"$BIN/controlplane/main/sluice-controller" --manifests "$MANIFESTS" --grpc-listen 127.0.0.1:18000 \
  --admin-listen 127.0.0.1:9902 2>"$LOGS/controller.log" & pids+=($!)
"$BIN/dataplane/main/sluice-proxy" --controller 127.0.0.1:18000 --http-listen 127.0.0.1:8080 \
  --admin-listen 127.0.0.1:9901 --workers 2 --node-id demo-proxy \
  --access-log "$LOGS/access.log" 2>"$LOGS/proxy.log" & pids+=($!)

for _ in $(seq 1 100); do
  if curl -fsS http://127.0.0.1:9901/readyz >/dev/null 2>&1; then break; fi
  sleep 0.1
done
if ! curl -fsS http://127.0.0.1:9901/readyz >/dev/null 2>&1; then
  echo "the proxy did not become ready; see $LOGS/*.log" >&2
  tail -n 20 "$LOGS/controller.log" "$LOGS/proxy.log" >&2 || true
  exit 1
fi

cat <<TXT

Sluice demo is running (logs: $LOGS).

Try:
  curl -H 'Host: demo.local' http://127.0.0.1:8080/app/        # -> backend "app"
  curl -H 'Host: demo.local' http://127.0.0.1:8080/api/users   # -> backend "api"
  curl -H 'Host: demo.local' http://127.0.0.1:8080/            # Exact "/" -> "app"
  curl -H 'Host: x.demo.local' http://127.0.0.1:8080/anything  # wildcard host -> "api"
  curl -H 'Host: nowhere' http://127.0.0.1:8080/               # no rule -> 404
  curl http://127.0.0.1:9901/snapshot                          # what the proxy serves
  curl http://127.0.0.1:9902/nodes                             # which proxy has which version

Edit $MANIFESTS/*.yaml and the routing changes within a second.
Access log (one JSON line per request): tail -f $LOGS/access.log
Press Ctrl-C to stop.
TXT
wait
