#!/bin/bash
# Runs a Python unittest file from the runfiles with Debian's python3 (which
# has python3-yaml); Bazel 4's py_test would need a Python toolchain setup.
set -euo pipefail
script="$1"
shift
cd "${TEST_SRCDIR}/${TEST_WORKSPACE:-sluice}"
exec /usr/bin/python3 -W ignore::ResourceWarning "$script" "$@"
