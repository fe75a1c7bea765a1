"""A model call and its answer in plain terms: what the router and the labeller hand the Bedrock adapter, and what
they get back. No Converse key names here: `aws_adapters.converse` translates both ways.

These types sit beside the adapter, not in the router, because both Lambdas that call Bedrock use them (no Lambda
imports another Lambda's package). They are values: build them, never change them. They are slotted but not frozen
dataclasses only because the hot path builds several per request and one per streamed event, and a frozen
dataclass's __init__ pays a setattr call for every field (twice the cost, measured).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

STRUCTURED_TOOL = "structured_output"  # the forced tool that carries a JSON answer (response_format)

# --- the conversation -----------------------------------------------------------------------------


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Image:
    format: str  # png, jpeg, gif, webp
    data: bytes


@dataclass(slots=True)
class Document:
    format: str  # pdf, csv, doc, docx, xls, xlsx, html, txt, md
    name: str
    data: bytes


@dataclass(slots=True)
class ToolUse:
    """A tool call the model made (in an earlier assistant turn, or in its answer)."""

    call_id: str
    name: str
    input: dict[str, Any]


@dataclass(slots=True)
class ToolResult:
    """What a tool returned, sent back in a user turn: its text, and any images or documents it returned too."""

    call_id: str
    text: str
    error: bool = False  # the tool failed (Anthropic `is_error`; Converse status "error")
    attachments: tuple[Image | Document, ...] = ()


@dataclass(slots=True)
class Reasoning:
    """A model's reasoning (extended thinking) in an assistant turn, with the signature that lets it be sent back."""

    text: str
    signature: str | None = None


@dataclass(slots=True)
class RedactedReasoning:
    """Reasoning the provider encrypted: passed back to the model as it came, never shown."""

    data: bytes


@dataclass(slots=True)
class CachePoint:
    """A prompt-cache breakpoint (Anthropic `cache_control`, or placed by a route's `auto_cache_points`): the prefix
    up to the item before it may be cached. The router keeps only those the called model can take
    (router.caching); the Converse adapter places each as a `cachePoint` block."""

    ttl: str | None = None  # "5m" or "1h"; None: the provider's default


Content = Text | Image | Document | ToolUse | ToolResult | Reasoning | RedactedReasoning | CachePoint
Role = Literal["user", "assistant"]


@dataclass(slots=True)
class Turn:
    """One message of the conversation; user and assistant turns alternate, starting with the user."""

    role: Role
    content: tuple[Content, ...]


@dataclass(slots=True)
class ToolSpec:
    name: str
    description: str | None
    schema: dict[str, Any]  # JSON Schema of the tool's input (an object)
    cache: CachePoint | None = None  # a cache breakpoint after this tool (see CachePoint)


@dataclass(slots=True)
class ToolChoice:
    """Which tool the model must call: its own choice (`auto`), any one (`required`), or the one `named`."""

    mode: Literal["auto", "required", "named"]
    name: str | None = None


@dataclass(slots=True)
class StructuredOutput:
    """A JSON answer (OpenAI `response_format`): served on Bedrock as one forced tool call whose input is the
    answer. Its tool is not among the caller's tools, and its call is the answer's content, not a tool call."""

    kind: str  # "json_object" or "json_schema"
    schema: dict[str, Any]
    name: str = STRUCTURED_TOOL
    description: str | None = None


@dataclass(slots=True)
class Thinking:
    """Extended thinking for one call: `enabled` with a token budget, or `adaptive` (the model decides how much).
    `effort` (low ... max) steers adaptive thinking; `display` "omitted" asks for signatures without the text."""

    mode: Literal["enabled", "adaptive"]
    budget_tokens: int | None = None
    effort: str | None = None
    display: str | None = None


@dataclass(slots=True)
class ModelCall:
    """One call to one model. `messages` are `Turn`s; a plain dict is taken as a message already in Converse's
    shape (the labeller still builds its text-only turns that way)."""

    model_id: str
    region: str | None
    messages: Sequence[Turn | dict[str, Any]]
    system: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    no_tools: bool = False  # the caller wants a text answer: no tool call (tools stay only if the history has some)
    structured: StructuredOutput | None = None
    top_k: int | None = None
    thinking: Thinking | None = None  # only for a model that can think (the caller's request fitted to it)
    # The system text as blocks with the caller's cache breakpoints (CachePoint) between them, when it marked any;
    # `system` is the same text joined.
    system_blocks: tuple[Text | CachePoint, ...] = ()
    # which of temperature and top_p the model takes (the catalog's `sampling`): the adapter sends only those
    sampling: str = "temperature_and_top_p"


# --- the answer -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ModelReply:
    """A whole answer (Converse), or the summary that ends a stream (ConverseStream: its text and tool calls came
    as events before it, so here they are empty)."""

    text: str
    tool_calls: tuple[ToolUse, ...]  # in the answer's order; the structured-output tool's call among them
    stop_reason: str  # Converse's: end_turn, max_tokens, stop_sequence, tool_use, content_filtered, ...
    input_tokens: int
    output_tokens: int
    latency_ms: float
    invoked_model_id: str | None  # set by prompt routers: the model that actually answered
    text_only: bool = True  # nothing but text (no tool call, image or reasoning block): what a judge can compare
    reasoning: tuple[Reasoning | RedactedReasoning, ...] = ()  # the answer's reasoning blocks, before its text
    stop_sequence: str | None = None  # the stop sequence that ended the answer, when the model says which
    cache_read_tokens: int = 0  # input tokens read from the prompt cache (not in input_tokens)
    cache_write_tokens: int = 0  # input tokens written to the prompt cache (not in input_tokens)
    cache_write_1h_tokens: int = 0  # of cache_write_tokens, those written with a 1-hour TTL (priced higher)


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ToolCallStart:
    index: int  # 0, 1, ... among the answer's tool calls (the structured-output tool's is apart, at 0)
    call_id: str
    name: str
    structured: bool = False  # the structured-output tool: its arguments are the answer's content


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    fragment: str  # a piece of the arguments' JSON text
    structured: bool = False


@dataclass(slots=True)
class ReasoningDelta:
    """A piece of a reasoning block's text; a `ReasoningSignature` ends the block."""

    text: str


@dataclass(slots=True)
class ReasoningSignature:
    signature: str


ModelEvent = (
    TextDelta | ToolCallStart | ToolCallDelta | ReasoningDelta | ReasoningSignature | RedactedReasoning | ModelReply
)
"""What a model's stream yields: content events, then one `ModelReply` with the stop reason and usage. A
`RedactedReasoning` arrives whole, as one event."""
