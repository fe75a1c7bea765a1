"""Docker-free staging of the Lambda code with the bundled routing configuration."""

from pathlib import Path

from stacks.lambda_asset import BUNDLED_CONFIG_PATH, stage_lambda_asset


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _source(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "lambdas"
    (src / "routing_engine").mkdir(parents=True)
    (src / "routing_engine" / "config.py").write_text("X = 1\n")
    (src / "routing_engine" / "__pycache__").mkdir()
    (src / "routing_engine" / "__pycache__" / "config.cpython-311.pyc").write_bytes(b"\0")
    (src / "routing_engine" / "tests").mkdir()
    (src / "routing_engine" / "tests" / "test_x.py").write_text("")
    config = tmp_path / "routing.json"
    config.write_bytes(b'{"models": {}}\n')
    return src, config


def test_stages_code_without_caches_or_tests_and_with_the_bundled_config(tmp_path):
    src, config = _source(tmp_path)  # no router/ package yet: staging must not need it

    staged = stage_lambda_asset(
        source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "out", bytecode=False
    )

    assert _tree(staged) == {"routing_engine/config.py": b"X = 1\n", BUNDLED_CONFIG_PATH: b'{"models": {}}\n'}


def test_same_content_stages_to_the_same_directory(tmp_path):
    src, config = _source(tmp_path)

    first = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "a")
    second = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "b")

    assert first.name == second.name
    assert _tree(first) == _tree(second)


def test_a_config_change_stages_a_new_directory(tmp_path):
    src, config = _source(tmp_path)
    first = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "out")

    config.write_bytes(b'{"models": {"a": 1}}\n')
    second = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "out")

    assert first != second
    assert (second / BUNDLED_CONFIG_PATH).read_bytes() == b'{"models": {"a": 1}}\n'


def test_staged_files_are_readable_by_the_lambda_user(tmp_path):
    src, config = _source(tmp_path)

    staged = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "out")

    assert staged.stat().st_mode & 0o777 == 0o755
    assert (staged / BUNDLED_CONFIG_PATH).stat().st_mode & 0o777 == 0o644


# --- executables, bundled requirements, and an asset that starts -------------------------------

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import pytest  # noqa: E402

from benchmarks.lambda_sandbox import runtime_and_layer_dir, sandbox_env  # noqa: E402
from stacks.lambda_asset import HOST, LAMBDA_ARM64, install_requirements  # noqa: E402
from stacks.settings import REPO_ROOT  # noqa: E402

LAMBDAS = REPO_ROOT / "lambdas"


def test_an_executable_source_file_stays_executable_and_the_others_do_not(tmp_path):
    src, config = _source(tmp_path)
    script = src / "router" / "run.sh"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o700)  # whatever the checkout's umask made of it

    staged = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "out")

    assert (staged / "router" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (staged / "routing_engine" / "config.py").stat().st_mode & 0o777 == 0o644


def test_the_real_start_script_is_executable_in_the_repository():
    assert (LAMBDAS / "router" / "run.sh").stat().st_mode & 0o111


FAKE_PIP = """
import sys, pathlib
args = sys.argv[1:]
target = pathlib.Path(args[args.index("--target") + 1])
requirements = pathlib.Path(args[args.index("-r") + 1]).read_text()
(target / "installed.txt").write_text(requirements + " ".join(args))
pathlib.Path(sys.argv[0]).with_name("calls").open("a").write("1")
"""


def test_requirements_are_installed_once_per_content_and_again_when_they_change(tmp_path):
    fake = tmp_path / "pip.py"
    fake.write_text(FAKE_PIP)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("starlette==1.10.0\n")
    pip = (sys.executable, str(fake))

    first = install_requirements(requirements, platform=LAMBDA_ARM64, cache_dir=tmp_path / "cache", pip=pip)
    again = install_requirements(requirements, platform=LAMBDA_ARM64, cache_dir=tmp_path / "cache", pip=pip)
    requirements.write_text("starlette==1.10.0\nuvicorn==0.54.0\n")
    changed = install_requirements(requirements, platform=LAMBDA_ARM64, cache_dir=tmp_path / "cache", pip=pip)

    assert first == again and changed != first
    assert (tmp_path / "calls").read_text() == "11"  # the second call was served from the cache
    installed = (first / "installed.txt").read_text()
    for arg in (
        "--platform manylinux_2_28_aarch64",
        "--platform manylinux2014_aarch64",
        "--implementation cp",
        "--python-version 3.13",
        "--only-binary=:all:",
        "--no-compile",
    ):
        assert arg in installed


def test_a_requirements_change_changes_the_asset_hash(tmp_path, monkeypatch):
    src, config = _source(tmp_path)
    (src / "requirements.txt").write_text("starlette==1.10.0\n")
    calls = []

    def fake_install(requirements, **_platform_and_cache):
        out = tmp_path / "deps" / str(len(calls))
        (out / "pkg").mkdir(parents=True)
        (out / "pkg" / "__init__.py").write_text(requirements.read_text())
        calls.append(out)
        return out

    monkeypatch.setattr("stacks.lambda_asset.install_requirements", fake_install)
    first = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "out")
    (src / "requirements.txt").write_text("starlette==1.10.1\n")
    second = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "out")

    assert first != second
    assert (second / "pkg" / "__init__.py").read_text() == "starlette==1.10.1\n"
    assert not (second / "requirements.txt").exists()


