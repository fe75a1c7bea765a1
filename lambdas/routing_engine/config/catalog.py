"""The model catalog: what each model is, costs and can do, and the Bedrock prompt routers built from them.

A model is named either by the id to call (`us.anthropic...`, a foundation-model id called in-Region, or an ARN) or
by its foundation-model id and an `inference_profile` kind ("geographic" or "global"): then the profile is chosen
for the Region (routing_engine.config.geography), passed as the validation context `region`; without one, the
default geography. Prices are what is called: `price`, or `prices` per kind (in_region, geographic, global), of
which the entry's own kind is used; Anthropic's models from Claude 4.5 on cost about 10% more through a geographic
profile than through the global one (Bedrock user guide, "Global cross-Region inference").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, model_validator

from routing_engine.config import geography
from routing_engine.config.base import Key, StrictModel
from routing_engine.config.geography import PriceKind, ProfileKind

Modality = Literal["text", "image", "document"]
# Which sampling settings a model takes (Converse inferenceConfig temperature / topP):
#   temperature_and_top_p  both, together (Nova, Mistral, Claude before 4.1)
#   temperature_or_top_p   one of them: Claude Sonnet 4.5 and Haiku 4.5 "support specifying either the `temperature` or
#                          `top_p` parameter, but not both" (Bedrock user guide, Anthropic Claude Messages API, request
#                          and response); Opus 4.1/4.5/4.6 and Sonnet 4.6 refuse both the same way in practice
#   none                   neither: Claude Opus 4.7 and later ("`temperature` is deprecated for this model")
# A ValidationException is final (no fallback fixes it), so the router sends only what the rule allows.
SamplingRule = Literal["temperature_and_top_p", "temperature_or_top_p", "none"]

# Keys the catalog read before prices were per million tokens, and what replaced each.
_PER_1K_KEYS = {"input_per_1k": "input_per_million", "output_per_1k": "output_per_million"}


class Price(StrictModel):
    """USD per million tokens, the unit AWS publishes Bedrock prices in, for one way of calling a model. Prompt
    caching has its own lines: tokens read from the cache, and tokens written to it (5-minute and 1-hour TTL);
    without them, cached tokens are priced as input."""

    input_per_million: float = Field(ge=0, description="USD per million input tokens")
    output_per_million: float = Field(ge=0, description="USD per million output tokens")
    cache_read_per_million: float | None = Field(
        default=None, ge=0, description="USD per million input tokens read from the prompt cache"
    )
    cache_write_per_million: float | None = Field(
        default=None, ge=0, description="USD per million input tokens written to the prompt cache (5-minute TTL)"
    )
    cache_write_1h_per_million: float | None = Field(
        default=None, ge=0, description="USD per million input tokens written with a 1-hour TTL"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_per_1k_keys(cls, data: object) -> object:
        """A document written for the old unit is refused saying how to convert it, not as an "extra field":
        read as it stands, every price would be a thousand times too low."""
        if isinstance(data, dict):
            problems = [_per_1k_problem(old, data[old]) for old in _PER_1K_KEYS if old in data]
            if problems:
                raise ValueError("; ".join(problems))
        return data


def _per_1k_problem(old: str, value: object) -> str:
    new = _PER_1K_KEYS[old]
    here = f" (here: {value * 1000:.12g})" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
    return (
        f"{old} is no longer accepted: prices are USD per million tokens, as AWS publishes them; "
        f"use {new}, which is {old} times 1000{here}"
    )


CacheField = Literal["system", "messages", "tools"]
CacheTtl = Literal["5m", "1h"]


class PromptCaching(StrictModel):
    """What Bedrock prompt caching (Converse `cachePoint`) this model takes, from its Bedrock model card."""

    fields: tuple[CacheField, ...] = Field(
        default=("system", "messages", "tools"),
        min_length=1,
        description="Where cache points may go (Nova: system and messages; Claude: tools too)",
    )
    min_tokens: int = Field(
        ge=1, description="Tokens a prefix needs at a cache point to be cached (shorter: answered, not cached)"
    )
    max_points: int = Field(default=4, ge=1, le=4, description="Cache points per request (Bedrock: at most 4)")
    ttls: tuple[CacheTtl, ...] = Field(default=("5m",), min_length=1, description="Cache lifetimes it takes")


def _price_or_prices(schema: dict) -> None:
    required = [name for name in schema.get("required", []) if name != "price"]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    schema["anyOf"] = [{"required": ["price"]}, {"required": ["prices"]}]


class ModelSpec(StrictModel):
    """One entry of the model catalog. Its key is the model's alias."""

    # The JSON Schema says `price` or `prices` (pydantic alone would require `price`, which the validator derives).
    model_config = ConfigDict(json_schema_extra=_price_or_prices)

    model_id: str = Field(
        min_length=1,
        max_length=2048,
        description="Bedrock model id, cross-Region inference profile id (us./eu./apac./jp./au./global.) or ARN; "
        "with inference_profile, the foundation-model id (the profile for the Region is chosen at deploy)",
    )
    inference_profile: ProfileKind | None = Field(
        default=None,
        description="'geographic': call the profile of the deploy Region's geography (data stays in it); "
        "'global': the global profile (any commercial Region, cheaper). Omit to call model_id as written",
    )
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$",
        description="Region to call this model in; default: the router's own region",
    )
    display_name: str | None = None
    price: Price = Field(description="USD per million tokens of what is called; or give `prices`")
    prices: dict[PriceKind, Price] | None = Field(
        default=None,
        min_length=1,
        description="Prices per way of calling (in_region, geographic, global); the entry's own is used",
    )
    marketplace_product_id: str | None = Field(
        default=None,
        pattern=r"^(prod-[a-z0-9]{8,20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$",
        description="AWS Marketplace product id of a third-party model (its Bedrock model card): the deploy lets "
        "the router subscribe to exactly these on first use",
    )
    context_window: int = Field(default=200_000, ge=1, description="Input tokens the model accepts")
    max_output_tokens: int = Field(default=4096, ge=1)
    modalities: tuple[Modality, ...] = Field(default=("text",), min_length=1)
    supports_tools: bool = True
    thinking: tuple[Literal["enabled", "adaptive"], ...] = Field(
        default=(),
        description="Anthropic extended thinking the model takes: 'enabled' (with budget_tokens), 'adaptive', or "
        "both; empty (the default): none, and a request's thinking is left out when this model serves it",
    )
    sampling: SamplingRule = Field(
        default="temperature_and_top_p",
        description="Which of temperature and top_p the model takes: both ('temperature_and_top_p'), one "
        "('temperature_or_top_p': Claude 4.1 and later; when a call has both, temperature wins and top_p is not sent) "
        "or neither ('none': Claude Opus 4.7 and later)",
    )
    prompt_caching: PromptCaching | None = Field(
        default=None,
        description="Bedrock prompt caching this model takes; omit for none (cache points are then not sent)",
    )
    quality: int = Field(default=50, ge=0, le=100, description="Relative strength; higher is stronger")
    latency_slo_ms: int = Field(default=10_000, ge=1, description="p90 latency the model should stay under")
    fallbacks: tuple[Key, ...] = Field(default=(), description="Model keys to try, in order, if this one fails")

    @model_validator(mode="before")
    @classmethod
    def _resolve_profile_and_price(cls, data: Any, info: ValidationInfo) -> Any:
        """Choose the profile to call (for the context's Region) and the price of that kind, before the fields are
        validated, so `model_id` and `price` are always what is called. Context: `region` (None: the default
        geography) and `resolve` (False: a foundation-model id with inference_profile is refused, as a document
        the routers read must already name its profile)."""
        if not isinstance(data, dict):
            return data
        context = info.context or {}
        data = dict(data)
        model_id, kind = data.get("model_id"), data.get("inference_profile")
        region = data.get("region") or context.get("region")
        if isinstance(model_id, str) and kind in ("geographic", "global"):
            data["model_id"] = _profile_for(model_id, kind, region, resolve=context.get("resolve", True))
        elif isinstance(model_id, str) and region and context.get("region"):
            problem = geography.profile_problem(model_id, region)
            if problem:
                raise ValueError(problem)
        prices = data.get("prices")
        if isinstance(prices, dict) and isinstance(data.get("model_id"), str):
            if "price" in data:
                raise ValueError("give price (whatever is called) or prices (per inference profile kind), not both")
            called = geography.price_kind(data["model_id"])
            if called is None:
                raise ValueError("an ARN model_id takes one `price`: its id does not say how it is billed")
            if called not in prices:
                raise ValueError(
                    f"prices has no '{called}' entry, the kind {data['model_id']} is billed as "
                    f"(given: {', '.join(sorted(prices))})"
                )
            data["price"] = prices[called]
        return data

    @model_validator(mode="after")
    def _cache_prices(self) -> ModelSpec:
        """A model that caches is priced for it: reads and writes cost other than input (0.1x and 1.25x for
        Claude), and a missing line would misprice every cached request silently."""
        if self.prompt_caching is not None:
            price = self.price
            missing = [
                name for name in ("cache_read_per_million", "cache_write_per_million") if getattr(price, name) is None
            ]
            if "1h" in self.prompt_caching.ttls and price.cache_write_1h_per_million is None:
                missing.append("cache_write_1h_per_million")
            if missing:
                raise ValueError(f"prompt_caching needs the cache prices too: {', '.join(missing)}")
        return self


