#!/usr/bin/env bash
# Checks everything that deploys Liftgate with the validators platform teams run, offline:
#   IAM        every SDK call allowed and nothing more (deploy/iam/iam.py, with a selftest),
#              parliament
#   Helm       helm lint --strict, helm template of every helm/liftgate/ci/*-values.yaml, the
#              chart's promises (deploy/ci/chart_checks.py), what it must refuse, each rendered
#              config through `liftgate check-config`, kubernetes-validate --strict for
#              Kubernetes 1.30-1.35, checkov, the values table of docs/deployment.md
#   Terraform  python-hcl2 on every file, module consistency, checkov
#   Docker     hadolint, .dockerignore
#   Chat apps  Slack's manifest schema, Microsoft's Teams manifest validator
# Installs its tools on first use (pinned, in ${XDG_CACHE_HOME:-~/.cache}/liftgate), prints one
# line per validator passed, and exits 1 naming what failed. Idempotent; writes only to a
# temporary directory and the cache.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$LIFTGATE_ROOT"

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/liftgate"
KUBERNETES_VERSIONS=(1.30.0 1.31.0 1.32.0 1.33.0 1.34.0 1.35.0)
hash_of() { cat "$@" | sha256sum | cut -c1-12; }
TOOLS_VENV="$CACHE/venv-deploy-tools-$(hash_of deploy/ci/requirements-tools.txt)"
CHECKOV_VENV="$CACHE/venv-deploy-checkov-$(hash_of deploy/ci/requirements-checkov.txt)"
NODE_TOOLS="$CACHE/node-deploy-$(hash_of deploy/ci/node/package.json deploy/ci/node/package-lock.json)"

# A venv with every package of a pinned requirements file; ".complete" marks a finished install
# (an interrupted one is rebuilt).
ensure_venv() {
  local venv="$1" requirements="$2"
  [ -f "$venv/.complete" ] && return 0
  log "Installing $(basename "$requirements" .txt) into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
  touch "$venv/.complete"
}

ensure_node_tools() {
  [ -f "$NODE_TOOLS/.complete" ] && return 0
  log "Installing the manifest validators (npm) into $NODE_TOOLS"
  rm -rf "$NODE_TOOLS"
  mkdir -p "$NODE_TOOLS"
  cp deploy/ci/node/package.json deploy/ci/node/package-lock.json "$NODE_TOOLS/"
  (cd "$NODE_TOOLS" && npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null)
  touch "$NODE_TOOLS/.complete"
}

ensure_helm
ensure_venv "$TOOLS_VENV" deploy/ci/requirements-tools.txt
ensure_venv "$CHECKOV_VENV" deploy/ci/requirements-checkov.txt
ensure_node_tools
PY="$TOOLS_VENV/bin/python"
liftgate_build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=()

# Runs one validator: prints "ok  NAME: SUMMARY" on success, or its output and the name. The
# validator runs in a subshell with errexit on (outside any `if`, where bash would ignore it).
check() {
  local name="$1"; shift
  local log="$work/check.log" status
  set +e
  ( set -e; "$@" ) >"$log" 2>&1
  status=$?
  set -e
  if [ "$status" -eq 0 ]; then
    local summary
    summary="$(grep -v '^\s*$' "$log" | tail -n 1)"
    printf 'ok    %s%s\n' "$name" "${summary:+: $summary}"
  else
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$log" >&2
    failures+=("$name")
  fi
}

# --- IAM ------------------------------------------------------------------------------------
check "iam (code ↔ deploy/iam/actions.yaml ↔ manifests/iam, terraform)" "$PY" deploy/iam/iam.py check
check "iam check catches what it must (selftest)" "$PY" deploy/iam/iam.py selftest
check "parliament (IAM Service Authorization Reference, community auditors)" "$PY" deploy/iam/iam.py parliament

