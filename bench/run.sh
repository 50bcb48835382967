#!/usr/bin/env bash
# One-command benchmark: `cortex serve` (release) vs a Cortex v0.23-style uvicorn + FastAPI runtime,
# both serving examples/echo, then examples/onnx-iris (model built into a temp copy). See bench/README.md.
# Settings (environment):
#   CORTEX_BIN      use this binary instead of building .build/release/cortex
#   WORKLOAD="echo onnx" (default; or all, echo, onnx)
#   DURATION=10s WARMUP=3s CONCURRENCIES="1 8 64" COLD_RUNS=3 SERVER_CPU=0 CLIENT_CPU=1
#   TARGETS="cortex baseline baseline-lean" (or cortex-operator: the API deployed to a local operator)
#   BASELINE_ARGS="--loop asyncio --http h11" (pure-Python baseline)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
PYTHON="${PYTHON:-python3}"

need_root() { if [ "$(id -u)" -ne 0 ]; then echo "sudo"; fi; }

# 1. wrk
if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk" >&2
  SUDO="$(need_root)"
  $SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
fi
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

# 2. the release binary
if [ -z "${CORTEX_BIN:-}" ]; then
  echo "== swift build -c release" >&2
  (cd "$ROOT" && swift build -c release >&2)
  export CORTEX_BIN="$ROOT/.build/release/cortex"
fi
[ -x "$CORTEX_BIN" ] || { echo "no cortex binary at $CORTEX_BIN" >&2; exit 1; }

# 3. the baseline's virtualenv (rebuilt when its requirements change)
VENV="$BENCH/.venv-baseline"
REQS="$BENCH/baseline/requirements.txt"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQS" "$VENV/.requirements.txt"; then
  echo "== building the baseline virtualenv in $VENV" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check -q -r "$REQS" >&2
  cp "$REQS" "$VENV/.requirements.txt"
fi
export BASELINE_PYTHON="$VENV/bin/python"

# 4. measure
exec "$PYTHON" "$BENCH/lib/bench.py"