def _profile_for(model_id: str, kind: ProfileKind, region: str | None, *, resolve: bool) -> str:
    parts = geography.split_profile_id(model_id)
    if parts.prefix is not None:  # already resolved (the deployed document): the kind and the Region must agree
        if (parts.prefix == geography.GLOBAL) != (kind == "global"):
            raise ValueError(f"model_id {model_id} is not a {kind} inference profile (inference_profile is '{kind}')")
        problem = geography.profile_problem(model_id, region) if region else None
        if problem:
            raise ValueError(problem)
        return model_id
    if not geography.is_foundation_model_id(model_id):
        raise ValueError("with inference_profile, model_id must be a foundation-model id (e.g. amazon.nova-pro-v1:0)")
    try:
        resolved = geography.profile_id(model_id, kind, region)
    except geography.GeographyError as exc:
        raise ValueError(str(exc)) from None
    if not resolve:
        raise ValueError(
            f"model_id {model_id} names no inference profile: the routers need the profile id for their Region "
            f"({resolved} here; cdk synth writes it)"
        )
    return resolved


class PromptRouterSpec(StrictModel):
    arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:(default-)?prompt-router/.+$",
        description="Prompt-router ARN; omit to use the router created by the stack (PROMPT_ROUTER_ARN)",
    )
    models: tuple[Key, ...] = Field(min_length=1, description="Catalog keys of the models the router may invoke")
    description: str = ""


@dataclass(frozen=True, slots=True)
class Sampling:
    """The sampling settings a model is called with, and those its rule left out (name -> value), so the answer's
    routing facts can say which value won."""

    temperature: float | None
    top_p: float | None
    dropped: dict[str, float]


def accepted_sampling(rule: str, temperature: float | None, top_p: float | None) -> Sampling:
    """What of `temperature` and `top_p` a model with sampling `rule` takes: with 'temperature_or_top_p' and both
    set, temperature wins (as aws-samples/bedrock-access-gateway does); with 'none', neither is sent."""
    if rule == "none":
        dropped = {k: v for k, v in (("temperature", temperature), ("top_p", top_p)) if v is not None}
        return Sampling(None, None, dropped)
    if rule == "temperature_or_top_p" and temperature is not None and top_p is not None:
        return Sampling(temperature, None, {"top_p": top_p})
    return Sampling(temperature, top_p, {})
