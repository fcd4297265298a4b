#!/usr/bin/env bash
# The chat page's pictures in docs/images (chat-zh.png, chat-en.png, blind-zh.png): the demo clone served on a spare port,
# a headless Chromium in each language. Chinese needs a CJK font: fonts-noto-cjk is installed where missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
if [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    missing=""
    command -v chromium >/dev/null 2>&1 || missing="chromium"
    fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing="$missing fonts-noto-cjk"
    if [ -n "$missing" ]; then
        echo "== installing$missing (apt) for the screenshots"
        $SUDO apt-get update -q
        # shellcheck disable=SC2086
        $SUDO apt-get install -y -q $missing
    fi
fi
twin-train demo --out runs/demo
port=${PORT:-8765}
twin-server serve --adapters runs/demo/adapters --port "$port" >runs/screenshots-server.log 2>&1 &
server=$!
trap 'kill $server' EXIT
python scripts/screenshots.py "http://127.0.0.1:$port" docs/images
