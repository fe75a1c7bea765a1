"""Infrastructure tests: synthesize each app once per session and share the result."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# jsii prints a banner for Node 20 unless both are set (the second one names the major version).
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT / "lambdas", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import pytest  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from stacks import build_app, cdk_json_context  # noqa: E402


@dataclass
class Synthesized:
    template: Template
    raw: dict
    template_path: Path
    outdir: Path
    validation_report: dict
    stack_name: str


def synthesize(tmp_root: Path, **overrides) -> Synthesized:
    outdir = Path(tempfile.mkdtemp(prefix="cdk-", dir=tmp_root))
    app, stack = build_app({**cdk_json_context(), **overrides}, outdir=str(outdir))
    assembly = app.synth()  # cdk-nag runs here; an unacknowledged finding raises
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    template_path = outdir / artifact.template_file
    raw = json.loads(template_path.read_text())
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    return Synthesized(
        template=Template.from_json(raw),
        raw=raw,
        template_path=template_path,
        outdir=outdir,
        validation_report=report,
        stack_name=stack.stack_name,
    )


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture(scope="session")
def api_key_app(synth_root) -> Synthesized:
    """The app as cdk.json configures it (auth_mode=api_key)."""
    return synthesize(synth_root)


@pytest.fixture(scope="session")
def iam_app(synth_root) -> Synthesized:
    return synthesize(synth_root, auth_mode="iam", stage="iamtest")


@pytest.fixture(scope="session")
def cdk_context() -> dict:
    return cdk_json_context()
