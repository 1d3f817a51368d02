#!/usr/bin/env bash
# The container's binary, built as the Dockerfile builds it: release profile, static musl,
# checked to be statically linked, within the size budget, and working (`--version`, `init` +
# `check-config`). The budget is the image's: distroless/static-debian12 is about 2 MB, so a
# binary up to 28 MB keeps the image within 30 MB (README "Performance" has the sizes). No
# Docker engine runs in CI; hadolint checks the Dockerfile itself (scripts/check-deploy.sh).
#
# Installs the musl target (rustup) and musl-gcc (Debian's musl-tools, for aws-lc and the
# bundled SQLite) on first use. The release build reuses CARGO_TARGET_DIR, so only the first
# run on a machine builds the dependencies.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$LIFTGATE_ROOT"

arch="$(uname -m)"
target="${arch}-unknown-linux-musl"
max_bytes=$((28 * 1000 * 1000))

if ! rustup target list --installed | grep -qx "$target"; then
  log "Installing the Rust $target target"
  rustup target add "$target"
fi
if ! command -v musl-gcc >/dev/null; then
  log "Installing musl-tools (musl-gcc)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends musl-tools >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends musl-tools >/dev/null
  fi
fi

log "release build for $target (as the Dockerfile does)"
cargo build --release --locked -p liftgate --target "$target"
binary="${CARGO_TARGET_DIR:-$LIFTGATE_ROOT/target}/$target/release/liftgate"

# ldd (glibc's, always there) names the libraries of a dynamic executable and says "not a
# dynamic executable" or "statically linked" otherwise.
linked="$(ldd "$binary" 2>&1 || true)"
case "$linked" in
  *"not a dynamic executable"*|*"statically linked"*) ;;
  *) echo "FAIL  $binary is not static: $linked" >&2; exit 1 ;;
esac
bytes="$(stat -c %s "$binary")"
if [ "$bytes" -gt "$max_bytes" ]; then
  echo "FAIL  $binary is $bytes bytes, over the $max_bytes budget" >&2
  exit 1
fi
"$binary" --version >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$binary" init --output "$work/liftgate.yaml" >/dev/null 2>&1
"$binary" check-config --config "$work/liftgate.yaml" >/dev/null 2>&1
echo "ok    static binary: $target, $(( bytes / 1000 )) kB, statically linked, runs"
