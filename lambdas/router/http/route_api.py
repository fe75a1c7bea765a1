"""Our JSON API (`POST /v1/route`): the body in, the answer (or a stream of our own SSE events) out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aws_adapters.conversation import Content, Document, Image, Role, Text, TextDelta
from router.chat import ChatRequest, Finished, StreamEvent, StreamFailed
from router.failures import RouterFailure, invalid
from router.http import errors
from router.http.parsing import b64, check_count, load_json, merge_turns, validate
from router.http.sse import sse
from router.http.wire import round_cost, routing
from router.result import RouteResult

API_NAME = "route"  # the request's log line says which API served it
REQUEST_ID_HEADER = "x-request-id"
status_of = errors.status_of  # the one table's status, as it stands


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class TextBlock(_Strict):
    type: Literal["text"]
    text: str


class ImageBlock(_Strict):
    type: Literal["image"]
    format: Literal["png", "jpeg", "gif", "webp"]
    data: str = Field(description="base64")


class DocumentBlock(_Strict):
    type: Literal["document"]
    format: Literal["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"]
    name: str = Field(min_length=1, max_length=200)
    data: str = Field(description="base64")


Block = Annotated[TextBlock | ImageBlock | DocumentBlock, Field(discriminator="type")]


class RouteMessage(_Strict):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class RouteBody(_Strict):
    task: str | None = Field(default=None, max_length=128)
    messages: list[RouteMessage] | None = None
    prompt: str | None = None
    system: str | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[Annotated[str, Field(min_length=1)]] | None = None  # at most MAX_STOP_SEQUENCES: check_request
    max_cost_usd: float | None = Field(default=None, gt=0)
    dry_run: bool = False
    stream: bool = False
    metadata: dict[str, Any] | None = None


def parse(text: str, *, max_messages: int) -> ChatRequest:
    parsed = validate(RouteBody, load_json(text))
    if parsed.messages is not None and parsed.prompt is not None:
        raise invalid("invalid_request", "give either 'messages' or 'prompt', not both", param="messages")
    if parsed.prompt is not None:
        if not parsed.prompt.strip():
            raise invalid("empty_messages", "'prompt' is empty", param="prompt")
        wire = [RouteMessage(role="user", content=parsed.prompt)]
    elif parsed.messages:
        wire = parsed.messages
    else:
        raise invalid("empty_messages", "give a non-empty 'messages' list or a 'prompt' string", param="messages")
    check_count(len(wire), max_messages)
    turns: list[tuple[Role, list[Content]]] = []
    for i, message in enumerate(wire):
        blocks = [TextBlock(type="text", text=message.content)] if isinstance(message.content, str) else message.content
        content: list[Content] = []
        for j, block in enumerate(blocks):
            where = f"messages[{i}].content[{j}]"
            if isinstance(block, TextBlock):
                if block.text:
                    content.append(Text(block.text))
            elif isinstance(block, ImageBlock):
                content.append(Image(block.format, b64(block.data, where)))
            else:
                content.append(Document(block.format, block.name, b64(block.data, where)))
        turns.append((message.role, content))
    messages, conversation = merge_turns(turns)
    return ChatRequest(
        name=parsed.task,
        messages=messages,
        turns=conversation,
        system=parsed.system,
        max_tokens=parsed.max_tokens,
        temperature=parsed.temperature,
        top_p=parsed.top_p,
        stop=tuple(parsed.stop or ()),
        max_cost_usd=parsed.max_cost_usd,
        dry_run=parsed.dry_run,
        stream=parsed.stream,
    )


def dry_run_body(result: RouteResult, backend: str) -> dict:
    return {
        "dry_run": True,
        "routing": routing(result),
        "estimated_cost_usd": result.decision.estimated_cost_usd,
        "decision": result.decision.trace,
        "backend": backend,
    }


def render(request: ChatRequest, result: RouteResult, *, request_id: str, backend: str) -> dict:
    if request.dry_run:
        return dry_run_body(result, backend)
    reply = result.reply
    assert reply is not None
    return {
        "id": request_id,
        "output": {"role": "assistant", "content": reply.text},
        "stop_reason": reply.stop_reason,
        "routing": routing(result),
        "usage": usage(reply.input_tokens, reply.output_tokens, reply.cache_read_tokens, reply.cache_write_tokens),
        "cost": {"estimated_usd": round_cost(result.cost_usd), "currency": "USD"},
        "latency_ms": {"total": round(result.latency_ms, 1), "model": round(reply.latency_ms, 1)},
        "backend": backend,
    }


def error_body(failure: RouterFailure, request_id: str) -> dict:
    status, error_type = errors.status_of(failure), errors.openai_type(failure)
    return {
        "error": {
            "code": failure.code,
            "message": failure.message,
            "type": error_type,
            "param": failure.param,
            **({"details": failure.details} if failure.details else {}),
        },
        "request_id": request_id,
        "status": status,
    }


def stream_frames(
    events: Iterator[StreamEvent], _request: ChatRequest, result: RouteResult, *, request_id: str, backend: str
) -> Iterator[bytes]:
    """Our SSE stream: `routing` first, then `delta`s of text, then `done` with usage, cost and latency (or
    `error`, in our error shape, if the model fails after it has started)."""
    yield sse({"id": request_id, "routing": routing(result), "backend": backend}, event="routing")
    for event in events:
        if isinstance(event, TextDelta):
            yield sse({"text": event.text}, event="delta")
        elif isinstance(event, Finished):
            yield sse(
                {
                    "id": request_id,
                    "stop_reason": event.stop_reason,
                    "model": result.model,
                    "usage": usage(
                        event.input_tokens, event.output_tokens, event.cache_read_tokens, event.cache_write_tokens
                    ),
                    "cost": {"estimated_usd": round_cost(event.cost_usd), "currency": "USD"},
                    "latency_ms": {"first_token": round(event.ttft_ms, 1), "total": round(event.total_ms, 1)},
                },
                event="done",
            )
        elif isinstance(event, StreamFailed):
            yield sse(error_body(event.failure, request_id), event="error")


def dry_run_frames(_request: ChatRequest, result: RouteResult, *, request_id: str, backend: str) -> Iterator[bytes]:
    """A dry run asked as a stream: the `routing` event carries the whole decision, then `done`; no model call."""
    yield sse({"id": request_id, **dry_run_body(result, backend)}, event="routing")
    yield sse(
        {"id": request_id, "dry_run": True, "estimated_cost_usd": result.decision.estimated_cost_usd}, event="done"
    )


def usage(input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> dict:
    """Our usage: `input_tokens` not read from or written to the prompt cache (as Converse counts them), the
    cached ones apart, and `total_tokens` all of them."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_write_input_tokens": cache_write,
        "total_tokens": input_tokens + cache_read + cache_write + output_tokens,
    }
