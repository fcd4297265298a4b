#!/usr/bin/env bash
# The main job on the embedded model: build a clone from the sample export (once), serve base and clone,
# and print the chat page's address. `bash scripts/demo.sh --port 8001` serves on another port.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
twin-train demo --out runs/demo
# Say where it really serves: the last --host/--port given wins, as it does for twin-server.
host=127.0.0.1 port=8000 previous=""
for arg in "$@"; do
    case "$previous" in --host) host=$arg ;; --port) port=$arg ;; esac
    case "$arg" in --host=*) host=${arg#--host=} ;; --port=*) port=${arg#--port=} ;; esac
    previous=$arg
done
echo "== serving on http://$host:$port/v1 (Ctrl-C to stop); chat with the demo clone: http://$host:$port/chat"
exec twin-server serve --adapters runs/demo/adapters "$@"
