"""Walks one request through Liftgate's signed webhook API: create, approve, granted (checked in
Identity Center), automatic revocation at the end (checked again), and the audit trail."""
import glob
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

import boto3

base, client_id, secret, endpoint, seed_file, audit_dir = sys.argv[1:7]
seed = json.load(open(seed_file))
sso = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                            region_name="us-east-1").client("sso-admin", endpoint_url=endpoint)


def call(method, path, body=None):
    """A v2-signed call: the signature covers the method, path and query, a nonce new for
    every call, and the raw body."""
    raw = b"" if body is None else json.dumps(body).encode()
    timestamp = str(int(time.time()))
    nonce = uuid.uuid4().hex
    base_string = f"v2:{timestamp}:{nonce}:{method}:{path}:".encode() + raw
    digest = hmac.new(secret.encode(), base_string, hashlib.sha256).hexdigest()
    request = urllib.request.Request(base + path, data=raw if body is not None else None, method=method, headers={
        "Content-Type": "application/json", "X-Liftgate-Client": client_id,
        "X-Liftgate-Timestamp": timestamp, "X-Liftgate-Nonce": nonce,
        "X-Liftgate-Signature": "v2=" + digest,
    })
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def assignments(account, permission_set):
    found = sso.list_account_assignments(InstanceArn=seed["instance_arn"], AccountId=account,
                                         PermissionSetArn=seed["permission_sets"][permission_set])
    return [a for a in found["AccountAssignments"] if a["PrincipalType"] == "USER"]


def step(text):
    print(f"\n\033[1m--> {text}\033[0m", flush=True)


account = seed["accounts"]["Production"]
dev_id = seed["users"]["dev@example.com"]

step("A forged call is refused")
secret_backup, secret = secret, "not-the-secret"
status, body = call("POST", "/api/v1/requests", {"requester": "dev@example.com"})
secret = secret_backup
print(f"    HTTP {status}: {body['error']['code']}")

step(f"dev@example.com asks for AdministratorAccess on Production for {os.environ.get('DEMO_GRANT_DURATION', '30s')}")
status, created = call("POST", "/api/v1/requests", {
    "requester": "dev@example.com", "account_id": account, "permission_set": "AdministratorAccess",
    "duration": os.environ.get("DEMO_GRANT_DURATION", "30s"), "reason": "INC-1234: restart the stuck payment workers"})
print(f"    HTTP {status}: request {created['id']} is {created['status']} "
      f"({created['decision']}; approvers: {', '.join(created['approvers'])})")

step("dev@example.com tries to approve their own request")
status, body = call("POST", f"/api/v1/requests/{created['id']}/approve", {"approver": "dev@example.com"})
print(f"    HTTP {status}: {body['error']['message']}")

step("lead@example.com approves")
status, approved = call("POST", f"/api/v1/requests/{created['id']}/approve", {"approver": "lead@example.com"})
print(f"    HTTP {status}: request is {approved['status']}, ends at {approved.get('ends_at')}")
rows = assignments(account, "AdministratorAccess")
print(f"    Identity Center: {len(rows)} assignment(s) of AdministratorAccess on Production "
      f"for user {dev_id}: {any(r['PrincipalId'] == dev_id for r in rows)}")

step("Active grants")
status, grants = call("GET", "/api/v1/grants?active=true")
for grant in grants["grants"]:
    print(f"    {grant['id']}: {grant['requester']} {grant.get('permission_set', grant.get('group_id'))} on {grant.get('account_id', '')} until {grant['ends_at']} ({grant['status']})")

step("Waiting for the end of the grant; the sweeper revokes it on time")
deadline = time.time() + 90
while time.time() < deadline:
    status, current = call("GET", f"/api/v1/requests/{created['id']}")
    if current["status"] == "ended":
        break
    time.sleep(2)
print(f"    request is {current['status']}: {current.get('status_reason')}")
rows = assignments(account, "AdministratorAccess")
print(f"    Identity Center: {len(rows)} assignment(s) left")

step("Audit trail (file sink)")
time.sleep(2)
records = [json.load(open(path)) for path in glob.glob(os.path.join(audit_dir, "*/*/*/*.json"))]
for record in sorted(records, key=lambda r: r["timestamp"]):
    if record["liftgate_request_id"] == created["id"]:
        print(f"    {record['time']}  {record['event']:<9} channel={record['channel']:<9} "
              f"approver={record['approver_email']}")
if current["status"] != "ended" or rows:
    sys.exit("the grant was not revoked on time")
