"""A fresh account's first requests succeed, anywhere (issue 17, items 2-7), asserted on the synthesized templates.

Sources of the AWS facts are in docs/decisions.md ("A fresh account, any Region").
"""

from __future__ import annotations

import json

from routing_engine.config import parse_routing_config
from routing_engine.config.geography import base_model_id
from stacks.bedrock_iam import MARKETPLACE_SUBSCRIBE_ACTIONS, MARKETPLACE_VIEW_ACTIONS
from stacks.constructs.lambda_factory import LWA_LAYER_ACCOUNT, LWA_LAYER_NAME
from stacks.settings import REPO_ROOT, Settings
from tests.infra.helpers import (
    alarms_by_name,
    as_list,
    function_with_handler,
    policy_statements,
    render,
    resources,
    role_id_of,
    role_statements,
    router_function,
)

ROUTING_FILE = REPO_ROOT / "config" / "routing.json"
LABELLER_HANDLER = "labeller.handler.lambda_handler"
# AWS Lambda Web Adapter 1.0.0, its first GA release: layer version 27 (aws/aws-lambda-web-adapter, commit 2912565
# "docs: update all docs and examples for 1.0.0 release", "Lambda layer version from 26 to 27"; 26 was v1.0.0-rc1).
LWA_GA_LAYER_VERSION = 27
# The adapter's settings the router uses, unchanged from rc1 to 1.0.0 (CHANGELOG v1.0.0, src/lib.rs); 1.0.0 removed
# AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS and deprecated the non-prefixed names (HOST, READINESS_CHECK_PORT, ...).
LWA_SETTINGS = {"AWS_LAMBDA_EXEC_WRAPPER", "AWS_LWA_INVOKE_MODE", "AWS_LWA_PORT", "AWS_LWA_READINESS_CHECK_PATH"}
LWA_GONE_OR_DEPRECATED = {
    "AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS",
    "HOST",
    "READINESS_CHECK_PORT",
    "READINESS_CHECK_PATH",
    "READINESS_CHECK_PROTOCOL",
    "REMOVE_BASE_PATH",
    "ASYNC_INIT",
}


def hosted_routing(raw: dict) -> str:
    (content,) = [
        h["Properties"]["Content"]
        for h in resources(raw, "AWS::AppConfig::HostedConfigurationVersion").values()
        if '"routes"' in h["Properties"]["Content"] and '"models"' in h["Properties"]["Content"]
    ]
    return content


