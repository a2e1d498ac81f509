#!/usr/bin/env bash
# `npm run chaos`: the chaos run at full size (10,000 events from 4 tabs in headless Chromium,
# faults on); prints delivered, lost, duplicated and the sendEvent-to-delivery delay.
# Extra arguments go to tests/chaos/run.mjs (--events N --tabs N --rate N --seed N).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh test
scripts/build.sh
exec node tests/chaos/run.mjs "$@"
