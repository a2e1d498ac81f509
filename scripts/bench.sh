#!/usr/bin/env bash
# `npm run bench`: installs the benchmark's own dependencies when missing (the peers, from
# bench/package-lock.json), builds pkg/, then runs bench/run.mjs in headless Chromium against
# the local server. Writes bench/results.json and bench/chart.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh test
# bench/node_modules is current when it was installed from this very lockfile.
if [ ! -f bench/node_modules/.package-lock.json ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  echo "[bench] installing the peers (bench/package-lock.json)"
  (cd bench && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
fi
scripts/build.sh
node bench/run.mjs
