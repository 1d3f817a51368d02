#!/usr/bin/env bash
# Rule evaluation side by side with terraform-aws-sso-elevator, on its own generated workload:
# the same 1,000 queries over 200 and 2,000 statements (policy/bench/workloads/), evaluated by
# Liftgate (`evaluate_bench`) and by upstream's `make_decision_on_access_request`, with every
# decision compared. Exits non-zero if any decision differs.
#
#   PEER_SRC=/path/to/terraform-aws-sso-elevator/src policy/bench/compare.sh
#
# PEER_SRC is the src/ folder of a checkout of fivexl/terraform-aws-sso-elevator (studied at
# commit 8632b27, tag 4.2.2). Upstream's Python dependencies go into a venv
# ($PEER_VENV, default ~/.cache/liftgate/peer-venv), pinned to its uv.lock.
# REGENERATE=1 draws the workloads again from upstream's Hypothesis strategy first (about a
# minute for 2,000 statements); the same versions and seed give the same files.
# BENCH_SECONDS (default 2) is how long each engine is timed per workload.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${PEER_SRC:?set PEER_SRC to the src/ folder of a terraform-aws-sso-elevator checkout}"
venv=${PEER_VENV:-$HOME/.cache/liftgate/peer-venv}

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

cd "$root"
cargo build --quiet --release -p liftgate-policy --example evaluate_bench
bench=${CARGO_TARGET_DIR:-$root/target}/release/examples/evaluate_bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

status=0
for statements in 200 2000; do
    workload=$here/workloads/sso-elevator-$statements.json
    if [[ ${REGENERATE:-0} == 1 ]]; then
        "$venv/bin/python" "$here/peer_workload.py" --peer-src "$PEER_SRC" \
            --statements "$statements" --out "$workload"
    fi
    "$bench" --workload "$workload" --decisions "$out/liftgate-$statements.json"
    "$venv/bin/python" "$here/peer_evaluate.py" --peer-src "$PEER_SRC" \
        --workload "$workload" --ours "$out/liftgate-$statements.json" || status=1
done
exit $status