def bundled_routing(app) -> bytes:
    asset_hash = router_function(app.raw)["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    return (app.outdir / f"asset.{asset_hash}" / "router" / "bundled_routing.json").read_bytes()


def marketplace_statements(raw: dict) -> list[dict]:
    return [s for s in policy_statements(raw) if any(a.startswith("aws-marketplace:") for a in as_list(s["Action"]))]


# --- item 3: the inference-profile geography follows the deploy Region ----------------------------------------


def test_the_eu_stack_deploys_and_bundles_a_catalog_of_eu_profiles(eu_app):
    content = hosted_routing(eu_app.raw)
    model_ids = {key: entry["model_id"] for key, entry in json.loads(content)["models"].items()}

    assert model_ids == {
        "claude-haiku": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        "claude-sonnet": "eu.anthropic.claude-sonnet-4-6",
        "claude-opus": "eu.anthropic.claude-opus-4-6-v1",
        "nova-pro": "eu.amazon.nova-pro-v1:0",
        "nova-lite": "eu.amazon.nova-lite-v1:0",
    }
    # the copy the router falls back to when AppConfig is unreachable is the same document
    assert bundled_routing(eu_app) == content.encode()
    # and it is one the AppConfig validator in eu-west-1 accepts: every model names its profile, each callable there
    parse_routing_config(content, region="eu-west-1", resolve=False)


def test_the_eu_stack_grants_the_eu_profiles_in_eu_west_1_and_no_other(eu_app):
    granted = {
        render(r, eu_app.raw)
        for s in policy_statements(eu_app.raw)
        if any(a.startswith("bedrock:Invoke") for a in as_list(s["Action"]))
        for r in as_list(s["Resource"])
    }
    profiles = {arn for arn in granted if ":inference-profile/" in arn}

    assert profiles == {
        f"arn:${{AWS::Partition}}:bedrock:eu-west-1:123456789012:inference-profile/eu.{m}"
        for m in (
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "anthropic.claude-sonnet-4-6",
            "anthropic.claude-opus-4-6-v1",
            "amazon.nova-pro-v1:0",
            "amazon.nova-lite-v1:0",
        )
    }
    assert "inference-profile/us." not in json.dumps(eu_app.raw)


def test_the_default_stack_has_no_region_and_keeps_the_us_profiles(api_key_app):
    # env-agnostic (no `region` context): the default geography, with a synth warning (test_synth_failures)
    model_ids = {entry["model_id"] for entry in json.loads(hosted_routing(api_key_app.raw))["models"].values()}

    assert {m.split(".", 1)[0] for m in model_ids} == {"us"}


# --- item 4: prices per profile kind ---------------------------------------------------------------------------


def test_the_deployed_catalog_prices_the_geographic_profiles_it_calls(eu_app):
    # Claude through a geographic profile costs ~10% more than Anthropic's list (= global) price
    config = parse_routing_config(hosted_routing(eu_app.raw), resolve=False)

    prices = {key: (spec.price.input_per_million, spec.price.output_per_million) for key, spec in config.models.items()}
    assert prices == {
        "claude-haiku": (1.1, 5.5),
        "claude-sonnet": (3.3, 16.5),
        "claude-opus": (5.5, 27.5),
        "nova-pro": (0.8, 3.2),
        "nova-lite": (0.06, 0.24),
    }


# --- item 7: Bedrock alarms see the ModelId that gets data -----------------------------------------------------


def test_bedrock_alarms_sum_the_profile_and_its_foundation_model(eu_app):
    alarms = alarms_by_name(eu_app.raw)
    for kind, metric_names in (
        ("bedrock-server-errors", {"Invocations", "InvocationServerErrors"}),
        ("bedrock-throttles", {"Invocations", "InvocationThrottles"}),
    ):
        alarm = alarms[f"model-router-eutest-model-claude-opus-{kind}"]
        metrics = [q for q in alarm["Metrics"] if "MetricStat" in q]
        (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]

        by_id = {
            q["Id"]: (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
            for q in metrics
        }
        assert set(by_id.values()) == {
            (name, model)
            for name in metric_names
            for model in ("eu.anthropic.claude-opus-4-6-v1", "anthropic.claude-opus-4-6-v1")
        }
        for metric_id in by_id:  # every series is read, missing data as 0
            assert f"FILL({metric_id}, 0)" in expression


def test_an_in_region_model_alarms_on_its_own_id_only():
    from stacks.constructs.alarms import bedrock_model_ids

    assert bedrock_model_ids("amazon.nova-pro-v1:0") == ("amazon.nova-pro-v1:0",)
    assert bedrock_model_ids("global.amazon.nova-2-lite-v1:0") == (
        "global.amazon.nova-2-lite-v1:0",
        base_model_id("global.amazon.nova-2-lite-v1:0"),
    )


# --- item 2: model access in a fresh account --------------------------------------------------------------------


def test_router_and_labeller_may_subscribe_to_exactly_the_catalogs_marketplace_products(api_key_app):
    raw = api_key_app.raw
    catalog = json.loads(ROUTING_FILE.read_text())["models"]
    product_ids = [e["marketplace_product_id"] for e in catalog.values() if "marketplace_product_id" in e]
    (policy,) = [
        p
        for p in resources(raw, "AWS::IAM::ManagedPolicy").values()
        if "aws-marketplace" in json.dumps(p["Properties"]["PolicyDocument"])
    ]

    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}

    assert statements == {
        "SubscribeToCatalogModels": {
            "Action": "aws-marketplace:Subscribe",
            "Effect": "Allow",
            "Resource": "*",  # Marketplace actions name no resource; the condition is the documented scoping
            "Condition": {"ForAnyValue:StringEquals": {"aws-marketplace:ProductId": product_ids}},
            "Sid": "SubscribeToCatalogModels",
        },
        "ViewMarketplaceSubscriptions": {
            "Action": "aws-marketplace:ViewSubscriptions",
            "Effect": "Allow",
            "Resource": "*",
            "Sid": "ViewMarketplaceSubscriptions",
        },
    }
    assert sorted(product_ids) == ["prod-5ukwuglpt66kg", "prod-ffvjxvh4ltq64", "prod-xdkflymybwmvi"]
    roles = {r["Ref"] for r in policy["Properties"]["Roles"]}
    assert roles == {
        role_id_of(router_function(raw)),
        role_id_of(function_with_handler(raw, LABELLER_HANDLER)),
    }
    # nobody else subscribes, and nobody may unsubscribe
    assert len(marketplace_statements(raw)) == 2
    assert "aws-marketplace:Unsubscribe" not in json.dumps(raw)
    for role in roles:
        actions = {a for s in role_statements(raw, role) for a in as_list(s["Action"])}
        assert {*MARKETPLACE_SUBSCRIBE_ACTIONS, *MARKETPLACE_VIEW_ACTIONS} <= actions


def test_marketplace_access_is_an_opt_out_setting(variant_app):
    assert Settings().marketplace_model_access is True
    assert marketplace_statements(variant_app.raw) == []


# --- item 5: the Lambda Web Adapter at its 1.0 release -----------------------------------------------------------


def test_the_router_runs_behind_the_web_adapters_1_0_0_layer(api_key_app, cdk_context):
    function = router_function(api_key_app.raw)
    layers = [render(layer) for layer in function["Properties"]["Layers"]]
    env = function["Properties"]["Environment"]["Variables"]

    assert cdk_context["lwa_layer_version"] == Settings().lwa_layer_version == LWA_GA_LAYER_VERSION
    assert (
        f"arn:aws:lambda:${{AWS::Region}}:{LWA_LAYER_ACCOUNT}:layer:{LWA_LAYER_NAME}:{LWA_GA_LAYER_VERSION}" in layers
    )
    assert set(env) >= LWA_SETTINGS
    assert not LWA_GONE_OR_DEPRECATED & set(env)
