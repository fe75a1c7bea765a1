"""Issue 8, item 9: a 40-model catalog stays inside every AWS limit that grows with the catalog.

Sizes are measured on the synthesized template with every token replaced by the longest value it
can take (a GetAtt by 160 characters, a Ref by 64, the region by 16), so the figures are upper
bounds. `-s` (or the captured output of a failure) shows them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.settings import REPO_ROOT
from tests.infra.conftest import synthesize
from tests.infra.helpers import resources

MODELS = 40
LAMBDA_ENV_BYTES = 4 * 1024  # Lambda: all environment variables of a function, keys and values
ROLE_INLINE_POLICY_CHARS = 10_240  # IAM: all inline policies of one role, whitespace not counted
MANAGED_POLICY_CHARS = 6_144  # IAM: one customer managed policy
TEMPLATE_BYTES = 1_000_000  # CloudFormation: template body via S3
TEMPLATE_RESOURCES = 500

PSEUDO_MAX = {
    "AWS::Partition": "aws-us-gov",
    "AWS::Region": "ap-southeast-2x",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com.cn",
    "AWS::StackId": "x" * 128,
    "AWS::StackName": "x" * 64,
}


def worst_case(value: Any) -> Any:
    """Resolve CloudFormation intrinsics to the longest strings they could become."""
    if isinstance(value, list):
        return [worst_case(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return PSEUDO_MAX.get(value["Ref"], "r" * 64)
    if "Fn::GetAtt" in value:
        return "g" * 160
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(str(worst_case(p)) for p in parts)
    if "Fn::Sub" in value:
        return "s" * 200
    return {k: worst_case(v) for k, v in value.items()}


def catalog(n: int) -> dict:
    """The bundled configuration with `n` models: the bundled ones, then copies under new keys and ids."""
    config = json.loads((REPO_ROOT / "config" / "routing.json").read_text())
    models = config["models"]
    template = models["claude-sonnet"]
    for i in range(n - len(models)):
        models[f"catalog-model-{i:02d}"] = {
            **template,
            "model_id": f"us.anthropic.claude-catalog-{i:02d}-20260101-v1:0",
            "display_name": f"Catalog model {i:02d}",
            "fallbacks": ["claude-haiku"],
        }
    assert len(models) == n
    return config


@pytest.fixture(scope="module")
def big_app(synth_root, tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "routing.json"
    path.write_text(json.dumps(catalog(MODELS), indent=2))
    return synthesize(synth_root, stage="big", routing_config_file=str(path))


def _env_bytes(function: dict) -> int:
    variables = worst_case(function["Properties"].get("Environment", {}).get("Variables", {}))
    return sum(len(k.encode()) + len(str(v).encode()) for k, v in variables.items())


def _inline_policy_chars(raw: dict) -> dict[str, int]:
    """Role logical id -> characters of every inline policy on it (AWS::IAM::Policy attachments included)."""
    total: dict[str, int] = {}
    for role_id, role in resources(raw, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            total[role_id] = total.get(role_id, 0) + len(
                json.dumps(worst_case(policy["PolicyDocument"]), separators=(",", ":"))
            )
        total.setdefault(role_id, 0)
    for policy in resources(raw, "AWS::IAM::Policy").values():
        size = len(json.dumps(worst_case(policy["Properties"]["PolicyDocument"]), separators=(",", ":")))
        for role in policy["Properties"].get("Roles", []):
            total[role["Ref"]] = total.get(role["Ref"], 0) + size
    return total


def test_a_40_model_catalog_fits_every_limit(big_app):
    raw = big_app.raw
    env = {f["Properties"]["Handler"]: _env_bytes(f) for f in resources(raw, "AWS::Lambda::Function").values()}
    policies = _inline_policy_chars(raw)
    managed = [
        len(json.dumps(worst_case(p["Properties"]["PolicyDocument"]), separators=(",", ":")))
        for p in resources(raw, "AWS::IAM::ManagedPolicy").values()
    ]
    template_bytes = big_app.template_path.stat().st_size
    resource_count = len(raw["Resources"])

    print(f"\n{MODELS}-model catalog (worst-case token sizes):")
    print(
        f"  Lambda environment bytes (limit {LAMBDA_ENV_BYTES}): "
        + ", ".join(f"{h}={b}" for h, b in sorted(env.items()))
    )
    print(f"  largest role's inline policies, characters (limit {ROLE_INLINE_POLICY_CHARS}): {max(policies.values())}")
    print(f"  largest customer managed policy, characters (limit {MANAGED_POLICY_CHARS}): {max(managed, default=0)}")
    print(f"  template bytes (limit {TEMPLATE_BYTES}): {template_bytes}")
    print(f"  resources (limit {TEMPLATE_RESOURCES}): {resource_count}")

    assert max(env.values()) < LAMBDA_ENV_BYTES
    assert max(policies.values()) < ROLE_INLINE_POLICY_CHARS, policies
    assert max(managed, default=0) < MANAGED_POLICY_CHARS
    assert template_bytes < TEMPLATE_BYTES
    assert resource_count < TEMPLATE_RESOURCES


def test_the_controller_does_not_grow_with_the_catalog(big_app, api_key_app):
    def controller(raw):
        (function,) = [
            f
            for f in resources(raw, "AWS::Lambda::Function").values()
            if f["Properties"]["Handler"] == "failover_controller.handler.lambda_handler"
        ]
        return function

    small, big = controller(api_key_app.raw), controller(big_app.raw)
    # The same variables whatever the catalog (only the stage name differs in the prefix).
    assert set(small["Properties"]["Environment"]["Variables"]) == set(big["Properties"]["Environment"]["Variables"])
    role = big["Properties"]["Role"]["Fn::GetAtt"][0]
    small_role = small["Properties"]["Role"]["Fn::GetAtt"][0]
    assert abs(_inline_policy_chars(big_app.raw)[role] - _inline_policy_chars(api_key_app.raw)[small_role]) < 64


# --- the label loop (issue 9, item 5) ---------------------------------------------------------------------
# SQS quotas (Amazon SQS developer guide, "Quotas related to messages"; 1 MiB messages since August 2025, which
# Lambda's SQS event source delivers too: AWS Compute Blog, 2026-01-29); Lambda's synchronous payload quota (an SQS
# batch arrives as one synchronous invocation); the event source's MaximumConcurrency range (Lambda API reference,
# ScalingConfig).
SQS_MAX_MESSAGE_BYTES = 1_048_576
SQS_MAX_VISIBILITY_SECONDS = 12 * 3600
SQS_MAX_RETENTION_SECONDS = 14 * 24 * 3600
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
ESM_MAX_CONCURRENCY = range(2, 1001)
RECORD_ENVELOPE_BYTES = 4096  # an SQS record's own fields in the Lambda event (ids, receipt handle, attributes)


def test_the_label_loop_stays_inside_sqs_and_lambda_limits(api_key_app):
    from router.adapters.sample_queue import MAX_SAMPLE_BYTES  # what the router enforces

    raw = api_key_app.raw
    (queue,) = [
        q["Properties"] for q in resources(raw, "AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"]
    ]
    (mapping,) = [m["Properties"] for m in resources(raw, "AWS::Lambda::EventSourceMapping").values()]
    (labeller,) = [
        f["Properties"]
        for f in resources(raw, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "labeller.handler.lambda_handler"
    ]

    # The router's largest sample is a message SQS accepts (the router sends no message attributes).
    assert MAX_SAMPLE_BYTES <= queue["MaximumMessageSize"] <= SQS_MAX_MESSAGE_BYTES
    # A full batch of the largest samples fits one invocation, even if every byte of a body is escaped in the event.
    assert mapping["BatchSize"] * (2 * MAX_SAMPLE_BYTES + RECORD_ENVELOPE_BYTES) <= LAMBDA_SYNC_PAYLOAD_BYTES
    assert mapping["ScalingConfig"]["MaximumConcurrency"] in ESM_MAX_CONCURRENCY
    assert labeller["Timeout"] <= queue["VisibilityTimeout"] <= SQS_MAX_VISIBILITY_SECONDS
    assert queue["MessageRetentionPeriod"] <= SQS_MAX_RETENTION_SECONDS