@pytest.fixture(scope="module")
def host_asset(tmp_path_factory):
    """The real asset, with its requirements installed for this machine instead of arm64."""
    return stage_lambda_asset(
        source_dir=LAMBDAS,
        routing_config=(REPO_ROOT / "config" / "routing.json").read_bytes(),
        staging_root=tmp_path_factory.mktemp("asset"),
        platform=HOST,
    )


def _lambda_path_env(asset: Path, tmp_path: Path) -> dict[str, str]:
    """A handler-based Lambda's module path: the asset root (/var/task), then the runtime's and the layer's packages;
    nothing written beside the asset."""
    return sandbox_env(
        asset,
        runtime_and_layer_dir(tmp_path / "runtime"),
        {"PYDANTIC_DISABLE_PLUGINS": "__all__", "AWS_DEFAULT_REGION": "us-east-1"},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_staged_asset_starts_the_app_with_run_sh_and_answers_ready(host_asset, tmp_path):
    # Given a `python` that sees only the staged asset (run.sh's PYTHONPATH) and the runtime + Powertools layer
    # (-S: no site-packages of this venv, so starlette and uvicorn can only come from the asset)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    (bin_dir / "python").chmod(0o755)
    port = _free_port()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": str(host_asset),
        "LAMBDA_RUNTIME_DIR": runtime_and_layer_dir(tmp_path / "runtime"),
        "AWS_LWA_PORT": str(port),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "model-router-test",
        "APPCONFIG_APPLICATION_ID": "app0001",
        "APPCONFIG_ENVIRONMENT_ID": "env0001",
        "APPCONFIG_PROFILE_ID": "prof001",
        "APPCONFIG_FLAGS_ENVIRONMENT_ID": "env0002",
        "APPCONFIG_FLAGS_PROFILE_ID": "prof002",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "ModelRouter",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    server = subprocess.Popen(
        [str(host_asset / "router" / "run.sh")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        # When the adapter's readiness check polls /ready
        deadline, status, error = time.monotonic() + 30, None, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                    status = response.status
                    break
            except OSError as exc:
                error = exc
                time.sleep(0.2)
        output = b""
        if status is None:
            server.terminate()
            output = server.communicate(timeout=10)[0]
        # Then the app is up, from the staged files alone
        assert status == 200, f"no /ready answer ({error}); server said:\n{output.decode(errors='replace')[-3000:]}"
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=10)


def test_the_staged_asset_imports_its_http_stack_from_itself(host_asset, tmp_path):
    code = (
        "import starlette, uvicorn, re2, router.http.app as app; "
        "assert callable(app.create_app_from_env); "
        "print(starlette.__file__); print(uvicorn.__file__); print(re2.__file__)"
    )
    env = _lambda_path_env(host_asset, tmp_path)

    result = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert all(line.startswith(str(host_asset)) for line in result.stdout.split())


@pytest.mark.parametrize(
    "handler", ["config_validator.handler", "failover_controller.handler", "labeller.handler", "scorer_trainer.handler"]
)
def test_every_handler_based_function_imports_from_the_asset_and_the_layer_alone(host_asset, tmp_path, handler):
    # Given only what a handler-based Lambda has on its path: the asset root (/var/task) and the layer (/opt/python)
    env = _lambda_path_env(host_asset, tmp_path)
    # When its handler module is imported, then it imports (routing_engine's re2 included)
    result = subprocess.run([sys.executable, "-S", "-c", f"import {handler}"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- bytecode: /var/task is read-only, so the asset brings its own -------------------------------

import importlib.util  # noqa: E402

from stacks.lambda_asset import PYC_PYTHON_ENV, Platform, find_bytecode_compiler  # noqa: E402

HOST_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER_VERSION = "3.13" if HOST_VERSION != "3.13" else "3.12"  # a target this interpreter cannot compile for


def _pyc_flags(pyc: Path) -> tuple[bytes, int, bytes]:
    """(magic number, flags, source hash) of a PEP 552 header; flags 0b01 = hash-based, source not checked."""
    header = pyc.read_bytes()[:16]
    return header[:4], int.from_bytes(header[4:8], "little"), header[8:16]


def test_with_a_python_of_the_target_version_every_module_gets_an_unchecked_hash_pyc(host_asset):
    sources = sorted(host_asset.rglob("*.py"))
    assert len(sources) > 100  # ours and the bundled packages (starlette, uvicorn, anyio, ...)

    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))  # the name this interpreter looks for
        assert pyc.is_file(), f"no bytecode for {source.relative_to(host_asset)}"
        magic, flags, source_hash = _pyc_flags(pyc)
        assert (magic, flags) == (importlib.util.MAGIC_NUMBER, 0b01), source
        assert source_hash == importlib.util.source_hash(source.read_bytes()), source
        assert pyc.stat().st_mode & 0o777 == 0o644 and pyc.parent.stat().st_mode & 0o777 == 0o755


def test_the_app_imports_from_the_staged_bytecode_without_compiling_a_module(host_asset, tmp_path):
    # Given the asset's path as in Lambda, and nothing written beside it (as a read-only /var/task)
    env = _lambda_path_env(host_asset, tmp_path)
    # When the app and the HTTP server are imported, with the import system's messages on (-v)
    result = subprocess.run(
        [sys.executable, "-S", "-v", "-c", "import uvicorn.main, router.http.app"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Then every module of the asset came from its .pyc: none was compiled from its source
    loaded = [line for line in result.stderr.splitlines() if line.startswith(f"# code object from '{host_asset}")]
    compiled = [line for line in result.stderr.splitlines() if line.startswith(f"# code object from {host_asset}")]
    assert compiled == []
    assert any("/router/http/__pycache__/app." in line for line in loaded)
    assert any("/uvicorn/__pycache__/" in line for line in loaded)


def test_without_a_python_of_the_target_version_the_asset_has_no_bytecode_and_the_synth_says_so(
    tmp_path, monkeypatch, capsys
):
    src, config = _source(tmp_path)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no python3.X anywhere
    monkeypatch.delenv(PYC_PYTHON_ENV, raising=False)

    staged = stage_lambda_asset(
        source_dir=src,
        routing_config=config.read_bytes(),
        staging_root=tmp_path / "out",
        platform=Platform(platforms=(), python_version=OTHER_VERSION),
    )

    assert not list(staged.rglob("*.pyc")) and not list(staged.rglob("__pycache__"))
    said = capsys.readouterr().err
    assert said.count("WITHOUT bytecode") == 1
    assert f"no python{OTHER_VERSION} on PATH" in said and PYC_PYTHON_ENV in said


def test_an_interpreter_of_another_version_named_by_the_variable_is_refused_with_its_version(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(PYC_PYTHON_ENV, sys.executable)

    compiler, why = find_bytecode_compiler(OTHER_VERSION)

    assert compiler is None
    assert f"{PYC_PYTHON_ENV}={sys.executable}" in why and f"not CPython {OTHER_VERSION}" in why


def test_with_and_without_bytecode_are_different_assets_and_staging_twice_gives_the_same_bytes(tmp_path):
    from aws_cdk import FileSystem  # the fingerprint Code.from_asset gives the asset

    def stage(name: str, bytecode: bool = True) -> Path:
        return stage_lambda_asset(
            source_dir=LAMBDAS,
            routing_config=(REPO_ROOT / "config" / "routing.json").read_bytes(),
            staging_root=tmp_path / name,
            platform=HOST,
            bytecode=bytecode,
        )

    first, second, without = stage("a"), stage("b"), stage("c", bytecode=False)  # each compiled by a new process

    assert first.name == second.name != without.name
    assert _tree(first) == _tree(second)  # the pycs too, byte for byte
    assert FileSystem.fingerprint(str(first)) == FileSystem.fingerprint(str(second))
    assert FileSystem.fingerprint(str(first)) != FileSystem.fingerprint(str(without))


THREE_THIRTEEN, WHY_NOT = find_bytecode_compiler(LAMBDA_ARM64.python_version)


@pytest.mark.skipif(THREE_THIRTEEN is None, reason=f"no Python 3.13 here to compile with: {WHY_NOT}")
def test_for_the_lambdas_python_the_pycs_are_that_pythons(tmp_path):
    src, config = _source(tmp_path)

    staged = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "out")

    pyc = staged / "routing_engine" / "__pycache__" / "config.cpython-313.pyc"
    assert THREE_THIRTEEN is not None and _pyc_flags(pyc)[:2] == (bytes.fromhex(THREE_THIRTEEN.magic), 0b01)


# Lambda's CodeSizeUnzipped quota: "the maximum size of a function's deployment package and layers when they're
# extracted" (Lambda API reference, AccountLimit), 250 MB. The layers' share is not measurable offline: the Powertools
# layer (with pydantic) and the Web Adapter's binary are given a generous 60 MB.
LAMBDA_UNZIPPED_BYTES = 250 * 1024 * 1024
LAYERS_ALLOWANCE_BYTES = 60 * 1024 * 1024


def test_the_asset_with_its_bytecode_leaves_its_layers_room_under_lambda_s_unzipped_size_limit(host_asset):
    assert list(host_asset.rglob("*.pyc"))  # the bytecode the staging adds is counted
    size = sum(p.stat().st_size for p in host_asset.rglob("*") if p.is_file())
    assert size + LAYERS_ALLOWANCE_BYTES <= LAMBDA_UNZIPPED_BYTES, f"{size / 2**20:.1f} MB"
