"""Cross-Region inference geographies: which profile prefix a source Region may call, which model offers which.

Pure data and pure functions (no AWS imports). The catalog names a model by its foundation-model id and an
`inference_profile` kind; `profile_id` turns that into the profile to call from a Region. The stack does it at
synth for its own Region (the deployed document and the Lambda's bundled copy carry the resolved ids), the
AppConfig validator checks a document against the Region it runs in, and a parse without a Region (the local
server, the tests) uses DEFAULT_GEOGRAPHY.

The tables are checked in, with their sources, because no AWS API can be called at synth. They are a floor,
not the whole truth: a Region or a model missing here is "unknown" (the stack warns, and a geographic entry
must then be pinned to a profile id), never silently assumed to work. Bedrock answers the same question live:
`aws bedrock get-inference-profile --inference-profile-identifier <id> --region <source region>` lists a
profile's destination Regions, and fails from a Region that is not one of its sources.

Sources (read 2026-12; the stored copies may be older than the live pages):
  [CRIS]     AWS, "Supported Regions and models for inference profiles" and "Geographic cross-Region inference",
             https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html (profiles are
             named "<geography prefix>.<model id>"; "The destination Regions for Global cross-Region inference
             profiles include all commercial Regions"), .../geographic-cross-region-inference.html
  [REGIONS]  AWS's own list of each geography's Regions: aws-cdk, @aws-cdk/aws-bedrock-alpha
             bedrock/inference-profiles/cross-region-inference-profile.ts, enum CrossRegionInferenceProfileRegion
             ("According to the model chosen, this might include: ..."), documented as
             https://docs.aws.amazon.com/cdk/api/v2/python/aws_cdk.aws_bedrock_alpha/CrossRegionInferenceProfileRegion.html
  [CARD]     AWS model cards, "Programmatic access" (in-Region, Geo and Global inference IDs), e.g.
             https://docs.aws.amazon.com/bedrock/latest/userguide/model-card-anthropic-claude-haiku-4-5.html
  [ANTHROPIC] Anthropic, "Claude on Amazon Bedrock", table "Model | Base Bedrock model ID | global | us | eu | jp |
             apac", https://platform.claude.com/docs/en/build-with-claude/claude-on-amazon-bedrock (no `au` column)
  [PRACTICE] profile ids called in public deployments (GitHub code search, 2026): used only to add a geography
             the sources above do not list; each such cell says so below
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ProfileKind = Literal["geographic", "global"]
PriceKind = Literal["in_region", "geographic", "global"]
PRICE_KINDS: tuple[PriceKind, ...] = ("in_region", "geographic", "global")

GLOBAL = "global"
# Every system-defined profile prefix AWS uses [CRIS][REGIONS]; `ca` appears in Bedrock docs for Canada, but its
# Regions are not confirmed, so no Region below is served by it (a pinned `ca.` id is accepted, never chosen).
PROFILE_PREFIXES = ("us-gov", "global", "apac", "us", "eu", "jp", "au", "ca")
_PROFILE_ID = re.compile(rf"^(?P<geo>{'|'.join(PROFILE_PREFIXES)})\.(?P<model>[a-z0-9][a-z0-9.:_-]*)$")
FOUNDATION_MODEL_ID = re.compile(r"^[a-z0-9-]+\.[A-Za-z0-9.:_-]+$")

# Without a Region (local mode, tests) a geographic entry calls the US profile, as the catalog always did.
DEFAULT_GEOGRAPHY = "us"

# The Regions of each geography [REGIONS]. A Region in more than one (Tokyo: jp and apac) prefers the narrower
# one, which keeps data closer: GEOGRAPHY_PREFERENCE.
GEOGRAPHY_REGIONS: dict[str, frozenset[str]] = {
    "us": frozenset({"us-east-1", "us-east-2", "us-west-1", "us-west-2"}),
    "eu": frozenset(
        {
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
        }
    ),
    "apac": frozenset(
        {
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-7",
            "me-central-1",  # [REGIONS]: "This geoRegion includes the Middle East (UAE) region"
        }
    ),
    "jp": frozenset({"ap-northeast-1", "ap-northeast-3"}),
    "au": frozenset({"ap-southeast-2", "ap-southeast-4"}),
}
GEOGRAPHY_PREFERENCE = ("jp", "au", "us", "eu", "apac")  # narrowest first

# Which profile prefixes Bedrock offers per foundation model. `global` serves every commercial Region [CRIS].
MODEL_PROFILES: dict[str, frozenset[str]] = {
    # [CARD] (Geo IDs us., eu.; Global) and [ANTHROPIC] global/us/eu; jp: [PRACTICE] (a public deployment reports
    # jp.anthropic.claude-haiku-4-5-20251001-v1:0 verified 2026-07-08, Anthropic's table says no); au: [PRACTICE].
    # apac is left out: Anthropic's table says no and the practice evidence is thin.
    "anthropic.claude-haiku-4-5-20251001-v1:0": frozenset({"global", "us", "eu", "jp", "au"}),
    # [ANTHROPIC] global/us/eu/jp (apac: no); au: [PRACTICE] (au.anthropic.claude-sonnet-4-6 in production use).
    "anthropic.claude-sonnet-4-6": frozenset({"global", "us", "eu", "jp", "au"}),
    # [ANTHROPIC] global/us/eu/jp/apac; au: [PRACTICE] (au.anthropic.claude-opus-4-6-v1 in production use).
    "anthropic.claude-opus-4-6-v1": frozenset({"global", "us", "eu", "jp", "apac", "au"}),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": frozenset({"global", "us", "eu", "jp"}),  # [ANTHROPIC]
    "anthropic.claude-opus-4-5-20251101-v1:0": frozenset({"global", "us", "eu"}),  # [ANTHROPIC]
    # [PRACTICE] us./eu./apac. Nova v1 profiles are called widely (e.g. apac.amazon.nova-pro-v1:0 from
    # ap-southeast-2); the stored AWS pages could not be read this far. No global profile was found for Nova v1.
    "amazon.nova-pro-v1:0": frozenset({"us", "eu", "apac"}),
    "amazon.nova-lite-v1:0": frozenset({"us", "eu", "apac"}),
    "amazon.nova-micro-v1:0": frozenset({"us", "eu", "apac"}),
}


class GeographyError(ValueError):
    """No profile of this model can be called from this Region. `str()` says what to change."""


@dataclass(frozen=True)
class ProfileId:
    """A model id split into its profile prefix (None: not a system-defined profile) and foundation model."""

    prefix: str | None
    base: str


def split_profile_id(model_id: str) -> ProfileId:
    match = _PROFILE_ID.match(model_id)
    if match is None:
        return ProfileId(None, model_id)
    return ProfileId(match["geo"], match["model"])


def base_model_id(model_id: str) -> str:
    """`eu.anthropic.claude-sonnet-4-6` -> `anthropic.claude-sonnet-4-6`; anything else unchanged."""
    return split_profile_id(model_id).base


def is_foundation_model_id(model_id: str) -> bool:
    return FOUNDATION_MODEL_ID.match(model_id) is not None and split_profile_id(model_id).prefix is None


def price_kind(model_id: str) -> PriceKind | None:
    """What calling `model_id` is billed as: in-Region, a geographic profile or the global one (None: an ARN,
    whose kind the id does not say)."""
    if model_id.startswith("arn:"):
        return None
    prefix = split_profile_id(model_id).prefix
    if prefix is None:
        return "in_region"
    return "global" if prefix == GLOBAL else "geographic"


def geographies_of(region: str) -> tuple[str, ...]:
    """The geographies whose profiles `region` may call, narrowest first; () for a Region not in the table."""
    return tuple(geo for geo in GEOGRAPHY_PREFERENCE if region in GEOGRAPHY_REGIONS[geo])


def is_known_region(region: str) -> bool:
    return bool(geographies_of(region))


def known_model(base: str) -> bool:
    return base in MODEL_PROFILES


def serves(prefix: str, region: str) -> bool | None:
    """Whether a `prefix.` profile can be called from `region`: None when the table does not know the Region."""
    if prefix == GLOBAL:
        return True
    if not is_known_region(region):
        return None
    return region in GEOGRAPHY_REGIONS.get(prefix, frozenset())


def profile_id(base: str, kind: ProfileKind, region: str | None) -> str:
    """The profile to call `base` through from `region` (None: no Region constraint, DEFAULT_GEOGRAPHY).

    Raises GeographyError naming the fix when the table knows that no such profile serves the Region."""
    offered = MODEL_PROFILES.get(base)
    if kind == GLOBAL:
        if offered is not None and GLOBAL not in offered:
            raise GeographyError(
                f"{base} has no global inference profile (it offers {_listed(offered)}); "
                "use inference_profile 'geographic'"
            )
        return f"{GLOBAL}.{base}"
    geographic = sorted(offered - {GLOBAL}, key=_preference) if offered is not None else None
    if region is None:
        if geographic is None or DEFAULT_GEOGRAPHY in geographic:
            return f"{DEFAULT_GEOGRAPHY}.{base}"
        if geographic:
            return f"{geographic[0]}.{base}"
        raise GeographyError(f"{base} has no geographic inference profile; use inference_profile 'global'")
    candidates = geographies_of(region)
    if not candidates:
        raise GeographyError(
            f"no geographic inference profile is known for Region {region}: pin model_id to the profile you call "
            f"from {region} (and drop inference_profile), or use inference_profile 'global'"
        )
    usable = [geo for geo in candidates if geographic is None or geo in geographic]
    if not usable:
        alternative = (
            "set inference_profile to 'global' (requests may then be served in any commercial Region), "
            if offered is not None and GLOBAL in offered
            else ""
        )
        raise GeographyError(
            f"{base} offers no geographic inference profile that serves {region} (it offers "
            f"{_listed(offered or frozenset())}; {region} may call {', '.join(candidates)}): "
            f"{alternative}deploy to a Region of {_listed(set(geographic or ()))}, or choose another model"
        )
    return f"{usable[0]}.{base}"


def profile_problem(model_id: str, region: str) -> str | None:
    """Why `model_id`, a pinned id, cannot be called from `region` (None: it can, or the table cannot tell)."""
    prefix = split_profile_id(model_id).prefix
    if prefix is None or serves(prefix, region) is not False:
        return None
    base = base_model_id(model_id)
    return (
        f"{model_id} is a '{prefix}' inference profile, which cannot be called from {region} "
        f"(it may call {', '.join(geographies_of(region))} and global profiles): set model_id to '{base}' with "
        "inference_profile 'geographic' (the stack picks the profile for its Region) or 'global'"
    )


def _preference(geo: str) -> int:
    return GEOGRAPHY_PREFERENCE.index(geo) if geo in GEOGRAPHY_PREFERENCE else len(GEOGRAPHY_PREFERENCE)


def _listed(prefixes) -> str:
    order = (*GEOGRAPHY_PREFERENCE, GLOBAL)
    return ", ".join(sorted(prefixes, key=lambda p: order.index(p) if p in order else len(order))) or "none"
