#!/usr/bin/env bash
# Runs Liftgate on the embedded defaults (SQLite state, local revocation timers, file audit
# log) against moto with a sample organization, and walks one request through the signed
# webhook API: create → approve → grant → automatic revocation → audit trail.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$LIFTGATE_ROOT"

ensure_moto
work="$LIFTGATE_ROOT/data/demo"
rm -rf "$work" && mkdir -p "$work"

log "Starting moto (AWS emulator)"
start_moto "$work/moto.log"
cleanup() {
  [ -n "${LIFTGATE_PID:-}" ] && kill "$LIFTGATE_PID" 2>/dev/null || true
  kill "$MOTO_PID" 2>/dev/null || true
}
trap cleanup EXIT

log "Seeding an organization: 3 accounts, 2 permission sets, 3 users"
"$MOTO_VENV/bin/python" scripts/demo/seed.py "$MOTO_ENDPOINT" > "$work/seed.json"
read -r instance_arn store_id production < <("$MOTO_VENV/bin/python" -c '
import json,sys; s=json.load(open(sys.argv[1])); print(s["instance_arn"], s["identity_store_id"], s["accounts"]["Production"])' "$work/seed.json")

port="$(free_port)"
secret="demo-secret-$(date +%s)-0123456789abcdef"
cat > "$work/liftgate.yaml" <<YAML
server:
  listen: "127.0.0.1:$port"
  log_format: text
aws:
  region: us-east-1
  sso_instance_arn: "$instance_arn"
  identity_store_id: "$store_id"
  endpoint_url: "$MOTO_ENDPOINT"
state:
  path: "$work/liftgate.db"
scheduler:
  sweep_interval: 2s
audit:
  sinks:
    - type: file
      dir: "$work/audit"
reconciliation:
  enabled: false
webhook:
  clients:
    - id: demo
      secret: "$secret"
      act_for: ["*"]
requests:
  max_duration: 4h
statements:
  - ResourceType: Account
    Resource: ["$production"]
    PermissionSet: [AdministratorAccess, ReadOnlyAccess]
    Approvers: [lead@example.com, cto@example.com]
YAML

log "Building liftgate"
liftgate_build
"$(liftgate_bin)" check-config --config "$work/liftgate.yaml"

# A fresh Ed25519 key signs the audit checkpoints (docs/audit.md); it reaches liftgate only
# through the environment, as a secret should.
LIFTGATE__AUDIT__SIGNING_KEY="$("$MOTO_VENV/bin/python" -c '
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
print(Ed25519PrivateKey.generate().private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode())')"
export LIFTGATE__AUDIT__SIGNING_KEY

log "Starting liftgate serve on 127.0.0.1:$port"
AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true \
  "$(liftgate_bin)" serve --config "$work/liftgate.yaml" 2> "$work/liftgate.log" &
LIFTGATE_PID=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
  kill -0 "$LIFTGATE_PID" 2>/dev/null || { cat "$work/liftgate.log" >&2; exit 1; }
  sleep 0.1
done

"$MOTO_VENV/bin/python" scripts/demo/walk.py "http://127.0.0.1:$port" demo "$secret" "$MOTO_ENDPOINT" \
  "$work/seed.json" "$work/audit"

peak="$(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$LIFTGATE_PID/status" 2>/dev/null || true)"
log "Peak memory of liftgate serve during the demo: ${peak:-unknown}"
log "Stopping liftgate (SIGTERM drains in-flight work)"
kill -TERM "$LIFTGATE_PID"
wait "$LIFTGATE_PID" && log "liftgate exited 0" || { log "liftgate exited $?"; exit 1; }
LIFTGATE_PID=

log "Verifying the audit trail's hash chain and signed checkpoints"
"$(liftgate_bin)" audit public-key --config "$work/liftgate.yaml" > "$work/audit-public-key.pem"
"$(liftgate_bin)" audit verify --source "$work/audit" --public-key "$work/audit-public-key.pem"
log "Done. Logs, state and audit records are in $work"
