"""Infrastructure tests: synthesize each app once per session and share the result."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

# jsii prints a banner for Node 20 unless both are set (the second one names the major version).
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[2]

import pytest  # noqa: E402

# aws-cdk-lib runs on the jsii runtime, which needs Node.js. Without it every CDK import fails with
# an obscure jsii error (or hangs), so collect only test_node_available.py, which fails saying why.
NODE_MISSING_MESSAGE = (
    "Node.js is not installed (no `node` on PATH): the infrastructure tests synthesize the CDK app, and "
    "aws-cdk-lib runs on the jsii runtime, which needs Node.js 20 or later. Install it (e.g. "
    "`apt-get install nodejs`), or run `make test-fast` for every test that does not synthesize."
)
if shutil.which("node") is None:
    collect_ignore_glob = ["test_[!n]*.py", "test_n[!o]*.py"]
    raise_node_missing = True
else:
    raise_node_missing = False
if not raise_node_missing:
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


DEFAULT_ROUTER_ARN = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/amazon.nova:1"
PROMPT_ROUTER_DEFINITION = {
    "name": "model-router-nova",
    "models": ["amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"],
    "fallback_model": "amazon.nova-lite-v1:0",
    "response_quality_difference": 10,
}
# Non-default alarm context: the iam app also proves thresholds come from context.
IAM_APP_ALARM_CONTEXT = {
    "model_error_rate_threshold": 0.3,
    "model_throttle_rate_threshold": 0.4,
    "alarm_evaluation_periods": 5,
    "alarm_datapoints_to_alarm": 3,
    "alarm_period_seconds": 120,
    "alarm_min_invocations": 7,
    "bedrock_metric_alarms": False,
}


@pytest.fixture(scope="session")
def iam_app(synth_root) -> Synthesized:
    """auth_mode=iam, an existing (default) prompt router given by ARN, non-default alarm context."""
    return synthesize(
        synth_root, auth_mode="iam", stage="iamtest", prompt_router={"arn": DEFAULT_ROUTER_ARN}, **IAM_APP_ALARM_CONTEXT
    )


@pytest.fixture(scope="session")
def prompt_router_app(synth_root) -> Synthesized:
    """A prompt router the stack defines (AWS::Bedrock::IntelligentPromptRouter), context given as JSON text."""
    return synthesize(synth_root, stage="prtest", prompt_router=json.dumps({"definition": PROMPT_ROUTER_DEFINITION}))


# The opt-in / escape-hatch switches, given as `-c key=value` strings, in one synth.
VARIANT_CONTEXT = {
    "stage": "variant",
    "routing_rollout_monitor": "false",
    "controller_reserved_concurrency": "1",
    "apigw_cloudwatch_role": "false",
    "stream_timeout_seconds": "120",
    "labeller_max_concurrency": "5",
    "trainer_schedule": "rate(6 hours)",
    "marketplace_model_access": "false",
}


@pytest.fixture(scope="session")
def variant_app(synth_root) -> Synthesized:
    """Every non-default switch: no rollout monitor, reserved controller concurrency, no API Gateway role, a wider
    labeller concurrency, another training schedule and no Marketplace subscription grant."""
    return synthesize(synth_root, **VARIANT_CONTEXT)


EU_CONTEXT = {"stage": "eutest", "region": "eu-west-1", "account": "123456789012"}


@pytest.fixture(scope="session")
def eu_app(synth_root) -> Synthesized:
    """The stack for eu-west-1: the catalog's inference profiles, grants and alarms must serve Ireland."""
    return synthesize(synth_root, **EU_CONTEXT)


@pytest.fixture(scope="session")
def cdk_context() -> dict:
    return cdk_json_context()
