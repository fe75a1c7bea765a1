"""Which ARNs `bedrock:InvokeModel` must allow for a model id. Pure: no CDK, no AWS calls.

Converse authorises as `bedrock:InvokeModel` against:

* a plain model id (`anthropic.claude-...`): its foundation-model ARN in the calling region;
* a system-defined cross-region inference profile (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `ca.`,
  `us-gov.`, `global.`): the profile ARN in the calling region AND the underlying foundation
  model in every region the profile may route to. Those regions are AWS's to choose, so the
  foundation-model ARN carries a `*` region; the grant is tied to our profiles with the
  `bedrock:InferenceProfileArn` condition. A `global.` profile is additionally authorised
  against the region-less ARN `arn:aws:bedrock:::foundation-model/<model>` (Bedrock user
  guide, "Global cross-Region inference", IAM policy requirements);
* any other ARN (foundation model, provisioned model, application inference profile, prompt
  router): the ARN itself. An application inference profile or prompt router also needs its
  underlying models granted; the construct that creates one grants them.

Partition, region and account may be CDK tokens: they are only ever interpolated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from routing_engine.config.geography import split_profile_id

_PLAIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_-]*$")
_ARN = re.compile(
    r"^arn:aws[a-z-]*:bedrock:(?P<region>[a-z0-9-]*):(?P<account>\d{12})?:(?P<resource>[A-Za-z0-9./:_-]+)$"
)


class ModelIdError(ValueError):
    """A model id that cannot be turned into a least-privilege grant."""


@dataclass(frozen=True)
class ModelGrant:
    """The resources one configured model needs.

    `resources` are granted outright; `via_profile` (region-wildcard foundation-model ARNs)
    only when the call goes through one of `profiles`.
    """

    resources: tuple[str, ...]
    via_profile: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()


def is_inference_profile_id(model_id: str) -> bool:
    return split_profile_id(model_id).prefix is not None


def model_grant(model_id: str, *, region: str, account: str, partition: str) -> ModelGrant:
    """The ARNs `bedrock:InvokeModel` must allow to call `model_id` from `region`."""
    if "*" in model_id or "?" in model_id or any(ch.isspace() for ch in model_id):
        raise ModelIdError(f"model id {model_id!r}: wildcards and spaces are not allowed")
    if model_id.startswith("arn:"):
        match = _ARN.match(model_id)
        if match is None:
            raise ModelIdError(f"model id {model_id!r}: not a Bedrock ARN")
        resource = match["resource"]
        if resource.startswith("inference-profile/") and match["region"] and match["account"]:
            inner = split_profile_id(resource.removeprefix("inference-profile/"))
            if inner.prefix is not None:
                partition_of_arn = model_id.split(":", 2)[1]
                return _profile_grant(model_id, inner.prefix, inner.base, partition_of_arn)
        return ModelGrant(resources=(model_id,))
    profile = split_profile_id(model_id)
    if profile.prefix is not None:
        profile_arn = f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model_id}"
        return _profile_grant(profile_arn, profile.prefix, profile.base, partition)
    if _PLAIN_ID.match(model_id) is None:
        raise ModelIdError(f"model id {model_id!r}: not a model id, inference-profile id or ARN")
    return ModelGrant(resources=(f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}",))


def _profile_grant(profile_arn: str, geo: str, model: str, partition: str) -> ModelGrant:
    via = [f"arn:{partition}:bedrock:*::foundation-model/{model}"]
    if geo == "global":
        via.append(f"arn:{partition}:bedrock:::foundation-model/{model}")
    return ModelGrant(resources=(profile_arn,), via_profile=tuple(via), profiles=(profile_arn,))


def merge_grants(grants: Iterable[ModelGrant]) -> ModelGrant:
    """One grant covering all, duplicates removed, order kept (stable templates)."""

    def unique(items: Iterable[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(items))

    grants = list(grants)
    return ModelGrant(
        resources=unique(r for g in grants for r in g.resources),
        via_profile=unique(r for g in grants for r in g.via_profile),
        profiles=unique(r for g in grants for r in g.profiles),
    )


# Models of these providers are not sold through AWS Marketplace and have no product id: calling them needs no
# Marketplace permission (Bedrock user guide, "Access Amazon Bedrock foundation models": "Models from the following
# providers aren't sold through AWS Marketplace and don't have product keys ...: Amazon, DeepSeek, Mistral AI, Meta,
# Qwen, OpenAI").
NOT_IN_MARKETPLACE = frozenset({"amazon", "deepseek", "mistral", "meta", "qwen", "openai"})
MARKETPLACE_VIEW_ACTIONS = ["aws-marketplace:ViewSubscriptions"]
MARKETPLACE_SUBSCRIBE_ACTIONS = ["aws-marketplace:Subscribe"]


def provider_of(model_id: str) -> str | None:
    """The provider of a model id, profile id or foundation-model / system-profile ARN (`anthropic`); None for an
    ARN that does not name its model (an application inference profile, a prompt router)."""
    if model_id.startswith("arn:"):
        resource = model_id.split(":", 5)[-1]
        kind, _, name = resource.partition("/")
        if kind not in ("foundation-model", "inference-profile"):
            return None
        model_id = name
    base = split_profile_id(model_id).base
    return base.split(".", 1)[0] if "." in base else None


@dataclass(frozen=True)
class MarketplaceGrant:
    """What the catalog's first calls need from AWS Marketplace: the product ids `aws-marketplace:Subscribe` is
    limited to, and the keys of third-party models whose product id the catalog does not give (not covered)."""

    product_ids: tuple[str, ...]
    models_without_product_id: tuple[str, ...]


def marketplace_grant(models: Iterable[tuple[str, str, str | None]]) -> MarketplaceGrant:
    """`models`: (catalog key, model id, marketplace product id or None), in catalog order."""
    product_ids: dict[str, None] = {}
    missing = []
    for key, model_id, product_id in models:
        if product_id is not None:
            product_ids[product_id] = None
        elif provider_of(model_id) not in NOT_IN_MARKETPLACE and provider_of(model_id) is not None:
            missing.append(key)
    return MarketplaceGrant(product_ids=tuple(product_ids), models_without_product_id=tuple(missing))
