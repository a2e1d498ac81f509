#!/usr/bin/env bash
# Installs what the build and the tests need, only where it is missing, so that `npm start` and
# `npm test` work on a fresh machine and cost a few hundred milliseconds on a warm one.
# Usage: scripts/ensure-tools.sh [build|test|fuzz]   (build: the pinned nightly too; fuzz: cargo-fuzz;
# test: those too, and the browsers and drivers:
# Chromium and chromedriver, Firefox ESR and geckodriver, WebKitGTK's MiniBrowser and
# WebKitWebDriver, and Xvfb for the X display WebKitGTK needs)
set -euo pipefail
cd "$(dirname "$0")/.."
need=${1:-build}
log() { printf '[ensure-tools] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-pack only uses a wasm-bindgen CLI whose version equals the one locked in Cargo.lock.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen_version\$"; then
  log "installing wasm-bindgen-cli $bindgen_version (a few minutes, once)"
  # --locked pins the CLI's own dependencies; when the registry no longer serves one of them
  # (seen: webpki-roots 1.0.11), fall back to a fresh resolution of the same CLI version.
  cargo install wasm-bindgen-cli --version "=$bindgen_version" --locked ||
    cargo install wasm-bindgen-cli --version "=$bindgen_version"
fi
if ! command -v wasm-pack >/dev/null 2>&1; then
  log "installing wasm-pack (a few minutes, once)"
  cargo install wasm-pack --locked || cargo install wasm-pack
fi

# The nightly pinned in fuzz/rust-toolchain.toml: scripts/build.sh builds the shipped module
# with it (-Z build-std needs rust-src and the wasm target), and cargo fuzz runs on it.
nightly=$(sed -n 's/^channel = "\(.*\)"/\1/p' fuzz/rust-toolchain.toml)
if ! rustup run "$nightly" rustc --version >/dev/null 2>&1; then
  log "installing Rust $nightly (a minute, once)"
  rustup toolchain install "$nightly" --profile minimal
fi
nightly_have=$(rustup component list --toolchain "$nightly" --installed 2>/dev/null)
grep -q '^rust-src' <<<"$nightly_have" || rustup component add rust-src --toolchain "$nightly"
grep -q '^rust-std-wasm32-unknown-unknown' <<<"$nightly_have" || rustup target add wasm32-unknown-unknown --toolchain "$nightly"

# The fuzz targets (fuzz/, `npm run fuzz` and the `fuzz` layer of `npm test`): cargo fuzz.
if [ "$need" = test ] || [ "$need" = fuzz ]; then
  if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz (a few minutes, once)"
    cargo install cargo-fuzz --locked || cargo install cargo-fuzz
  fi
fi

apt_packages=()
if [ "$need" = test ]; then
  [ -x /usr/bin/chromium ] || apt_packages+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || apt_packages+=(chromium-driver)
  command -v firefox-esr >/dev/null 2>&1 || apt_packages+=(firefox-esr)
  command -v WebKitWebDriver >/dev/null 2>&1 || apt_packages+=(webkit2gtk-driver)
  command -v Xvfb >/dev/null 2>&1 || apt_packages+=(xvfb)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  log "installing ${apt_packages[*]} from Debian"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# geckodriver (Firefox's WebDriver server) is not packaged by Debian: from crates.io.
if [ "$need" = test ] && ! command -v geckodriver >/dev/null 2>&1; then
  log "installing geckodriver (a few minutes, once)"
  cargo install geckodriver --locked || cargo install geckodriver
fi

# node_modules is current when it was installed from this very lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dev dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
