"""The model catalog: what each model is, costs and can do, and the Bedrock prompt routers built from them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from routing_engine.config.base import Key, StrictModel

Modality = Literal["text", "image", "document"]

# Keys the catalog read before prices were per million tokens, and what replaced each.
_PER_1K_KEYS = {"input_per_1k": "input_per_million", "output_per_1k": "output_per_million"}


class Price(StrictModel):
    """USD per million tokens, the unit AWS publishes Bedrock prices in."""

    input_per_million: float = Field(ge=0, description="USD per million input tokens")
    output_per_million: float = Field(ge=0, description="USD per million output tokens")

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


class ModelSpec(StrictModel):
    """One entry of the model catalog. Its key is the model's alias."""

    model_id: str = Field(
        min_length=1,
        max_length=2048,
        description="Bedrock model id, cross-region inference profile id (us./eu./apac./global.) or ARN",
    )
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$",
        description="Region to call this model in; default: the router's own region",
    )
    display_name: str | None = None
    price: Price
    context_window: int = Field(default=200_000, ge=1, description="Input tokens the model accepts")
    max_output_tokens: int = Field(default=4096, ge=1)
    modalities: tuple[Modality, ...] = Field(default=("text",), min_length=1)
    supports_tools: bool = True
    quality: int = Field(default=50, ge=0, le=100, description="Relative strength; higher is stronger")
    latency_slo_ms: int = Field(default=10_000, ge=1, description="p90 latency the model should stay under")
    fallbacks: tuple[Key, ...] = Field(default=(), description="Model keys to try, in order, if this one fails")


class PromptRouterSpec(StrictModel):
    arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:(default-)?prompt-router/.+$",
        description="Prompt-router ARN; omit to use the router created by the stack (PROMPT_ROUTER_ARN)",
    )
    models: tuple[Key, ...] = Field(min_length=1, description="Catalog keys of the models the router may invoke")
    description: str = ""
