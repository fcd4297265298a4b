#!/usr/bin/env bash
# The main job on the embedded model: build a clone from the sample export (once), then serve base and clone.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
twin-train demo --out runs/demo
echo "== serving on http://127.0.0.1:8000/v1 (Ctrl-C to stop)"
exec twin-server serve --adapters runs/demo/adapters "$@"
