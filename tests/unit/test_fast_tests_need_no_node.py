"""`make test-fast` runs every test but the infrastructure ones on a machine without Node.js (the README says so).

aws-cdk-lib runs on the jsii runtime, which needs Node: importing the CDK app (`stacks`) or the CDK itself fails
without it. So no test outside tests/infra may import them, directly or through the project's own modules it
imports, at collection or at run time (an import inside a test function counts too). A static walk of the import
graph proves it on every run, Node or not, in under a second.
"""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
NEEDS_NODE = frozenset({"aws_cdk", "cdk_nag", "constructs", "jsii", "stacks"})
FIRST_PARTY = frozenset(
    {
        "router",
        "routing_engine",
        "failover_controller",
        "config_validator",
        "labeller",
        "scorer_trainer",
        "aws_adapters",
        "local",
        "tools",
        "benchmarks",
        "tests",
    }
)


IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w.]+(?:[ \t]*,[ \t]*[\w.]+)*)", re.M)
FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\w[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)


@cache
def imported_names(path: Path) -> frozenset[str]:
    """Every module `path` imports, anywhere in it (`from a.b import c` gives a.b and a.b.c). A regular expression
    rather than the AST: ten times faster, and a false match (an import quoted in a docstring) only errs strict."""
    text = path.read_text()
    names: set[str] = set()
    for match in IMPORT.finditer(text):
        names.update(name.strip() for name in match.group(1).split(","))
    for match in FROM_IMPORT.finditer(text):
        module, imported = match.group(1), match.group(2).split("#")[0].strip("() \n")
        names.add(module)
        for alias in imported.replace("\n", " ").split(","):
            if alias.split():
                names.add(f"{module}.{alias.split()[0]}")
    return frozenset(names)


@cache
def source_of(module: str) -> Path | None:
    """The file of a first-party module, or None when `module` names no module (an attribute of one)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def node_imports(start: Path) -> list[str]:
    """The chains of imports from `start` that end in a module that needs Node."""
    found: list[str] = []
    seen: set[Path] = set()
    stack = [(start, (str(start.relative_to(TESTS.parent)),))]
    while stack:
        path, chain = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in sorted(imported_names(path)):
            top = name.split(".")[0]
            if top in NEEDS_NODE:
                found.append(" -> ".join((*chain, name)))
            elif top in FIRST_PARTY and (source := source_of(name)) is not None:
                stack.append((source, (*chain, name)))
    return found


def test_no_test_outside_the_infrastructure_tier_imports_the_cdk():
    files = [p for p in TESTS.rglob("*.py") if "infra" not in p.relative_to(TESTS).parts]
    assert len(files) > 50  # the walk saw the suite, not an empty folder

    chains = [chain for path in sorted(files) for chain in node_imports(path)]

    assert chains == [], "these need Node.js, so `make test-fast` cannot run them:\n" + "\n".join(chains)
