"""cdk-nag AwsSolutions and cfn-lint on the synthesized templates."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam

from stacks.nag import add_nag_checks

CFN_LINT = Path(sys.executable).with_name("cfn-lint")
REPO_ROOT = Path(__file__).resolve().parents[2]


def _violations(report: dict) -> list[str]:
    return [
        f"{v['ruleName']} at {c.get('constructPath')}"
        for plugin in report["pluginReports"]
        for v in plugin.get("violations", [])
        for c in v.get("violatingConstructs", v.get("violatingResources", []))
    ]


@pytest.mark.parametrize("app_fixture", ["api_key_app", "iam_app", "prompt_router_app", "variant_app"])
def test_cdk_nag_reports_no_unacknowledged_findings(app_fixture, request):
    # The fixture's synth would have raised on an unacknowledged error; the report must also be clean.
    synthesized = request.getfixturevalue(app_fixture)

    assert _violations(synthesized.validation_report) == []


def test_cdk_nag_is_active_and_fails_synth_on_an_unacknowledged_finding(tmp_path):
    # Given an app with a wildcard policy and nobody acknowledging it
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Probe")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    add_nag_checks(app)

    # When it is synthesized, Then cdk-nag fails the synth and names the rule
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert any("AwsSolutions-IAM5[Resource::*]" in v for v in _violations(report))


@pytest.mark.slow
@pytest.mark.parametrize("app_fixture", ["api_key_app", "iam_app", "prompt_router_app", "variant_app"])
def test_cfn_lint_finds_no_errors_or_warnings(app_fixture, request):
    synthesized = request.getfixturevalue(app_fixture)

    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", str(synthesized.template_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,  # picks up .cfnlintrc
    )

    findings = json.loads(result.stdout or "[]")
    assert [f for f in findings if f["Level"] in ("Error", "Warning")] == [], result.stdout
