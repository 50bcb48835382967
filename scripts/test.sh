#!/usr/bin/env bash
# The whole test suite: Swift unit tests; the Python worker runtime's tests; end-to-end tests of the real
# `cortex` binary; the fault suite (one summary line per promise); a short fuzzing run. Installs what it
# needs; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building (debug, with tests)"
swift build --build-tests

echo "== Swift tests"
swift test

echo "== system packages the tests use (promtool, from Debian's prometheus package)"
if ! command -v promtool >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 \
        || { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends prometheus >/dev/null; }
fi

echo "== test environment (.venv-test from Tests/requirements.txt)"
venv=.venv-test
stamp="$venv/.requirements-$(sha256sum Tests/requirements.txt | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --quiet uv
    # The same wheel cache as the environments cortex builds, so each wheel is downloaded once.
    UV_CACHE_DIR="${UV_CACHE_DIR:-${CORTEX_CACHE_DIR:-$HOME/.cache/cortex-swift}/uv-cache}" \
        "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" -r Tests/requirements.txt
    touch "$stamp"
fi
export CORTEX_BIN="$PWD/.build/debug/cortex"

echo "== Python worker runtime tests and end-to-end tests"
"$venv/bin/pytest" -q -p no:cacheprovider Tests/python Tests/e2e "$@"

echo "== fault suite (Tests/faults)"
"$venv/bin/pytest" -q -p no:cacheprovider Tests/faults

echo "== fuzzing (fuzz/run.sh, ${FUZZ_SECONDS:-20} s per target)"
bash fuzz/run.sh "${FUZZ_SECONDS:-20}"
