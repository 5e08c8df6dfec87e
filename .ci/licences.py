#!/usr/bin/env python3
"""Licence check of the whole dependency tree (`cargo metadata`), with an allow-list.

This product judges other projects' licences by the Apache rules, so its own tree must pass
them too: no GPL, LGPL or AGPL crate anywhere (Apache category X). A crate passes when its
SPDX expression can be satisfied with allowed licences only (`A OR B`: one side; `A AND B`:
both). Exits 1 and names every offending crate otherwise.
"""

import json
import re
import subprocess
import sys

ALLOWED = {
    "MIT", "MIT-0", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause", "ISC",
    "Zlib", "0BSD", "BSL-1.0", "CC0-1.0", "Unlicense", "Unicode-3.0", "Unicode-DFS-2016", "MPL-2.0",
    "bzip2-1.0.6", "OpenSSL", "CDLA-Permissive-2.0",
}
# Crates without a `license` field, checked by hand: name -> licence of their LICENSE file.
KNOWN_UNLABELLED = {}


def split_top(expr, operator):
    """Splits `expr` on `operator` where it is not inside parentheses."""
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(expr):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and expr.startswith(operator, i):
            parts.append(expr[start:i])
            start = i + len(operator)
    return parts + [expr[start:]]


def satisfiable(expr):
    """Whether an SPDX expression can be met with ALLOWED licences (OR binds looser than AND)."""
    expr = expr.replace("/", " OR ").strip()
    alternatives = split_top(expr, " OR ")
    if len(alternatives) > 1:
        return any(satisfiable(a) for a in alternatives)
    conjuncts = split_top(expr, " AND ")
    if len(conjuncts) > 1:
        return all(satisfiable(c) for c in conjuncts)
    if expr.startswith("(") and expr.endswith(")"):
        return satisfiable(expr[1:-1])
    return expr in ALLOWED


def self_test():
    """The check must be able to fail: known verdicts, checked on every run."""
    for expression, verdict in [("GPL-3.0-only", False), ("MIT OR GPL-3.0", True), ("LGPL-2.1-or-later", False),
                                ("(MIT OR Apache-2.0) AND Unicode-3.0", True), ("MIT AND AGPL-3.0", False),
                                ("Apache-2.0/MIT", True)]:
        assert satisfiable(expression) == verdict, f"licence logic is wrong about {expression!r}"


def main():
    self_test()
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"], check=True, capture_output=True, text=True).stdout)
    workspace = set(metadata["workspace_members"])
    problems = []
    count = 0
    for package in metadata["packages"]:
        if package["id"] in workspace:
            continue
        count += 1
        licence = package.get("license") or KNOWN_UNLABELLED.get(package["name"])
        if not licence:
            problems.append(f"{package['name']} {package['version']}: no licence declared")
        elif re.search(r"\b(A|L)?GPL", licence) and not satisfiable(licence):
            problems.append(f"{package['name']} {package['version']}: {licence} (category X)")
        elif not satisfiable(licence):
            problems.append(f"{package['name']} {package['version']}: {licence} is not on the allow-list")
    if problems:
        print("Licence check failed:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"Licence check passed: {count} crates, all under allowed licences.")


if __name__ == "__main__":
    main()
