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

    staged = stage_lambda_asset(source_dir=src, routing_config=config.read_bytes(), staging_root=tmp_path / "out")

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

import importlib.metadata  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import pytest  # noqa: E402

from stacks.lambda_asset import HOST, LAMBDA_ARM64, install_requirements  # noqa: E402
from stacks.settings import REPO_ROOT  # noqa: E402

LAMBDAS = REPO_ROOT / "lambdas"
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


def _runtime_and_layer_dir(root) -> str:
    """A directory with only what the runtime and the Powertools layer provide, linked from this venv."""
    root.mkdir(exist_ok=True)
    for dist in RUNTIME_AND_LAYER:
        for file in importlib.metadata.distribution(dist).files or []:
            top = file.parts[0]
            if top.endswith((".dist-info", ".pth")) or top in ("..", "bin", "__pycache__"):
                continue
            source = file.locate()
            top_path = type(source)(str(source)[: str(source).index(top) + len(top)])
            if not (root / top).exists():
                (root / top).symlink_to(top_path)
    return str(root)


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
        "LAMBDA_RUNTIME_DIR": _runtime_and_layer_dir(tmp_path / "runtime"),
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
    env = {
        "PYTHONPATH": os.pathsep.join([str(host_asset), _runtime_and_layer_dir(tmp_path / "runtime")]),
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    result = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert all(line.startswith(str(host_asset)) for line in result.stdout.split())


@pytest.mark.parametrize(
    "handler", ["config_validator.handler", "failover_controller.handler", "labeller.handler", "scorer_trainer.handler"]
)
def test_every_handler_based_function_imports_from_the_asset_and_the_layer_alone(host_asset, tmp_path, handler):
    # Given only what a handler-based Lambda has on its path: the asset root (/var/task) and the layer (/opt/python)
    env = {
        "PYTHONPATH": os.pathsep.join([str(host_asset), _runtime_and_layer_dir(tmp_path / "runtime")]),
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # When its handler module is imported, then it imports (routing_engine's re2 included)
    result = subprocess.run([sys.executable, "-S", "-c", f"import {handler}"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
