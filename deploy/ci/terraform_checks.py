#!/usr/bin/env python3
"""What can be checked of the Terraform module without a Terraform binary:

  terraform_checks.py FILE...

- every .tf file (and tfvars fixture) parses with python-hcl2;
- in the module (deploy/terraform), every var.X is declared in variables.tf, every local.X is
  defined in a locals block, every declared variable is used, and every output has a
  description;
- the example root module passes every variable the module requires, and only known ones.
"""

import re
import sys
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "deploy/terraform"


def parse(path):
    with open(path) as handle:
        return hcl2.load(handle)


def unquote(text):
    """python-hcl2 8 keeps the quotes of labels and string values."""
    if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def main(files):
    problems = []
    parsed = {}
    for name in files:
        try:
            parsed[Path(name).resolve()] = parse(name)
        except Exception as error:  # noqa: BLE001 - any parse failure is the finding
            problems.append(f"{name}: does not parse: {str(error).splitlines()[0]}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1

    module_files = sorted(MODULE.glob("*.tf"))
    declared, locals_defined, required = {}, set(), set()
    outputs = []
    text = ""
    for path in module_files:
        tree = parse(path)
        text += path.read_text() + "\n"
        for block in tree.get("variable", []):
            for name, body in block.items():
                declared[unquote(name)] = body
                if "default" not in body:
                    required.add(unquote(name))
        for block in tree.get("locals", []):
            locals_defined.update(block.keys())
        for block in tree.get("output", []):
            outputs.extend((unquote(k), v) for k, v in block.items())
    used_vars = set(re.findall(r"\bvar\.([a-z0-9_]+)", text))
    used_locals = set(re.findall(r"\blocal\.([a-z0-9_]+)", text))
    for name in sorted(used_vars - set(declared)):
        problems.append(f"deploy/terraform uses var.{name}, which variables.tf does not declare")
    for name in sorted(set(declared) - used_vars):
        problems.append(f"deploy/terraform/variables.tf declares {name}, which nothing uses")
    for name in sorted(used_locals - locals_defined):
        problems.append(f"deploy/terraform uses local.{name}, which no locals block defines")
    for name, body in declared.items():
        if not body.get("description"):
            problems.append(f"variable {name} has no description")
    for name, body in outputs:
        if not body.get("description"):
            problems.append(f"output {name} has no description")

    for path in sorted((MODULE / "examples").glob("*/main.tf")):
        for block in parse(path).get("module", []):
            for name, body in block.items():
                name = unquote(name)
                if unquote(body.get("source")) != "../..":
                    continue
                given = set(body) - {"source", "version", "providers", "depends_on", "count", "for_each", "__is_block__"}
                for missing in sorted(required - given):
                    problems.append(f"{path.relative_to(ROOT)}: module {name} lacks the required variable {missing}")
                for unknown in sorted(given - set(declared)):
                    problems.append(f"{path.relative_to(ROOT)}: module {name} sets {unknown}, which the module does not declare")

    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"terraform: {len(files)} files parse; module references and the example are consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
