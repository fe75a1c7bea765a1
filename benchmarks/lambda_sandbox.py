"""What a Lambda environment's Python sees, rebuilt on this machine: the staged asset (as `/var/task`, read-only)
and the packages the managed runtime and the Powertools layer provide, linked from this venv.

Used by the asset tests (tests/infra/test_lambda_asset.py) and the cold-start benchmark.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import stat
import sys
from pathlib import Path
from types import ModuleType

LAMBDA_ASSET_PY = Path(__file__).resolve().parent.parent / "stacks" / "lambda_asset.py"

# What the Lambda gets without our asset: the runtime's boto3 and the Powertools layer (with pydantic).
RUNTIME_AND_LAYER = (
    "aws-lambda-powertools",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
    "aws-xray-sdk",
    "wrapt",
)


def runtime_and_layer_dir(root: Path) -> str:
    """A directory with only what the runtime and the Powertools layer provide, linked from this venv."""
    root.mkdir(exist_ok=True)
    for dist in RUNTIME_AND_LAYER:
        for file in importlib.metadata.distribution(dist).files or []:
            top = file.parts[0]
            if top.endswith((".dist-info", ".pth")) or top in ("..", "bin", "__pycache__"):
                continue
            source = file.locate()
            top_path = Path(str(source)[: str(source).index(top) + len(top)])
            if not (root / top).exists():
                (root / top).symlink_to(top_path)
    return str(root)


def set_read_only(tree: Path, *, read_only: bool = True) -> None:
    """Take write permission off (or give it back to the owner of) every file and directory under `tree`, as
    Lambda's /var/task has none. Root ignores the modes, so a process meant to find the tree read-only also gets
    PYTHONDONTWRITEBYTECODE=1 (`sandbox_env`): CPython then writes no cache either."""
    for current, _dirs, names in os.walk(tree):
        for path in [Path(current, name) for name in names] + [Path(current)]:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            path.chmod(mode & ~0o222 if read_only else mode | 0o200)


def sandbox_env(asset: Path, runtime: str, base: dict[str, str]) -> dict[str, str]:
    """`base` with the Lambda's module path (the asset root, then the runtime and layer) and no bytecode writes;
    run Python with -S so this venv's site-packages is not on the path."""
    return {
        **base,
        "PYTHONPATH": os.pathsep.join([str(asset), runtime]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def lambda_asset_module() -> ModuleType:
    """stacks/lambda_asset.py (the staging, plain Python) loaded without `stacks/__init__.py`, which starts
    aws-cdk-lib on Node.js: a benchmark stages the asset as the synth does without needing either."""
    name = "_model_router_lambda_asset"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, LAMBDA_ASSET_PY)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is made
        spec.loader.exec_module(module)
    return sys.modules[name]
