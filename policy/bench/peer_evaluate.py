"""Replays a workload (peer_workload.py) through terraform-aws-sso-elevator's own request-time
decision, `access_control.make_decision_on_access_request`, times it, and checks that
Liftgate's decisions on the same queries (`evaluate_bench --decisions`) are the same.

    python peer_evaluate.py --peer-src PATH/src --workload workload-200.json --ours ours-200.json

Exits non-zero when any decision differs. The one accepted difference is upstream's known
nondeterminism (shared/reference/sso-elevator.md §2.3): when one affected statement grants
without approval and another grants self-approval, upstream's reason depends on set iteration
order, while Liftgate always names the first rule in file order that grants (rule 2 before
rule 3). Such queries are counted and reported, and both sides must still grant.
"""

import argparse
import json
import os
import sys
import time

# Upstream reads its settings from the environment when its modules are imported; these are
# the values of its own test suite (src/tests/conftest.py). Nothing here calls AWS.
PEER_ENVIRONMENT = {
    "schedule_policy_arn": "x",
    "revoker_function_arn": "x",
    "revoker_function_name": "x",
    "schedule_group_name": "x",
    "post_update_to_slack": "true",
    "send_dm_if_user_not_in_channel": "true",
    "slack_channel_id": "x",
    "slack_bot_token": "x",
    "sso_instance_arn": "x",
    "log_level": "ERROR",
    "slack_app_log_level": "ERROR",
    "s3_bucket_for_audit_entry_name": "x",
    "s3_bucket_prefix_for_partitions": "x",
    "sso_elevator_scheduled_revocation_rule_name": "x",
    "request_expiration_hours": "8",
    "approver_renotification_initial_wait_time": "15",
    "approver_renotification_backoff_multiplier": "2",
    "max_permissions_duration_time": "24",
    "secondary_fallback_email_domains": "[]",
    "permission_duration_list_override": "[]",
    "config_bucket_name": "x",
    "cache_enabled": "false",
    "statements": "[]",
    "group_statements": "[]",
    "AWS_DEFAULT_REGION": "us-east-1",
    "LOG_LEVEL": "ERROR",
}

DECISION_NAMES = {
    "ApprovalNotRequired": "approval_not_required",
    "SelfApproval": "self_approval",
    "RequiresApproval": "requires_approval",
    "NoApprovers": "no_approvers",
    "NoStatements": "no_statements",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-src", required=True, help="the src/ folder of an upstream checkout")
    parser.add_argument("--workload", required=True)
    parser.add_argument("--ours", help="Liftgate's decisions on the same workload, to compare")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "2")))
    args = parser.parse_args()

    for key, value in PEER_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    sys.path.insert(0, args.peer_src)
    import access_control
    import config as peer_config

    with open(args.workload) as file:
        workload = json.load(file)
    started = time.perf_counter()
    statements = frozenset(peer_config.parse_statement(raw) for raw in workload["statements"])
    load_ms = (time.perf_counter() - started) * 1e3
    queries = [(q["requester"], q["permission_set"], q["account_id"]) for q in workload["queries"]]
    decide = access_control.make_decision_on_access_request

    decisions = [decide(statements, requester, permission_set_name=ps, account_id=account) for requester, ps, account in queries]

    evaluations = 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for requester, ps, account in queries:
            decide(statements, requester, permission_set_name=ps, account_id=account)
        evaluations += len(queries)
    wall = time.perf_counter() - started
    print(
        f"{args.workload}: upstream, {len(statements)} distinct statements (parsed in {load_ms:.2f} ms), "
        f"{len(queries)} queries; {evaluations} evaluations in {wall:.2f} s = {evaluations / wall:.0f} per second "
        f"({wall * 1e9 / evaluations:.0f} ns each)"
    )

    if args.ours:
        with open(args.ours) as file:
            ours = json.load(file)
        sys.exit(compare(statements, queries, decisions, ours))


def compare(statements, queries, decisions, ours) -> int:  # noqa: ANN001
    from statement import get_affected_statements

    if len(ours) != len(decisions):
        print(f"MISMATCH: {len(ours)} decisions from Liftgate, {len(decisions)} from upstream")
        return 1
    same = order_dependent = 0
    mismatches = []
    for index, ((requester, ps, account), theirs, mine) in enumerate(zip(queries, decisions, ours)):
        their_name = DECISION_NAMES[theirs.reason.value]
        their_approvers = sorted(theirs.approvers)
        if their_name == mine["decision"] and their_approvers == mine["approvers"]:
            same += 1
            continue
        names = {their_name, mine["decision"]}
        if names == {"approval_not_required", "self_approval"}:
            affected = get_affected_statements(statements, account, ps)
            anr = any(s.approval_is_not_required for s in affected) and not any(
                s.approval_is_not_required is False for s in affected
            )
            self_ok = any(requester in s.approvers and s.allow_self_approval for s in affected) and not any(
                requester in s.approvers and s.allow_self_approval is False for s in affected
            )
            if anr and self_ok:
                order_dependent += 1
                continue
        only_theirs = sorted(set(their_approvers) - set(mine["approvers"]))[:5]
        only_mine = sorted(set(mine["approvers"]) - set(their_approvers))[:5]
        mismatches.append(
            f"query {index} ({account}, {ps}, {requester}): upstream {their_name}, Liftgate {mine['decision']}; "
            f"approvers only upstream names {only_theirs}, only Liftgate {only_mine}"
        )
    print(
        f"decisions: {same} identical, {order_dependent} granted by both where upstream's reason "
        f"depends on set order, {len(mismatches)} different"
    )
    for line in mismatches[:20]:
        print("MISMATCH:", line)
    return 1 if mismatches else 0


if __name__ == "__main__":
    main()
