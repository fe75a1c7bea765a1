"""A chat request and the events of a streamed answer, independent of any wire format.

Both APIs (router.http.route_api, router.http.openai_api) parse into `ChatRequest`; the core
(router.service) serves it; each API renders the outcome or the stream of `StreamEvent`s back.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing_engine.features import Message

STRUCTURED_TOOL = "structured_output"  # the forced tool that carries a JSON answer (response_format)


@dataclass(frozen=True, slots=True)
class StructuredOutput:
    """OpenAI `response_format`: served on Bedrock as one forced tool call whose input is the JSON answer."""

    kind: str  # "json_object" or "json_schema"
    schema: dict
    name: str = STRUCTURED_TOOL
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    name: str | None
    messages: tuple[Message, ...]
    converse_messages: list
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    max_cost_usd: float | None = None
    dry_run: bool = False
    tools: tuple[dict, ...] = ()  # Converse toolSpec entries
    tool_choice: dict | None = None  # Converse toolChoice ({"auto": {}}, {"any": {}}, {"tool": {"name": ...}})
    no_tools: bool = False  # OpenAI tool_choice "none": the model must answer in text
    structured: StructuredOutput | None = None
    stream: bool = False
    include_usage: bool = False  # OpenAI stream_options.include_usage

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools) or self.structured is not None

    def temperature_on(self, route) -> float | None:
        """The temperature a model is called with: the caller's, else the route's (`route` may be None)."""
        if self.temperature is not None or route is None:
            return self.temperature
        return route.temperature


# --- a streamed answer ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int  # 0, 1, ... among the answer's tool calls
    call_id: str
    name: str
    structured: bool = False  # the structured-output tool: its arguments are the answer's content


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    fragment: str  # a piece of the arguments' JSON text
    structured: bool = False


@dataclass(frozen=True, slots=True)
class Finished:
    stop_reason: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    ttft_ms: float
    total_ms: float


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """A failure after the first byte: the stream ends with this; no other model's output follows."""

    failure: object  # router.failures.RouterFailure (kept untyped here to avoid an import cycle)


StreamEvent = TextDelta | ToolCallStart | ToolCallDelta | Finished | StreamFailed
