#!/usr/bin/env bash
# Coverage-guided fuzzing of the pure core (cargo fuzz, libFuzzer; targets in fuzz/).
#
#   scripts/fuzz.sh [--short] [TARGET...]
#
# --short (the `fuzz` layer of `npm test`): each target replays its committed corpus
#   (fuzz/corpus/TARGET) and mutates it for FUZZ_SHORT_SECONDS (default 6); nothing is added
#   to the corpus.
# default (`npm run fuzz`): each target runs from its corpus until its coverage (libFuzzer's
#   `cov`, edges reached) has plateaued: not grown for FUZZ_PLATEAU_SECONDS (default 300) and
#   for a quarter of the run so far, whichever is longer (a slow target such as `engine` still
#   finds an edge every few minutes after half an hour; a fixed window calls that a plateau
#   too early); at most FUZZ_SECONDS (default 5400). Then the committed corpus is minimized
#   with what the run found (libFuzzer's -merge), so the next run resumes from it. One fuzzing
#   process at a time: the machine has 2 cores. Prints per target: executions, seconds,
#   coverage at the start and the end, and whether it plateaued.
#
# Then, unless --short or targets were named, the browser fuzz: FUZZ_BROWSER_COUNT (default
# 100,000) seeded hostile values through every export and Tracker method of the built
# package in headless Chromium (tests/fuzz/browser.mjs; seed FUZZ_BROWSER_SEED, default 1).
#
# A crash stops the target, leaves the input in fuzz/artifacts/TARGET/ and fails; every crash
# becomes a native regression test (`cargo test`) before it is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

short=false
if [ "${1:-}" = --short ]; then short=true; shift; fi
browser=false
$short || [ $# -gt 0 ] || browser=true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json record relay answer config event engine)

scripts/ensure-tools.sh fuzz
toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' fuzz/rust-toolchain.toml)
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
# No sanitizer (safe Rust: the targets look for panics and broken invariants, not memory
# errors), optimized with debug assertions on.
build_flags=(--fuzz-dir fuzz -s none -O -a)
quiet() { grep -v '^\s*$' | grep -Ev '^ +(Compiling|Finished)' || true; }
cargo "+$toolchain" fuzz build "${build_flags[@]}" --target-dir "$target_dir" 2>&1 | quiet
# `engine` without comparison tracing: its input is a script of operations, not text whose
# bytes are compared, and the tracing hooks took 45% of its time (perf): the same corpus
# replays in 12 s instead of 23 s, to the same edges.
if printf '%s\n' "${targets[@]}" | grep -qx engine; then
  cargo "+$toolchain" fuzz build "${build_flags[@]}" --target-dir "$target_dir-engine" \
    --no-trace-compares engine 2>&1 | quiet
fi
bin_of() {
  if [ "$1" = engine ]; then echo "$target_dir-engine"; else echo "$target_dir"; fi
}

passed=0
failed=0
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  bin="$(bin_of "$target")/x86_64-unknown-linux-gnu/release/$target"
  artifacts=fuzz/artifacts/$target/
  mkdir -p "$corpus" "$artifacts"
  work=$(mktemp -d)
  log=$(mktemp)
  if $short; then
    max=${FUZZ_SHORT_SECONDS:-6}
    plateau=$max
  else
    max=${FUZZ_SECONDS:-5400}
    plateau=${FUZZ_PLATEAU_SECONDS:-300}
  fi
  dict=()
  [ -f "fuzz/dict/$target.dict" ] && dict=(-dict="fuzz/dict/$target.dict")
  # Inputs that once crashed the target, kept apart from the corpus (a merge may drop them
  # as redundant): every run replays them first, read only.
  regressions=()
  [ -d "fuzz/regressions/$target" ] && regressions=("fuzz/regressions/$target")
  t0=$SECONDS
  set +e
  # New inputs go to the first directory (a scratch one); the committed corpus is read only.
  # One process (libFuzzer's -jobs would fork workers that log to files of their own).
  "$bin" "$work" "$corpus" "${regressions[@]}" -max_total_time="$max" -print_final_stats=1 \
    -artifact_prefix="$artifacts" -max_len=8192 -timeout=10 -rss_limit_mb=2048 "${dict[@]}" >"$log" 2>&1 &
  pid=$!
  last_cov=-1
  grown_at=$SECONDS
  plateaued=no
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [ "${cov:-0}" != "$last_cov" ]; then last_cov=${cov:-0}; grown_at=$SECONDS; fi
    flat=$(( SECONDS - grown_at ))
    if ! $short && (( flat >= plateau && flat * 4 >= SECONDS - t0 )); then
      plateaued=yes
      kill -INT "$pid" 2>/dev/null || true
    fi
  done
  wait "$pid"
  status=$?
  set -e
  seconds=$(( SECONDS - t0 ))
  # `|| true`: a crash while the corpus loads leaves no INITED line, and pipefail would end
  # the script there without a word.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  cov0=$(grep -a 'INITED' "$log" | grep -ao 'cov: [0-9]*' | head -1 | cut -d' ' -f2 || true)
  inputs=$(ls "$corpus" | wc -l)
  if ! $short && [ "$status" != 1 ]; then
    # The committed corpus becomes the smallest set with the coverage of both.
    merged=$(mktemp -d)
    "$bin" -merge=1 "$merged" "$corpus" "$work" -max_len=8192 >/dev/null 2>&1 &&
      { rm -f "$corpus"/*; cp "$merged"/* "$corpus"/ 2>/dev/null || true; }
    rm -rf "$merged"
    inputs="$inputs → $(ls "$corpus" | wc -l)"
  fi
  # 72 is libFuzzer's exit code when interrupted (our plateau stop).
  if [ "$status" = 0 ] || { [ "$status" = 72 ] && [ "$plateaued" = yes ]; }; then
    passed=$((passed + 1))
    echo "fuzz $target: ${runs:-?} runs in ${seconds}s, coverage ${cov0:-?} → ${cov:-?} edges, corpus $inputs inputs$($short || echo ", plateaued: $plateaued")"
  else
    failed=$((failed + 1))
    grep -a -B2 -A30 -m1 'panicked\|ERROR: libFuzzer\|deadly signal' "$log" | head -60 || tail -40 "$log"
    echo "fuzz $target: FAILED (exit $status) after ${runs:-?} runs in ${seconds}s; input in $artifacts" >&2
  fi
  rm -rf "$work" "$log"
done
if $browser; then
  scripts/build.sh
  if node tests/fuzz/browser.mjs --count "${FUZZ_BROWSER_COUNT:-100000}" --seed "${FUZZ_BROWSER_SEED:-1}"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
fi
echo "# pass $passed"
echo "# fail $failed"
[ "$failed" = 0 ]
