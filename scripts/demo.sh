#!/usr/bin/env bash
# Builds cortex, serves examples/echo, calls it once with curl, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
example=${1:-examples/echo}
port=${PORT:-8888}
swift build -c release --product cortex
.build/release/cortex serve "$example" --port "$port" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 $server 2>/dev/null || { echo "cortex serve exited" >&2; exit 1; }
    sleep 0.5
done
echo "+ curl -X POST http://127.0.0.1:$port/echo -H 'Content-Type: application/json' -d '{\"text\": \"hello\"}'"
curl -fsS -X POST "http://127.0.0.1:$port/echo" -H 'Content-Type: application/json' -d '{"text": "hello"}'
echo
