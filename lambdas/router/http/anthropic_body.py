"""The Anthropic Messages API's request body models, imported by `anthropic_api` on its first request: a cold start
that serves only the other APIs never builds these classes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from router.http.parsing import TOOL_NAME


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)  # fields we do not know are noted, not refused


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    role: Literal["user", "assistant", "system"]
    content: str | list[dict[str, Any]]


class AnthropicBody(_Open):
    model: str = Field(min_length=1, max_length=256)
    messages: list[AnthropicMessage]
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)  # required for messages, not for counting
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None
    stream: bool | None = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    cache_control: dict[str, Any] | None = None
    mcp_servers: list[Any] | None = None
    dry_run: bool = False  # ours, sent with the anthropic SDK's extra_body={"dry_run": True}
    max_cost_usd: float | None = Field(default=None, gt=0)  # ours, likewise


class ToolParam(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)  # strict, input_examples, ... : not for Converse
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = None
    input_schema: dict[str, Any]
    cache_control: dict[str, Any] | None = None
