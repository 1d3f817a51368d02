#!/usr/bin/env bash
# Lints the Helm chart, renders it with each scenario in helm/liftgate/ci/, and validates the
# liftgate.yaml each rendering would mount with `liftgate check-config`. scripts/check-deploy.sh
# runs the rest: the chart's promises, kubernetes-validate, checkov and the values table.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$LIFTGATE_ROOT"
helm="$1"
chart=helm/liftgate
cargo build --quiet -p liftgate
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for values in "$chart"/ci/*-values.yaml; do
  name="$(basename "$values" -values.yaml)"
  "$helm" lint --strict "$chart" -f "$values" >/dev/null
  "$helm" template liftgate "$chart" -f "$values" > "$work/$name.yaml"
  python3 - "$work/$name.yaml" "$work/$name-liftgate.yaml" <<'PY'
import sys
docs = open(sys.argv[1]).read().split("\n---\n")
config = [d for d in docs if "kind: ConfigMap" in d][0]
body = config.split("liftgate.yaml: |\n", 1)[1]
lines = [line[4:] if line.startswith("    ") else line for line in body.splitlines()]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
  # Secrets come from the environment (a Kubernetes Secret) in a real deployment.
  secrets=()
  if grep -q '^slack:' "$work/$name-liftgate.yaml"; then
    secrets+=(LIFTGATE__SLACK__SIGNING_SECRET=x LIFTGATE__SLACK__BOT_TOKEN=xoxb-x LIFTGATE__SLACK__APP_TOKEN=xapp-x)
  fi
  if grep -q '^teams:' "$work/$name-liftgate.yaml"; then
    secrets+=(LIFTGATE__TEAMS__APP_PASSWORD=x)
  fi
  env "${secrets[@]}" "$(liftgate_bin)" check-config --config "$work/$name-liftgate.yaml" >/dev/null

  echo "chart scenario $name: lint ok, rendered, config valid"
done
if "$helm" template liftgate "$chart" --set replicaCount=2 >/dev/null 2>&1; then
  echo "the chart must refuse several replicas on SQLite" >&2; exit 1
fi
