"""Stage the Lambda code directory without Docker: `lambdas/`, the bundled routing config, and the
third-party packages the router needs beyond the runtime (boto3) and the Powertools layer.

The router reads `router/bundled_routing.json` when AppConfig is unreachable at cold start,
so the routing document the stack deploys (the file chosen in context, resolved for the stack's
Region) is written there. `lambdas/requirements.txt` (starlette, uvicorn,
...) is installed at the asset's root (beside `router/`, on every function's path: the router,
the failover controller and the AppConfig validator all import `routing_engine`, which needs `re2`) by pip with
`--platform manylinux_2_28_aarch64
--platform manylinux2014_aarch64 --implementation cp --python-version 3.13 --only-binary=:all:`:
wheels for the Lambda's arm64 / CPython 3.13, fetched through pip's configured index, never
built here. The install is cached (outside the repository, `MODEL_ROUTER_DEPS_CACHE` or
`~/.cache/model-router/lambda-deps`) under a hash of the requirements file and the target, so
repeated synths do not download again and a change to the file re-installs.

Staging is deterministic (sorted walk, bytes copied, no caches, no tests, no console scripts,
pip's `--no-compile`), so the CDK asset hash changes only when code, config or the installed
packages do. Files keep one of two modes: 0755 if the source is executable (`router/run.sh`, the
adapter's start script, must stay executable in the zip), else 0644; directories 0755.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BUNDLED_CONFIG_PATH = "router/bundled_routing.json"
REQUIREMENTS_FILE = "requirements.txt"  # in the source dir: bundled, not copied
_SKIP_DIRS = frozenset({"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_SKIP_SUFFIXES = (".pyc", ".pyo")
_SKIP_NAMES = frozenset({".DS_Store"})
_SKIP_VENDOR_TOP = frozenset({"bin"})  # console scripts carry this machine's interpreter path


@dataclass(frozen=True)
class Platform:
    """What pip installs for. `LAMBDA_ARM64` is the deployed function's; tests also stage for the host."""

    platforms: tuple[str, ...]
    python_version: str
    implementation: str = "cp"

    def pip_args(self) -> list[str]:
        if not self.platforms:  # the host: what `pip install` would pick here
            return []
        args = [arg for tag in self.platforms for arg in ("--platform", tag)]
        return [
            *args,
            "--implementation",
            self.implementation,
            "--python-version",
            self.python_version,
            "--only-binary=:all:",
        ]


LAMBDA_ARM64 = Platform(platforms=("manylinux_2_28_aarch64", "manylinux2014_aarch64"), python_version="3.13")
HOST = Platform(platforms=(), python_version=f"{sys.version_info.major}.{sys.version_info.minor}")


class BundlingError(RuntimeError):
    """pip could not install the Lambda's requirements; the message has pip's own."""


def default_deps_cache() -> Path:
    return Path(os.environ.get("MODEL_ROUTER_DEPS_CACHE") or Path.home() / ".cache" / "model-router" / "lambda-deps")


def _walk(root: Path, *, skip_top: frozenset[str] = frozenset()) -> list[Path]:
    files = []
    for current, dirs, names in os.walk(root):
        top = Path(current) == root
        dirs[:] = sorted(
            d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info") and not (top and d in skip_top)
        )
        for name in sorted(names):
            if name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES):
                continue
            files.append(Path(current, name).relative_to(root))
    return files


def _mode(src: Path) -> int:
    return 0o755 if src.stat().st_mode & 0o111 else 0o644


def _write(root: Path, rel: Path, data: bytes, mode: int = 0o644) -> None:
    path = root / rel
    for parent in reversed(path.relative_to(root).parents[:-1]):
        (root / parent).mkdir(exist_ok=True)
        (root / parent).chmod(0o755)
    path.write_bytes(data)
    path.chmod(mode)


@contextmanager
def _built_in_place(target: Path, prefix: str) -> Iterator[Path]:
    """A scratch directory beside `target` that becomes `target` only when the block completes: a crashed or
    concurrent build never leaves a half-written directory under the name others trust."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield scratch
        try:
            scratch.rename(target)
        except OSError:  # another build produced the same content first
            if not target.is_dir():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def install_requirements(
    requirements: Path,
    *,
    platform: Platform = LAMBDA_ARM64,
    cache_dir: Path | None = None,
    pip: tuple[str, ...] = (sys.executable, "-m", "pip"),
) -> Path:
    """pip-install `requirements` for `platform` into a cached directory keyed by their hash; return it."""
    cache_dir = cache_dir or default_deps_cache()
    key = hashlib.sha256(requirements.read_bytes() + b"\0" + repr(platform).encode()).hexdigest()[:20]
    target = cache_dir / f"deps-{key}"
    if target.is_dir():
        return target
    with _built_in_place(target, ".deps-") as scratch:
        command = [
            *pip,
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--no-input",
            "--target",
            str(scratch),
            *platform.pip_args(),
            "-r",
            str(requirements),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BundlingError(
                f"pip could not install {requirements} for {platform}: "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
    return target


def stage_lambda_asset(
    *,
    source_dir: Path,
    routing_config: bytes,
    staging_root: Path,
    platform: Platform | None = LAMBDA_ARM64,
    deps_cache: Path | None = None,
) -> Path:
    """Copy `source_dir`, the routing configuration (the document as deployed, bundled as
    BUNDLED_CONFIG_PATH) and the installed requirements into a content-addressed directory; return it.
    `platform=None` skips the requirements (a source dir without any)."""
    requirements = source_dir / REQUIREMENTS_FILE
    files = [f for f in _walk(source_dir) if f.as_posix() not in (BUNDLED_CONFIG_PATH, REQUIREMENTS_FILE)]
    vendor_files: list[tuple[Path, Path]] = []  # (path in the asset, the installed file)
    if platform is not None and requirements.is_file():
        vendor_root = install_requirements(requirements, platform=platform, cache_dir=deps_cache)
        vendor_files = [(rel, vendor_root / rel) for rel in _walk(vendor_root, skip_top=_SKIP_VENDOR_TOP)]

    digest = hashlib.sha256()
    for rel in files:
        src = source_dir / rel
        digest.update(rel.as_posix().encode() + b"\0" + oct(_mode(src)).encode() + b"\0" + src.read_bytes() + b"\0")
    config_bytes = routing_config
    digest.update(BUNDLED_CONFIG_PATH.encode() + b"\0" + config_bytes)
    clash = sorted({rel.as_posix() for rel, _ in vendor_files} & {rel.as_posix() for rel in files})
    if clash:
        raise BundlingError(f"{requirements} installs files that lambdas/ already has: {', '.join(clash[:5])}")
    for rel, installed in vendor_files:
        digest.update(f"pkg:{rel.as_posix()}".encode() + b"\0" + installed.read_bytes() + b"\0")

    target = staging_root / f"lambdas-{digest.hexdigest()[:20]}"
    if target.is_dir():
        return target
    with _built_in_place(target, ".staging-") as scratch:
        for rel in files:
            src = source_dir / rel
            _write(scratch, rel, src.read_bytes(), _mode(src))
        _write(scratch, Path(BUNDLED_CONFIG_PATH), config_bytes)
        for rel, installed in vendor_files:
            _write(scratch, rel, installed.read_bytes())
        # Lambda runs code as another user: directories 755, files 644 (755 if executable), whatever the umask.
        scratch.chmod(0o755)
    return target
