"""A chat request and the events of a streamed answer, independent of any wire format.

Each API module (router.http.route_api, router.http.openai_api) parses its body into a `ChatRequest`; the core
(router.service) serves it; the API module renders the result, or the stream of `StreamEvent`s, back. The
conversation, tools and answer events are `aws_adapters.conversation` types, which the Bedrock adapter translates.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_adapters.conversation import (
    CachePoint,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    StructuredOutput,
    Text,
    TextDelta,
    Thinking,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolSpec,
    Turn,
)
from router.failures import RouterFailure
from routing_engine.features import Message


@dataclass(frozen=True, slots=True)
class ChatRequest:
    name: str | None
    messages: tuple[Message, ...]  # what the routing engine's features read: each turn's text and attachment sizes
    turns: tuple[Turn, ...]  # the conversation the model is called with
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    max_cost_usd: float | None = None
    dry_run: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    no_tools: bool = False  # OpenAI tool_choice "none": the model must answer in text
    structured: StructuredOutput | None = None
    stream: bool = False
    include_usage: bool = False  # OpenAI stream_options.include_usage
    top_k: int | None = None
    thinking: Thinking | None = None  # extended thinking, as asked; fitted to each model the request is sent to
    system_blocks: tuple[Text | CachePoint, ...] = ()  # `system` as blocks, when the caller marked cache breakpoints
    notes: tuple[str, ...] = ()  # what the parser dropped or changed from the request, for the trace and log line

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools) or self.structured is not None

    @property
    def is_continuation(self) -> bool:
        """It continues a conversation: it carries earlier assistant turns (answers, or tool calls whose results
        follow). Such a request goes where the conversation began (Engine.decide's `task`)."""
        return any(message.role == "assistant" for message in self.messages)

    def task_messages(self) -> tuple[Message, ...]:
        """The conversation's task: its first user turn. With `system`, what every turn of a conversation is routed
        on, so that each is decided as the first was, on any instance."""
        first = next((message for message in self.messages if message.role == "user"), None)
        return (first,) if first is not None else ()

    def temperature_on(self, route) -> float | None:
        """The temperature a model is called with: the caller's, else the route's (`route` may be None)."""
        if self.temperature is not None or route is None:
            return self.temperature
        return route.temperature


# --- a streamed answer ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finished:
    stop_reason: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    ttft_ms: float
    total_ms: float
    stop_sequence: str | None = None
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """A failure after the first byte: the stream ends with this; no other model's output follows."""

    failure: RouterFailure


StreamEvent = (
    TextDelta
    | ToolCallStart
    | ToolCallDelta
    | ReasoningDelta
    | ReasoningSignature
    | RedactedReasoning
    | Finished
    | StreamFailed
)
