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

    staged = stage_lambda_asset(source_dir=src, routing_config_file=config, staging_root=tmp_path / "out")

    assert _tree(staged) == {"routing_engine/config.py": b"X = 1\n", BUNDLED_CONFIG_PATH: b'{"models": {}}\n'}


def test_same_content_stages_to_the_same_directory(tmp_path):
    src, config = _source(tmp_path)

    first = stage_lambda_asset(source_dir=src, routing_config_file=config, staging_root=tmp_path / "a")
    second = stage_lambda_asset(source_dir=src, routing_config_file=config, staging_root=tmp_path / "b")

    assert first.name == second.name
    assert _tree(first) == _tree(second)


def test_a_config_change_stages_a_new_directory(tmp_path):
    src, config = _source(tmp_path)
    first = stage_lambda_asset(source_dir=src, routing_config_file=config, staging_root=tmp_path / "out")

    config.write_bytes(b'{"models": {"a": 1}}\n')
    second = stage_lambda_asset(source_dir=src, routing_config_file=config, staging_root=tmp_path / "out")

    assert first != second
    assert (second / BUNDLED_CONFIG_PATH).read_bytes() == b'{"models": {"a": 1}}\n'


def test_staged_files_are_readable_by_the_lambda_user(tmp_path):
    src, config = _source(tmp_path)

    staged = stage_lambda_asset(source_dir=src, routing_config_file=config, staging_root=tmp_path / "out")

    assert staged.stat().st_mode & 0o777 == 0o755
    assert (staged / BUNDLED_CONFIG_PATH).stat().st_mode & 0o777 == 0o644
