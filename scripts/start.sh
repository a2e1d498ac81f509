#!/usr/bin/env bash
# `npm start`: installs what is missing, builds pkg/, and serves the demo storefront with the
# built-in Gameball-compatible endpoint on one origin. PORT=... picks another port.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh build
scripts/build.sh
port=${PORT:-8787}
echo
echo "  Demo storefront:  http://127.0.0.1:$port/"
echo "  Server log:       http://127.0.0.1:$port/__gb/log"
echo "  (Ctrl-C stops it)"
echo
exec node tests/server/gameball-server.mjs --port "$port" --mount /pkg=pkg --static www
