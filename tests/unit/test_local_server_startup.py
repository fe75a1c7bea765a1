"""The local server says at start-up what is wrong, instead of failing every request later."""

from __future__ import annotations

import pytest

from local.server import ROOT, StartupError, build, main

CONFIG = str(ROOT / "config" / "routing.json")


def test_bedrock_mode_without_a_region_refuses_to_start_naming_it(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(StartupError, match="AWS_REGION"):
        build(CONFIG, None, bedrock=True, faults=None, latency_scale=0)


def test_bedrock_mode_without_credentials_refuses_to_start(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup leaves this machine
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    with pytest.raises(StartupError, match="credentials"):
        build(CONFIG, None, bedrock=True, faults=None, latency_scale=0)


def test_bedrock_mode_refuses_a_region_that_cannot_call_the_catalogs_profiles(monkeypatch):
    # Locally the catalog resolves to the US profiles (no stack Region); from Ireland they cannot be called.
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with pytest.raises(StartupError) as caught:
        build(CONFIG, None, bedrock=True, faults=None, latency_scale=0)
    message = str(caught.value)
    assert message.startswith("--bedrock from eu-west-1: the local server calls the catalog's 'us.' profiles")
    assert "models.claude-haiku: us.anthropic.claude-haiku-4-5-20251001-v1:0 is a 'us' inference profile" in message


def test_an_unknown_fault_key_is_refused_naming_the_known_models():
    with pytest.raises(StartupError) as caught:
        build(CONFIG, None, bedrock=False, faults="claude-haikoo=ThrottlingException", latency_scale=0)
    assert "claude-haikoo" in str(caught.value) and "claude-haiku" in str(caught.value)


def test_main_prints_one_line_and_exits_2_on_a_bad_config(tmp_path, capsys):
    bad = tmp_path / "routing.json"
    bad.write_text(
        '{"models": {"m": {"model_id": "x", "price": {"input_per_million": 0, "output_per_million": 0}}},'
        ' "routes": {"faq": {"model": "ghost"}}}'
    )
    assert main(["--config", str(bad), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("model-router: cannot start: invalid routing configuration") and "ghost" in err


def test_a_bad_latency_file_is_refused_naming_the_field(tmp_path):
    bad = tmp_path / "latency.json"
    bad.write_text('{"models": {"claude-haiku": -5}}')
    with pytest.raises(StartupError, match=r"models\.claude-haiku: must be within \[0, 60000\] ms"):
        build(CONFIG, None, bedrock=False, faults=None, latency_scale=0, latency_file=str(bad))


@pytest.mark.parametrize("installed", [True, False])
def test_the_local_server_runs_on_uvloop_and_says_so_or_falls_back_to_asyncio(monkeypatch, capsys, installed):
    import sys

    import anyio

    if not installed:
        monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed: the import fails
    ran: list[dict] = []
    monkeypatch.setattr(anyio, "run", lambda serve, **kwargs: ran.append(kwargs))
    assert main(["--port", "0", "--latency-scale", "0"]) == 0
    err = capsys.readouterr().err
    assert ran == [{"backend_options": {"use_uvloop": installed}}]
    if installed:
        assert "loop:    uvloop" in err
    else:
        assert "loop:    asyncio (uvloop is not installed" in err