# --- Helm -----------------------------------------------------------------------------------
chart=helm/liftgate
mkdir -p "$work/rendered" "$work/config"
scenarios=()
for values in "$chart"/ci/*-values.yaml; do scenarios+=("$(basename "$values" -values.yaml)"); done

helm_lint() {
  for name in "${scenarios[@]}"; do
    "$HELM" lint --strict "$chart" -f "$chart/ci/$name-values.yaml" >/dev/null || { echo "helm lint failed for $name"; return 1; }
  done
  echo "${#scenarios[@]} scenarios (${scenarios[*]})"
}
check "helm lint --strict" helm_lint

helm_template() {
  for name in "${scenarios[@]}"; do
    "$HELM" template liftgate "$chart" --namespace liftgate -f "$chart/ci/$name-values.yaml" > "$work/rendered/$name.yaml"
    "$PY" deploy/ci/chart_checks.py "$work/rendered/$name.yaml" "$work/config/$name.yaml"
  done
  echo "${#scenarios[@]} scenarios rendered; ingress paths, admin port, volume, checksums, policies as promised"
}
check "helm template + chart checks" helm_template

must_refuse() {
  local reason="$1"; shift
  if "$HELM" template liftgate "$chart" "$@" >/dev/null 2>"$work/refusal"; then
    echo "the chart accepted $*, but must refuse it: $reason"; return 1
  fi
}
helm_refusals() {
  must_refuse "two pods cannot share SQLite's ReadWriteOnce volume" --set replicaCount=2
  must_refuse "an HPA on SQLite would start a second pod" --set autoscaling.enabled=true
  must_refuse "a typo in a value must fail (values.schema.json)" --set replicaCunt=2
  must_refuse "unknown config sections must fail" --set config.slak.channel_id=C1
  must_refuse "SQLite without a volume loses everything on restart" --set persistence.enabled=false
  must_refuse "a file audit sink with DynamoDB writes to an emptyDir" --set config.state.backend=dynamodb --set config.state.table=t
  must_refuse "the listeners come from ports" --set config.server.listen=0.0.0.0:1234
  must_refuse "ports must differ" --set ports.admin=8080
  echo "8 misconfigurations refused"
}
check "helm refuses what cannot work" helm_refusals

check_configs() {
  for name in "${scenarios[@]}"; do
    # Secrets come from the environment (a Kubernetes Secret) in a real deployment; set those
    # of the sections the scenario configures.
    local config="$work/config/$name.yaml" secrets=()
    if grep -q '^slack:' "$config"; then
      secrets+=(LIFTGATE__SLACK__SIGNING_SECRET=x LIFTGATE__SLACK__BOT_TOKEN=xoxb-x LIFTGATE__SLACK__APP_TOKEN=xapp-x)
    fi
    if grep -q '^teams:' "$config"; then secrets+=(LIFTGATE__TEAMS__APP_PASSWORD=x); fi
    env "${secrets[@]}" "$(liftgate_bin)" check-config --config "$config" >/dev/null 2>&1 \
      || { env "${secrets[@]}" "$(liftgate_bin)" check-config --config "$config" 2>&1 | sed "s/^/$name: /"; return 1; }
  done
  echo "the liftgate.yaml of each scenario is valid"
}
check "liftgate check-config on every rendered config" check_configs

kubernetes_validate() {
  for version in "${KUBERNETES_VERSIONS[@]}"; do
    # ServiceMonitor is a CRD kubernetes-validate has no schema for (a warning, hidden); its
    # shape is checked by chart_checks.py.
    "$TOOLS_VENV/bin/kubernetes-validate" --strict --quiet --no-warn -k "$version" "$work"/rendered/*.yaml \
      || { echo "kubernetes-validate failed for Kubernetes $version"; return 1; }
  done
  echo "${#scenarios[@]} scenarios × Kubernetes ${KUBERNETES_VERSIONS[0]%.0}-${KUBERNETES_VERSIONS[-1]%.0}"
}
check "kubernetes-validate --strict" kubernetes_validate

checkov_kubernetes() {
  "$CHECKOV_VENV/bin/checkov" --config-file deploy/ci/checkov-kubernetes.yaml -d "$work/rendered" 2>&1 \
    | grep -v -e '^\s*$' -e 'kubernetes scan results'
  test "${PIPESTATUS[0]}" -eq 0
}
check "checkov kubernetes (skips explained in deploy/ci/checkov-kubernetes.yaml)" checkov_kubernetes

values_table() { "$PY" deploy/ci/values_table.py --check && echo "docs/deployment.md lists every value of values.schema.json"; }
check "values table" values_table

# --- Terraform ------------------------------------------------------------------------------
mapfile -t tf_files < <(find deploy/terraform -name '*.tf' | sort; ls liftgate/tests/it/fixtures/sso-elevator/*.tf*)
check "python-hcl2 + module consistency" "$PY" deploy/ci/terraform_checks.py "${tf_files[@]}"
checkov_terraform() {
  "$CHECKOV_VENV/bin/checkov" --config-file deploy/ci/checkov-terraform.yaml -d deploy/terraform 2>&1 \
    | grep -v -e '^\s*$' -e 'terraform scan results'
  test "${PIPESTATUS[0]}" -eq 0
}
check "checkov terraform (skips explained in deploy/ci/checkov-terraform.yaml)" checkov_terraform

# --- Docker ---------------------------------------------------------------------------------
hadolint_dockerfile() { "$TOOLS_VENV/bin/hadolint" --failure-threshold info Dockerfile && echo "Dockerfile clean"; }
check "hadolint" hadolint_dockerfile
dockerignore() {
  "$PY" - <<'PY'
import fnmatch, sys
lines = [l.strip() for l in open(".dockerignore") if l.strip() and not l.startswith("#")]
def ignored(path):
    result = False
    for pattern in lines:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*") or fnmatch.fnmatch(path, "*/" + pattern.lstrip("*/")):
            result = not negate
    return result
