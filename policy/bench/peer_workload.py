"""Generates a rule-evaluation workload from terraform-aws-sso-elevator's own statement generator.

The statements come from upstream's Hypothesis strategy `tests.strategies.statement_dict()`
(fivexl/terraform-aws-sso-elevator, src/tests/strategies.py), drawn with a fixed seed and kept
when upstream's own `config.parse_statement` accepts them (upstream fails its start-up on any
other). The queries are drawn from what those statements name, so most of them match some
statement, with a share of misses.

One change is made to what the strategy yields: each email is written the way upstream
normalises it (pydantic's EmailStr: internationalised domains in Unicode), lower-cased. Liftgate
compares emails case-insensitively (docs/reference.md §3); upstream lower-cases only the domain
and compares the rest exactly (shared/reference/sso-elevator.md §2.3). On such input the two
agree, so the decisions can be compared one for one. Statements naming an email whose domain has
a combining mark (a few internationalised TLDs, such as .சிங்கப்பூர்) are left out, as upstream's
rejects are: Liftgate's email check takes letters, digits and hyphens in domain labels.

    python peer_workload.py --peer-src PATH/src --statements 200 --out workload-200.json
"""

import argparse
import json
import os
import random
import sys
import unicodedata
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-src", required=True, help="the src/ folder of an upstream checkout")
    parser.add_argument("--statements", type=int, required=True)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    sys.path.insert(0, args.peer_src)
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    from hypothesis import HealthCheck, Phase, given, seed, settings

    import config as peer_config
    from pydantic import EmailStr, TypeAdapter
    from tests import strategies

    email_adapter = TypeAdapter(EmailStr)

    def normalise(email: str) -> str:
        normal = email_adapter.validate_python(email).lower()
        if any(unicodedata.category(c).startswith("M") for c in normal.rpartition("@")[2]):
            raise ValueError("a combining mark in the domain")
        return normal

    statements: list[dict] = []

    # Hypothesis is a test-case generator; run as one here, it hands every example it draws to
    # this function. Only the generate phase runs (no shrinking, no example database), with a
    # fixed seed, so the same versions give the same statements.
    @seed(args.seed)
    @settings(
        max_examples=args.statements * 3,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategies.statement_dict())
    def collect(raw: dict) -> None:
        if len(statements) >= args.statements:
            return
        try:
            raw = normalise_emails(raw, normalise)
            parsed = peer_config.parse_statement(raw)
        except Exception:  # noqa: BLE001 - upstream refuses it at start-up: not a valid config
            return
        if set(parsed.approvers) != set(as_list(raw.get("Approvers", []))):
            return  # the normal form is not a fixed point; leave such rare emails out
        statements.append(raw)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collect()
    if len(statements) < args.statements:
        sys.exit(f"only {len(statements)} valid statements were generated")

    rng = random.Random(args.seed)
    queries = [draw_query(rng, statements) for _ in range(args.queries)]
    with open(args.out, "w") as out:
        json.dump({"statements": statements, "queries": queries}, out, indent=None, separators=(",", ":"))
        out.write("\n")


def normalise_emails(raw: dict, normalise) -> dict:  # noqa: ANN001
    raw = dict(raw)
    approvers = raw.get("Approvers")
    if isinstance(approvers, str):
        raw["Approvers"] = normalise(approvers)
    elif isinstance(approvers, list):
        raw["Approvers"] = [normalise(approver) for approver in approvers]
    return raw


def as_list(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def draw_query(rng: random.Random, statements: list[dict]) -> dict:
    """A request for an account and permission set some statement names (a wildcard stands for
    a fresh name), by one of that statement's approvers, another statement's, or an outsider;
    one query in ten names nothing the rules mention."""
    fresh_account = f"{rng.randrange(10**12):012d}"
    fresh_set = f"Set{rng.randrange(10**6)}"
    statement: dict = {}
    if rng.random() < 0.1:
        account_id, permission_set = fresh_account, fresh_set
    else:
        statement = rng.choice(statements)
        accounts = [a for a in as_list(statement["Resource"]) if a != "*"]
        sets = [p for p in as_list(statement["PermissionSet"]) if p != "*"]
        account_id = rng.choice(accounts) if accounts and as_list(statement["Resource"]) != ["*"] else fresh_account
        permission_set = rng.choice(sets) if sets and as_list(statement["PermissionSet"]) != ["*"] else fresh_set
    roll = rng.random()
    own = as_list(statement.get("Approvers", []))
    if roll < 0.4 and own:
        requester = rng.choice(own)
    elif roll < 0.7:
        everyone = [a for s in statements for a in as_list(s.get("Approvers", []))]
        requester = rng.choice(everyone) if everyone else "requester@corp.com"
    else:
        requester = "requester@corp.com"
    return {"account_id": account_id, "permission_set": permission_set, "requester": requester}


if __name__ == "__main__":
    main()
