#!/usr/bin/env bash
# Builds the npm package into pkg/ (wasm-pack, target web), optimises the module with
# wasm-opt, and adds what wasm-bindgen cannot export (GameballError). Does nothing when pkg/
# is newer than every source file.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh build
export PATH="$HOME/.cargo/bin:$PATH"

stamp=pkg/.built
if [ -f "$stamp" ] && [ -z "$(find src Cargo.toml Cargo.lock package-lock.json README.md LICENSE scripts/build.sh scripts/finish-pkg.mjs -newer "$stamp" -print -quit)" ]; then
  echo "[build] pkg/ is up to date"
  exit 0
fi

wasm-pack build --release --target web --out-dir pkg --out-name gameball_tracker --no-pack 2>&1 | grep -v '^\[INFO\]' || true
test -f pkg/gameball_tracker_bg.wasm || { echo "[build] wasm-pack failed" >&2; exit 1; }
# binaryen from npm: Debian's binaryen 108 accepts the module with these flags but corrupts
# wasm-bindgen's externref table (the module then fails to instantiate).
# --converge repeats -Oz while it still shrinks the module; the producers and target-features
# sections are build metadata no browser reads.
node_modules/.bin/wasm-opt -Oz --converge --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/gameball_tracker_bg.wasm -o pkg/gameball_tracker_bg.wasm
node scripts/finish-pkg.mjs
# The JS a storefront downloads, minified like any bundle (exports and the wasm import
# names are kept: esbuild renames locals only). The .d.ts keeps the documentation.
for js in pkg/gameball_tracker.js $(find pkg/snippets -name '*.js'); do
  node_modules/.bin/esbuild "$js" --minify --format=esm --target=es2020 --log-level=warning --outfile="$js" --allow-overwrite
done
touch "$stamp"
echo "[build] pkg/ written: $(wc -c < pkg/gameball_tracker_bg.wasm) bytes of wasm, $(gzip -9c pkg/gameball_tracker_bg.wasm | wc -c) gzipped"
echo "[build] size: $(node scripts/size.mjs)"