for path in ["target", "data", ".git", "dist", "liftgate/target", "gateway/data"]:
    if not ignored(path):
        sys.exit(f".dockerignore lets {path} into the build context")
for path in ["Cargo.toml", "Cargo.lock", "gateway/src/lib.rs", "liftgate/src/main.rs"]:
    if ignored(path):
        sys.exit(f".dockerignore keeps {path}, which the build needs, out of the context")
import re, tomllib
members = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["members"]
copied = re.findall(r"^COPY (\S+) \S+$", open("Dockerfile").read(), re.M)
for member in members:
    top = member.split("/")[0]
    if ignored(f"{member}/Cargo.toml"):
        sys.exit(f".dockerignore keeps the workspace member {member} out of the context")
    if top not in copied:
        sys.exit(f"the Dockerfile does not COPY the workspace member {member}: cargo cannot load the workspace")
print(f"target/, data/, .git and dist/ stay out of the build context; all {len(members)} workspace members are copied")
PY
  grep -q '^COPY \. \.' Dockerfile && { echo "Dockerfile copies the whole context"; return 1; }
  grep -qE '^FROM [^ ]+@sha256:[0-9a-f]{64}' Dockerfile || { echo "a base image is not pinned by digest"; return 1; }
  [ "$(grep -cE '^FROM ' Dockerfile)" -eq "$(grep -cE '^FROM [^ ]+@sha256:[0-9a-f]{64}' Dockerfile)" ] || { echo "a base image is not pinned by digest"; return 1; }
  grep -qE '^USER 65532' Dockerfile || { echo "the image does not run as 65532"; return 1; }
}
check ".dockerignore, digests, non-root" dockerignore

# --- Chat apps ------------------------------------------------------------------------------
mkdir -p "$work/manifests"
for manifest in manifests/slack/*.yaml; do
  "$PY" -c 'import sys, json, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], "w"))' \
    "$manifest" "$work/manifests/$(basename "$manifest" .yaml).json"
done
slack_manifests() {
  node deploy/ci/validate_manifests.js "$NODE_TOOLS/node_modules" \
    $(for f in "$work"/manifests/app-manifest*.json; do echo "slack:$f"; done) \
    && echo "$(ls manifests/slack/*.yaml | wc -l) manifests; callback ids and app_uninstalled / tokens_revoked present"
}
check "Slack app manifests (Slack's Manifest type from @slack/web-api)" slack_manifests

teams_package() {
  manifests/teams/package.sh --bot-app-id 00000000-0000-0000-0000-000000000001 \
    --domain liftgate.example.com --out "$work/teams" >/dev/null
  "$PY" - "$work/teams/liftgate-teams.zip" "$work/teams" <<'PY'
import struct, sys, zipfile
archive = zipfile.ZipFile(sys.argv[1])
names = sorted(archive.namelist())
if names != ["color.png", "manifest.json", "outline.png"]:
    sys.exit(f"the package holds {names}, not manifest.json and the two icons at its root")
for name, size in (("color.png", 192), ("outline.png", 32)):
    data = archive.read(name)
    width, height = struct.unpack(">II", data[16:24])
    if data[:8] != b"\x89PNG\r\n\x1a\n" or (width, height) != (size, size):
        sys.exit(f"{name} is not a {size}x{size} PNG")
archive.extract("manifest.json", sys.argv[2])
PY
  node deploy/ci/validate_manifests.js "$NODE_TOOLS/node_modules" "teams:$work/teams/manifest.json" \
    && echo "package.sh output valid against the v$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifestVersion"])' "$work/teams/manifest.json") schema; icons 192/32 px"
}
check "Teams app package (Microsoft's manifest validator)" teams_package

if [ "${#failures[@]}" -gt 0 ]; then
  printf '\ncheck-deploy: %d check(s) failed: %s\n' "${#failures[@]}" "$(IFS=,; echo "${failures[*]}" | sed 's/,/, /g')" >&2
  exit 1
fi
echo "check-deploy: all deployment checks passed"
