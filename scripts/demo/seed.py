"""Seeds a moto server with a small organization for the Liftgate demo.

Prints a JSON object: instance ARN, identity store id, accounts, permission sets, users, group.
"""
import json
import sys

import boto3

endpoint = sys.argv[1]
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
client = lambda service: session.client(service, endpoint_url=endpoint)

organizations = client("organizations")
organizations.create_organization(FeatureSet="ALL")
accounts = {}
for name in ["Production", "Staging", "Sandbox"]:
    status = organizations.create_account(AccountName=name, Email=f"{name.lower()}@example.com")["CreateAccountStatus"]
    accounts[name] = status["AccountId"]

sso = client("sso-admin")
instance = sso.list_instances()["Instances"][0]
instance_arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
permission_sets = {}
for name in ["AdministratorAccess", "ReadOnlyAccess"]:
    created = sso.create_permission_set(InstanceArn=instance_arn, Name=name, SessionDuration="PT1H")
    permission_sets[name] = created["PermissionSet"]["PermissionSetArn"]

identity = client("identitystore")
users = {}
for user_name, given, family in [("dev", "Dana", "Developer"), ("lead", "Lee", "Lead"), ("cto", "Chris", "Officer")]:
    email = f"{user_name}@example.com"
    created = identity.create_user(
        IdentityStoreId=store_id, UserName=email, DisplayName=f"{given} {family}",
        Name={"GivenName": given, "FamilyName": family},
        Emails=[{"Value": email, "Type": "work", "Primary": True}],
    )
    users[email] = created["UserId"]
group = identity.create_group(IdentityStoreId=store_id, DisplayName="Oncall", Description="On-call responders")

print(json.dumps({
    "instance_arn": instance_arn, "identity_store_id": store_id, "accounts": accounts,
    "permission_sets": permission_sets, "users": users, "group_id": group["GroupId"],
}))
