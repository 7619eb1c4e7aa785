#!/usr/bin/env bash
# Checks charts/sluice and deploy/manifests without a cluster or a helm
# binary (Debian 12 packages no helm). See check_deploy.py for what is checked.
#
#   test/charts/render_check.sh          # from anywhere in a checkout
#   bazel test //test/charts:render_check
#
# Rendering the chart uses test/charts/helmrender, built here from Debian's Go
# and sprig packages (the template engine and function library Helm uses):
#   apt-get install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
# and the schema check uses python3-jsonschema. Without them those parts are
# reported as skipped (set SLUICE_REQUIRE_RENDER=1 to make that a failure);
# the static checks always run.
set -euo pipefail

if [[ -n "${TEST_SRCDIR:-}" ]]; then
  root="${TEST_SRCDIR}/${TEST_WORKSPACE:-sluice}"
else
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fi
here="${root}/test/charts"
work="$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/render_check.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

renderer_args=()
if command -v go >/dev/null && [[ -d /usr/share/gocode/src/github.com/Masterminds/sprig ]] \
    && [[ -d /usr/share/gocode/src/gopkg.in/yaml.v3 ]]; then
  # GOPATH mode against Debian's packaged Go sources: offline by construction.
  # Built from a copy because the Bazel runfiles tree is made of symlinks.
  mkdir -p "${work}/src/helmrender"
  cp "${here}/helmrender/main.go" "${work}/src/helmrender/"
  (cd "${work}/src/helmrender" \
    && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="${work}/gocache" GOFLAGS= \
       go build -o "${work}/helmrender" .)
  renderer_args=(--renderer "${work}/helmrender")
elif [[ "${SLUICE_REQUIRE_RENDER:-0}" == 1 ]]; then
  echo "FAIL: cannot render the chart: install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev" >&2
  exit 1
fi
if [[ "${SLUICE_REQUIRE_RENDER:-0}" == 1 ]] && ! python3 -c 'import jsonschema' 2>/dev/null; then
  echo "FAIL: cannot check values.schema.json: install python3-jsonschema" >&2
  exit 1
fi

exec python3 "${here}/check_deploy.py" --root "${root}" "${renderer_args[@]}"
