"""The model id -> IAM resource mapping, as a pure function."""

import pytest

from stacks.bedrock_iam import (
    MarketplaceGrant,
    ModelGrant,
    ModelIdError,
    is_inference_profile_id,
    marketplace_grant,
    merge_grants,
    model_grant,
    provider_of,
)

ENV = {"region": "us-east-1", "account": "111122223333", "partition": "aws"}


def test_plain_model_id_is_its_foundation_model_in_its_region():
    grant = model_grant("anthropic.claude-3-haiku-20240307-v1:0", **ENV)

    assert grant == ModelGrant(
        resources=("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",)
    )


def test_model_region_overrides_the_stack_region():
    grant = model_grant("amazon.nova-pro-v1:0", region="eu-west-1", account="111122223333", partition="aws")

    assert grant.resources == ("arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0",)


@pytest.mark.parametrize("geo", ["us", "eu", "apac", "jp", "au", "ca", "us-gov"])
def test_geographic_profile_grants_the_profile_and_its_model_in_any_region_through_it(geo):
    grant = model_grant(f"{geo}.anthropic.claude-haiku-4-5-20251001-v1:0", **ENV)

    profile = f"arn:aws:bedrock:us-east-1:111122223333:inference-profile/{geo}.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert grant.resources == (profile,)
    assert grant.via_profile == ("arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",)
    assert grant.profiles == (profile,)


def test_global_profile_also_grants_the_region_less_foundation_model_arn():
    grant = model_grant("global.anthropic.claude-sonnet-4-5-20250929-v1:0", **ENV)

    assert grant.via_profile == (
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
    )


def test_tokens_are_interpolated_not_interpreted():
    grant = model_grant("us.amazon.nova-pro-v1:0", region="${R}", account="${A}", partition="${P}")

    assert grant.resources == ("arn:${P}:bedrock:${R}:${A}:inference-profile/us.amazon.nova-pro-v1:0",)
    assert grant.via_profile == ("arn:${P}:bedrock:*::foundation-model/amazon.nova-pro-v1:0",)


def test_foundation_model_arn_is_granted_as_is():
    arn = "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-lite-v1:0"

    assert model_grant(arn, **ENV) == ModelGrant(resources=(arn,))


def test_prompt_router_and_application_profile_arns_are_granted_as_is():
    for arn in (
        "arn:aws:bedrock:us-east-1:111122223333:default-prompt-router/anthropic.claude:1",
        "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123",
    ):
        assert model_grant(arn, **ENV) == ModelGrant(resources=(arn,))


def test_system_inference_profile_arn_also_grants_its_destinations():
    arn = "arn:aws-us-gov:bedrock:us-gov-west-1:111122223333:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0"

    grant = model_grant(arn, **ENV)

    assert grant.resources == (arn,)
    assert grant.profiles == (arn,)
    assert grant.via_profile == ("arn:aws-us-gov:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",)


@pytest.mark.parametrize(
    "model_id", ["*", "anthropic.*", "us.anthropic.claude-*", "arn:aws:bedrock:*::foundation-model/x", "a b"]
)
def test_wildcards_are_refused(model_id):
    with pytest.raises(ModelIdError, match="wildcards"):
        model_grant(model_id, **ENV)


@pytest.mark.parametrize("model_id", ["arn:aws:s3:::bucket", "anthropic/claude", "-leading-dash"])
def test_unrecognised_ids_are_refused(model_id):
    with pytest.raises(ModelIdError):
        model_grant(model_id, **ENV)


def test_profile_prefix_detection():
    assert is_inference_profile_id("us-gov.anthropic.claude-3-haiku-20240307-v1:0")
    assert is_inference_profile_id("global.amazon.nova-2-lite-v1:0")
    assert not is_inference_profile_id("anthropic.claude-3-haiku-20240307-v1:0")
    assert not is_inference_profile_id("usx.anthropic.claude")


def test_merge_removes_duplicates_and_keeps_order():
    a = model_grant("us.amazon.nova-pro-v1:0", **ENV)
    b = model_grant("amazon.nova-lite-v1:0", **ENV)

    merged = merge_grants([a, b, a])

    assert merged.resources == a.resources + b.resources
    assert merged.via_profile == a.via_profile
    assert merged.profiles == a.profiles


# --- AWS Marketplace: what a third-party model's first call needs (issue 17, item 2) ------------------------------


@pytest.mark.parametrize(
    ("model_id", "provider"),
    [
        ("eu.anthropic.claude-sonnet-4-6", "anthropic"),
        ("amazon.nova-pro-v1:0", "amazon"),
        ("arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-70b-instruct-v1:0", "meta"),
        ("arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.cohere.embed-v4:0", "cohere"),
        ("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123", None),
    ],
)
def test_provider_of(model_id, provider):
    assert provider_of(model_id) == provider


def test_subscribe_covers_the_products_the_catalog_names_and_reports_third_party_models_without_one():
    grant = marketplace_grant(
        [
            ("haiku", "us.anthropic.claude-haiku-4-5-20251001-v1:0", "prod-xdkflymybwmvi"),
            ("haiku-global", "global.anthropic.claude-haiku-4-5-20251001-v1:0", "prod-xdkflymybwmvi"),
            ("mystery", "cohere.command-r-v1:0", None),
            ("nova", "us.amazon.nova-pro-v1:0", None),  # Amazon's models are not sold through Marketplace
            ("deepseek", "us.deepseek.r1-v1:0", None),
            ("app-profile", "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/x", None),
        ]
    )

    assert grant == MarketplaceGrant(product_ids=("prod-xdkflymybwmvi",), models_without_product_id=("mystery",))
