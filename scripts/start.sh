#!/usr/bin/env bash
# `npm start`: installs what is missing, builds pkg/, and serves the demo storefront with the
# built-in Gameball-compatible endpoint on one origin. PORT=... picks another port.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh build
scripts/build.sh
port=${PORT:-8787}
if node -e "require('net').createServer().once('error', () => process.exit(1)).listen($port, '127.0.0.1', function () { this.close(); })"; then :; else
  echo "Port $port is taken (another npm start?). Pick another: PORT=8790 npm start" >&2
  exit 1
fi
echo
echo "  Demo storefront:  http://127.0.0.1:$port/"
echo "  Server log:       http://127.0.0.1:$port/__gb/log"
echo "  (Ctrl-C stops it)"
echo
exec node tests/server/gameball-server.mjs --port "$port" --mount /pkg=pkg --static www
