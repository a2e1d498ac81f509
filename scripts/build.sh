#!/usr/bin/env bash
# Builds the npm package into pkg/: the module with the pinned nightly (see below), the JS
# with wasm-bindgen (target web), optimises the module with wasm-opt, adds what wasm-bindgen
# cannot export (GameballError) and minifies the JS. Does nothing when pkg/ is newer than
# every source file.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh build
export PATH="$HOME/.cargo/bin:$PATH"

stamp=pkg/.built
if [ -f "$stamp" ] && [ -z "$(find src Cargo.toml Cargo.lock package-lock.json README.md LICENSE scripts/build.sh scripts/finish-pkg.mjs fuzz/rust-toolchain.toml -newer "$stamp" -print -quit)" ]; then
  echo "[build] pkg/ is up to date"
  exit 0
fi

# The shipped module is built with the nightly pinned in fuzz/rust-toolchain.toml (one pin for
# the project; ensure-tools installs it with rust-src): the standard library rebuilt with the
# crate's own size settings (-Z build-std), panics that abort at once without formatting a
# message (-C panic=immediate-abort: no panic strings, no core::fmt for them), no source
# locations and no Debug output compiled in (nothing shipped prints either). Measured on
# 10223dc: 89,269 -> 83,561 B gzip of wasm. Tests (cargo test, wasm-pack test) use stable.
nightly=$(sed -n 's/^channel = "\(.*\)"/\1/p' fuzz/rust-toolchain.toml)
RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
  cargo "+$nightly" build --release --target wasm32-unknown-unknown -Z build-std=std,panic_abort --quiet
module="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/gameball_tracker.wasm"
rm -rf pkg/snippets
wasm-bindgen --target web --out-dir pkg --out-name gameball_tracker "$module"
test -f pkg/gameball_tracker_bg.wasm || { echo "[build] wasm-bindgen wrote no module" >&2; exit 1; }
# binaryen from npm: Debian's binaryen 108 accepts the module with these flags but corrupts
# wasm-bindgen's externref table (the module then fails to instantiate).
# -Os, not -Oz: a slightly larger module that gzips smaller (measured after the core's size
# work: 71,063 B gzip with -Oz, 70,768 B with -Os; rustc's own opt-level stays "z", which
# gzips 9 KB smaller than "s"). --converge repeats the passes while they still shrink the
# module; the producers and target-features sections are build metadata no browser reads.
node_modules/.bin/wasm-opt -Os --converge --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/gameball_tracker_bg.wasm -o pkg/gameball_tracker_bg.wasm
node scripts/finish-pkg.mjs
# Every JS file a storefront downloads (the entry, wasm-bindgen's glue, the snippets),
# minified like any bundle (exports and the wasm import names are kept: esbuild renames
# locals only). The .d.ts keeps the documentation. wasm-bindgen's import object names glue.js
# once per extern block, each the same `import * as` namespace: esbuild's duplicate-key
# warning there says nothing wrong.
for js in pkg/gameball_tracker.js pkg/gameball_tracker_wasm.js $(find pkg/snippets -name '*.js'); do
  node_modules/.bin/esbuild "$js" --minify --format=esm --log-override:duplicate-object-key=silent --target=es2020 --log-level=warning --outfile="$js" --allow-overwrite
done
touch "$stamp"
echo "[build] pkg/ written: $(wc -c < pkg/gameball_tracker_bg.wasm) bytes of wasm, $(gzip -9c pkg/gameball_tracker_bg.wasm | wc -c) gzipped"
echo "[build] size: $(node scripts/size.mjs)"
