"""Stage the Lambda code directory without Docker: `lambdas/` plus the bundled routing config.

The router reads `router/bundled_routing.json` when AppConfig is unreachable at cold start,
so the file chosen in context is copied there. Staging is deterministic (sorted walk, bytes
copied, no caches, no tests), so the CDK asset hash changes only when code or config does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

BUNDLED_CONFIG_PATH = "router/bundled_routing.json"
_SKIP_DIRS = frozenset({"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_SKIP_SUFFIXES = (".pyc", ".pyo")
_SKIP_NAMES = frozenset({".DS_Store"})


def _source_files(source_dir: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(source_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(names):
            if name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES):
                continue
            files.append(Path(root, name).relative_to(source_dir))
    return files


def _write(root: Path, rel: Path, data: bytes) -> None:
    path = root / rel
    for parent in reversed(path.relative_to(root).parents[:-1]):
        (root / parent).mkdir(exist_ok=True)
        (root / parent).chmod(0o755)
    path.write_bytes(data)
    path.chmod(0o644)


def _copy(src: Path, root: Path, rel: Path) -> None:
    _write(root, rel, src.read_bytes())


def stage_lambda_asset(*, source_dir: Path, routing_config_file: Path, staging_root: Path) -> Path:
    """Copy `source_dir` and the routing config into a content-addressed directory; return it."""
    files = [f for f in _source_files(source_dir) if f.as_posix() != BUNDLED_CONFIG_PATH]
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.as_posix().encode() + b"\0" + (source_dir / rel).read_bytes() + b"\0")
    config_bytes = routing_config_file.read_bytes()
    digest.update(BUNDLED_CONFIG_PATH.encode() + b"\0" + config_bytes)

    target = staging_root / f"lambdas-{digest.hexdigest()[:20]}"
    if target.is_dir():
        return target
    staging_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".staging-", dir=staging_root))
    try:
        for rel in files:
            _copy(source_dir / rel, scratch, rel)
        _write(scratch, Path(BUNDLED_CONFIG_PATH), config_bytes)
        # Lambda runs code as another user: directories 755, files 644, whatever the umask.
        scratch.chmod(0o755)
        try:
            scratch.rename(target)
        except OSError:  # another synth staged the same content first
            if not target.is_dir():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target
