#!/usr/bin/env bash
# The main job on the embedded model: build a clone from the sample export (once), serve base and clone,
# and print the chat page's address once the server answers. PORT=8001 bash scripts/demo.sh picks another port.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
PORT=${PORT:-8000}
twin-train demo --out runs/demo
twin-server serve --adapters runs/demo/adapters --port "$PORT" "$@" &
server=$!
trap 'kill "$server" 2>/dev/null || true' INT TERM EXIT
until python -c "import httpx, sys; sys.exit(httpx.get('http://127.0.0.1:$PORT/health').status_code != 200)" \
    >/dev/null 2>&1; do
    kill -0 "$server" 2>/dev/null || { echo "error: the server stopped; see its log above" >&2; exit 1; }
    sleep 1
done
echo "== API: http://127.0.0.1:$PORT/v1   (Ctrl-C to stop)"
echo "== chat with the demo clone: http://127.0.0.1:$PORT/chat"
wait "$server"
