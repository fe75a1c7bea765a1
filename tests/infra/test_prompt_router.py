"""Issue 3 infrastructure: the optional Bedrock Intelligent Prompt Router."""

import json

import pytest

from stacks import build_app, cdk_json_context
from stacks.settings import SettingsError
from tests.infra.conftest import DEFAULT_ROUTER_ARN, PROMPT_ROUTER_DEFINITION
from tests.infra.helpers import as_list, policy_statements, render, resources, router_function

PARTITION_REGION_ACCOUNT = "arn:${AWS::Partition}:bedrock:${AWS::Region}"


def _grants(raw, action):
    out = []
    for s in policy_statements(raw):
        if action in as_list(s["Action"]):
            out.extend((render(r, raw), s.get("Condition")) for r in as_list(s["Resource"]))
    return out


def test_defined_router_is_created_over_the_two_models_inference_profiles(prompt_router_app):
    (router,) = resources(prompt_router_app.raw, "AWS::Bedrock::IntelligentPromptRouter").values()
    props = router["Properties"]

    assert props["PromptRouterName"] == "model-router-nova"
    # Inference-profile ARNs: foundation-model ARNs work only in us-east-1 and us-gov-west-1.
    profile = f"{PARTITION_REGION_ACCOUNT}:${{AWS::AccountId}}:inference-profile/us."
    assert [render(m["ModelArn"]) for m in props["Models"]] == [
        f"{profile}amazon.nova-lite-v1:0",
        f"{profile}amazon.nova-pro-v1:0",
    ]
    assert render(props["FallbackModel"]["ModelArn"]) == f"{profile}amazon.nova-lite-v1:0"
    assert "foundation-model" not in json.dumps(props)
    assert props["RoutingCriteria"] == {"ResponseQualityDifference": 10}


def test_defined_router_arn_reaches_the_router_and_is_invokable(prompt_router_app):
    raw = prompt_router_app.raw
    (router_id,) = resources(raw, "AWS::Bedrock::IntelligentPromptRouter")
    env = router_function(raw)["Properties"]["Environment"]["Variables"]
    assert env["PROMPT_ROUTER_ARN"] == {"Fn::GetAtt": [router_id, "PromptRouterArn"]}

    invoke = _grants(raw, "bedrock:InvokeModel")
    resources_ = {r for r, _ in invoke}
    assert f"${{GetAtt:{router_id}.PromptRouterArn}}" in resources_
    assert f"${{GetAtt:{router_id}.PromptRouterArn}}" in {r for r, _ in _grants(raw, "bedrock:GetPromptRouter")}
    for model in ("amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"):
        assert f"{PARTITION_REGION_ACCOUNT}::foundation-model/{model}" in resources_
        assert f"{PARTITION_REGION_ACCOUNT}:${{AWS::AccountId}}:inference-profile/us.{model}" in resources_
        # cross-region destinations only through our profiles
        assert any(
            r == f"arn:${{AWS::Partition}}:bedrock:*::foundation-model/{model}"
            and f"inference-profile/us.{model}" in json.dumps(c)
            for r, c in invoke
        )
        assert all(c is not None for r, c in invoke if ":bedrock:*:" in r)
    assert "*" not in resources_


def test_existing_router_arn_is_granted_and_passed_on(iam_app):
    env = router_function(iam_app.raw)["Properties"]["Environment"]["Variables"]
    assert env["PROMPT_ROUTER_ARN"] == DEFAULT_ROUTER_ARN
    assert DEFAULT_ROUTER_ARN in {r for r, _ in _grants(iam_app.raw, "bedrock:InvokeModel")}
    assert DEFAULT_ROUTER_ARN in {r for r, _ in _grants(iam_app.raw, "bedrock:GetPromptRouter")}
    assert not resources(iam_app.raw, "AWS::Bedrock::IntelligentPromptRouter")


def test_no_prompt_router_context_means_no_router_grant(api_key_app):
    assert not _grants(api_key_app.raw, "bedrock:GetPromptRouter")
    assert all("prompt-router" not in r for r, _ in _grants(api_key_app.raw, "bedrock:InvokeModel"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "exactly one of"),
        ({"arn": "arn:aws:bedrock:us-east-1:123456789012:foundation-model/x"}, "prompt_router.arn"),
        ({"arn": DEFAULT_ROUTER_ARN, "definition": PROMPT_ROUTER_DEFINITION}, "exactly one of"),
        ({"definition": {**PROMPT_ROUTER_DEFINITION, "fallback_model": "amazon.titan-text-v1"}}, "fallback_model"),
        (
            {"definition": {**PROMPT_ROUTER_DEFINITION, "models": ["amazon.nova-lite-v1:0", "anthropic.claude-x"]}},
            "one model family",
        ),
        (
            {
                "definition": {
                    **PROMPT_ROUTER_DEFINITION,
                    "models": ["us.amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"],
                }
            },
            "not a foundation-model id",
        ),
        (
            {"definition": {**PROMPT_ROUTER_DEFINITION, "response_quality_difference": 101}},
            "response_quality_difference",
        ),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_prompt_router_context_fails_synth_with_the_key(value, message, tmp_path):
    with pytest.raises(SettingsError, match=message) as info:
        build_app({**cdk_json_context(), "prompt_router": value}, outdir=str(tmp_path))
    assert "'prompt_router" in str(info.value)


def test_a_geo_that_has_no_profiles_in_the_stacks_region_fails_synth(tmp_path):
    definition = {**PROMPT_ROUTER_DEFINITION, "inference_profile_geo": "us"}

    with pytest.raises(SettingsError, match="inference_profile_geo 'us' has no inference profiles in eu-west-1"):
        build_app(
            {**cdk_json_context(), "region": "eu-west-1", "prompt_router": {"definition": definition}},
            outdir=str(tmp_path),
        )
