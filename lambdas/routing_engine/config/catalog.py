"""The model catalog: what each model is, costs and can do, and the Bedrock prompt routers built from them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from routing_engine.config.base import Key, StrictModel

Modality = Literal["text", "image", "document"]


class Price(StrictModel):
    input_per_1k: float = Field(ge=0, description="USD per 1,000 input tokens")
    output_per_1k: float = Field(ge=0, description="USD per 1,000 output tokens")


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
    simulated_latency_ms: int = Field(
        default=300, ge=0, le=60_000, description="Latency of the local simulated backend for this model"
    )


class PromptRouterSpec(StrictModel):
    arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:(default-)?prompt-router/.+$",
        description="Prompt-router ARN; omit to use the router created by the stack (PROMPT_ROUTER_ARN)",
    )
    models: tuple[Key, ...] = Field(min_length=1, description="Catalog keys of the models the router may invoke")
    description: str = ""
