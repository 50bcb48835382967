#!/usr/bin/env bash
# The whole test suite: Swift unit tests, the Python worker runtime's tests, and the end-to-end
# tests that run the real `cortex` binary. Installs what it needs; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building (debug, with tests)"
swift build --build-tests

echo "== Swift tests"
swift test

echo "== test environment (pytest and HTTP clients)"
venv=.venv-test
if [ ! -x "$venv/bin/pytest" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --quiet \
        pytest==9.0.3 requests httpx starlette==1.10.0 numpy
fi

echo "== Python worker runtime tests and end-to-end tests"
CORTEX_BIN="$PWD/.build/debug/cortex" "$venv/bin/pytest" -q -p no:cacheprovider Tests/python Tests/e2e "$@"
