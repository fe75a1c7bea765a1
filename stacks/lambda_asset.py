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

Bytecode: `/var/task` and the layers are read-only in Lambda, so CPython cannot write its cache there and
compiles every module of the asset from source at every cold start. After copying, the staged tree is compiled
(`compileall`, `__pycache__/*.cpython-3XY.pyc`) by an interpreter of the target's own major.minor, as
unchecked-hash pycs: the zip's timestamps are not the sources', so timestamp pycs would be stale, and an
immutable asset needs no source check. The interpreter: this one if it matches the target, else
$MODEL_ROUTER_PYC_PYTHON, else `python3.13` (the target's version) on PATH, each checked by running it; with none
the asset is staged without bytecode and stderr says so once. The compiler's exact version is part of the staging
hash, and its output is byte-identical across runs (file names inside the code objects are the fixed
`/var/task/...`; one worker), so the CDK asset hash still moves only with the inputs.
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
PYC_PYTHON_ENV = "MODEL_ROUTER_PYC_PYTHON"
TASK_ROOT = "/var/task"  # where Lambda unpacks the asset: the file names compiled into the code objects


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


_PROBE = (
    "import sys, importlib.util; "
    "print(f'{sys.version_info[0]}.{sys.version_info[1]}', sys.version.split()[0], "
    "sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER.hex())"
)
_COMPILE = (
    "import compileall, sys; from py_compile import PycInvalidationMode; "
    "sys.exit(0 if compileall.compile_dir(sys.argv[1], ddir=sys.argv[2], quiet=1, workers=1, "
    "invalidation_mode=PycInvalidationMode.UNCHECKED_HASH) else 1)"
)


@dataclass(frozen=True)
class BytecodeCompiler:
    """An interpreter that writes pycs the target can load: same major.minor, so same magic number and cache tag."""

    python: str
    version: str  # e.g. 3.13.0: a patch release may compile differently, so it is part of the staging hash
    cache_tag: str  # cpython-313: the pyc file names
    magic: str

    def identity(self) -> bytes:
        return f"bytecode:{self.version}:{self.cache_tag}:{self.magic}:unchecked-hash:{TASK_ROOT}".encode()


def _probe(python: str, python_version: str) -> tuple[BytecodeCompiler | None, str]:
    try:
        done = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return None, f"{python} does not run ({exc.strerror or exc})"
    except subprocess.TimeoutExpired:
        return None, f"{python} did not answer within 60 s"
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) != 4:
        said = (done.stderr or done.stdout).strip().splitlines()
        return None, f"{python} does not run ({said[0] if said else f'exit status {done.returncode}'})"
    if fields[0] != python_version or fields[2] != f"cpython-{python_version.replace('.', '')}":
        return None, f"{python} is {fields[2]} ({fields[1]}), not CPython {python_version}"
    return BytecodeCompiler(python, fields[1], fields[2], fields[3]), ""


def find_bytecode_compiler(python_version: str) -> tuple[BytecodeCompiler | None, str]:
    """An interpreter whose major.minor is `python_version`, or None and why none was found: this interpreter,
    else the one $MODEL_ROUTER_PYC_PYTHON names, else `python<version>` on PATH."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python_version:
        return _probe(sys.executable, python_version)
    tried = [f"the synthesizing Python is {sys.version.split()[0]}"]
    named = os.environ.get(PYC_PYTHON_ENV, "").strip()
    if named:
        found, why = _probe(shutil.which(named) or named, python_version)
        if found:
            return found, ""
        tried.append(f"{PYC_PYTHON_ENV}={named}: {why}")
    on_path = shutil.which(f"python{python_version}")
    if on_path is None:
        tried.append(f"no python{python_version} on PATH")
    else:
        found, why = _probe(on_path, python_version)
        if found:
            return found, ""
        tried.append(why)
    return None, "; ".join(tried)


def _compile_bytecode(root: Path, compiler: BytecodeCompiler) -> None:
    """Write unchecked-hash pycs beside every module under `root`, named as Lambda will find them."""
    done = subprocess.run(
        [compiler.python, "-I", "-c", _COMPILE, str(root), TASK_ROOT], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:  # a file this Python cannot compile (it would not import either): the rest still counts
        print(
            f"model-router: some files of the Lambda asset did not compile with Python {compiler.version}; "
            f"they will be compiled at each cold start:\n{(done.stdout + done.stderr).strip()[-2000:]}",
            file=sys.stderr,
        )
    for current, _dirs, names in os.walk(root):
        if Path(current).name == "__pycache__":
            Path(current).chmod(0o755)
            for name in names:
                Path(current, name).chmod(0o644)


def _say_no_bytecode(platform: Platform, why: str) -> None:
    print(
        f"model-router: the Lambda asset is staged WITHOUT bytecode: no Python {platform.python_version} to compile "
        f"it with ({why}). Lambda cannot write a bytecode cache in /var/task, so every cold start compiles each "
        f"module from source. Synthesize with Python {platform.python_version}, or set {PYC_PYTHON_ENV} to a "
        f"Python {platform.python_version} interpreter.",
        file=sys.stderr,
    )


def stage_lambda_asset(
    *,
    source_dir: Path,
    routing_config: bytes,
    staging_root: Path,
    platform: Platform | None = LAMBDA_ARM64,
    deps_cache: Path | None = None,
    bytecode: bool = True,
) -> Path:
    """Copy `source_dir`, the routing configuration (the document as deployed, bundled as
    BUNDLED_CONFIG_PATH) and the installed requirements into a content-addressed directory; return it.
    `platform=None` skips the requirements (a source dir without any) and the bytecode. With `bytecode`, the
    staged tree gets pycs for the platform's Python when an interpreter of that version is found (else stderr
    says it is staged without)."""
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

    compiler = None
    if bytecode and platform is not None:
        compiler, why = find_bytecode_compiler(platform.python_version)
        if compiler is None:
            _say_no_bytecode(platform, why)
        else:  # with or without bytecode, and by which compiler, are different assets
            digest.update(compiler.identity() + b"\0")

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
        if compiler is not None:
            _compile_bytecode(scratch, compiler)
        # Lambda runs code as another user: directories 755, files 644 (755 if executable), whatever the umask.
        scratch.chmod(0o755)
    return target
