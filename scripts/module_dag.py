#!/usr/bin/env python3
"""The runtime's modules in reading order: fails on an import back up the order.

Every `crate::module` path in a module's files (code, tests and doc links alike) is an edge
from that module to the one named. The modules must form the order below, each using only
those before it, so a reader can learn them top to bottom (docs/design.md, "The runtime").
A module missing from the order, an edge to a later module, or a cycle fails the check.

    python3 scripts/module_dag.py
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime", "src")

# Lowest first: each may use only the ones before it.
ORDER = [
    "sync",
    "naming",
    "config",
    "global",
    "binding",
    "instrumentation",
    "principal",
    "health",
    "server",
    "metrics",
    "tracing",
    "site",
    "catalog",
    "logs",
    "http_client",
    "sdk",
    "testing",
    "lib",
]


def modules() -> dict[str, list[str]]:
    """Each top-level module of runtime/src with its files."""
    found: dict[str, list[str]] = {}
    for directory, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(directory, name)
                top = os.path.relpath(path, ROOT).split(os.sep)[0].removesuffix(".rs")
                found.setdefault(top, []).append(path)
    return found


def main() -> int:
    found = modules()
    problems = [f"module `{m}` is not in scripts/module_dag.py's ORDER" for m in sorted(found)
                if m not in ORDER]
    rank = {m: i for i, m in enumerate(ORDER)}
    edges = 0
    for module, paths in sorted(found.items()):
        for path in paths:
            with open(path, encoding="utf-8") as file:
                for number, line in enumerate(file, 1):
                    for used in re.findall(r"crate::([a-z_]+)", line):
                        if used == module or used not in found:
                            continue
                        edges += 1
                        if rank.get(used, -1) > rank.get(module, -1):
                            where = os.path.relpath(path, os.path.join(ROOT, "..", ".."))
                            problems.append(
                                f"{where}:{number}: `{module}` uses `crate::{used}`, "
                                f"which comes after it in the reading order")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"runtime modules: {len(found)} in reading order, {edges} `crate::` uses, none back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
