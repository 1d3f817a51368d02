#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer), one at a time, each for FUZZ_SECONDS
# (default 60). `scripts/fuzz.sh` runs every target; `scripts/fuzz.sh duration webhook_body`
# only those. Installs cargo-fuzz (pinned) on first use; stable Rust with RUSTC_BOOTSTRAP=1,
# no nightly needed. The repo's corpus (fuzz/corpus/<target>/) seeds each run and is never
# written: new inputs go to a scratch corpus under FUZZ_WORK (default a temporary directory),
# crashes to FUZZ_WORK/artifacts/<target>/. Exits non-zero on the first crash.
# See fuzz/README.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$LIFTGATE_ROOT"

CARGO_FUZZ_VERSION="0.13.2"
CARGO_FUZZ_ROOT="${LIFTGATE_CARGO_FUZZ_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/liftgate/cargo-fuzz-$CARGO_FUZZ_VERSION}"
if [ ! -x "$CARGO_FUZZ_ROOT/bin/cargo-fuzz" ]; then
  log "Installing cargo-fuzz $CARGO_FUZZ_VERSION into $CARGO_FUZZ_ROOT"
  cargo install --quiet --locked "cargo-fuzz@$CARGO_FUZZ_VERSION" --root "$CARGO_FUZZ_ROOT"
fi
export PATH="$CARGO_FUZZ_ROOT/bin:$PATH"
# cargo-fuzz passes -Z flags to rustc; RUSTC_BOOTSTRAP lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1
# Its own target directory: the instrumented build shares nothing with the normal one.
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$LIFTGATE_ROOT/target}/fuzz}"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
WORK="${FUZZ_WORK:-$(mktemp -d)}"
# No sanitizer: the code under test is safe Rust (unsafe_code is forbidden), so AddressSanitizer
# would find nothing a panic does not, at twice the cost. Debug assertions and overflow checks on.
FLAGS=(--sanitizer none --debug-assertions --target-dir "$FUZZ_TARGET_DIR")

if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

log "Building the fuzz targets (${targets[*]})"
cargo fuzz build "${FLAGS[@]}"

for target in "${targets[@]}"; do
  scratch="$WORK/corpus/$target"
  artifacts="$WORK/artifacts/$target"
  mkdir -p "$scratch" "$artifacts"
  log "Fuzzing $target for ${SECONDS_PER_TARGET}s (scratch corpus $scratch)"
  started=$(date +%s)
  status=0
  cargo fuzz run "${FLAGS[@]}" "$target" "$scratch" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$WORK/$target.log" 2>&1 || status=$?
  runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$WORK/$target.log" | grep -Eo '[0-9]+$' || echo '?')"
  log "$target: $(( $(date +%s) - started ))s, $runs executions, exit $status"
  if [ "$status" -ne 0 ]; then
    grep -E "panicked|SUMMARY|Test unit written" "$WORK/$target.log" >&2 || tail -30 "$WORK/$target.log" >&2
    exit "$status"
  fi
done
log "No crash. Scratch corpora and logs are in $WORK"
