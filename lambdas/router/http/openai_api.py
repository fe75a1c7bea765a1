"""The OpenAI chat-completions API (`POST /v1/chat/completions`): its body in, a `chat.completion` (or its
`chat.completion.chunk` stream, exactly as OpenAI sends it) out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aws_adapters.conversation import (
    STRUCTURED_TOOL,
    Content,
    Image,
    Role,
    StructuredOutput,
    Text,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolResult,
    ToolSpec,
    ToolUse,
)
from router.chat import ChatRequest, Finished, StreamEvent, StreamFailed
from router.failures import RouterFailure, invalid
from router.http import errors
from router.http.parsing import TOOL_NAME, b64, check_count, load_json, merge_turns, parse_json, validate
from router.http.sse import DONE, HOLE, sse, template
from router.http.wire import round_cost, routing
from router.result import RouteResult

API_NAME = "openai"  # the request's log line says which API served it
REQUEST_ID_HEADER = "x-request-id"
status_of = errors.status_of  # the one table's status, as it stands

IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)  # OpenAI clients send fields we do not use


class OpenAIFunction(_Open):
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class OpenAITool(_Open):
    type: Literal["function"]
    function: OpenAIFunction


class OpenAIToolCallFunction(_Open):
    name: str
    arguments: str = "{}"


class OpenAIToolCall(_Open):
    id: str = Field(min_length=1, max_length=64)
    type: Literal["function"] = "function"
    function: OpenAIToolCallFunction


class OpenAIMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[OpenAIToolCall] | None = None
    tool_call_id: str | None = None


class NamedFunction(_Open):
    name: str


class NamedToolChoice(_Open):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(_Open):
    name: str = Field(default="structured_output", pattern=TOOL_NAME)
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(_Open):
    include_usage: bool | None = None


class OpenAIBody(_Open):
    model: str = Field(min_length=1, max_length=256)
    messages: list[OpenAIMessage]
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=200_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: Annotated[str, Field(min_length=1)] | list[Annotated[str, Field(min_length=1)]] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(default=1, ge=1)
    tools: list[OpenAITool] | None = None
    tool_choice: Literal["auto", "required", "none"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    dry_run: bool = False  # ours, sent with the openai SDK's extra_body={"dry_run": True}
    max_cost_usd: float | None = Field(default=None, gt=0)  # ours, likewise


def parse(text: str, *, max_messages: int) -> ChatRequest:
    parsed = validate(OpenAIBody, load_json(text))
    if parsed.n not in (None, 1):
        raise invalid("invalid_request", "only n = 1 is supported", param="n")
    if not parsed.messages:
        raise invalid("empty_messages", "'messages' must not be empty", param="messages")
    check_count(len(parsed.messages), max_messages)
    system_parts: list[str] = []
    turns: list[tuple[Role, list[Content]]] = []
    for i, message in enumerate(parsed.messages):
        where = f"messages[{i}]"
        if message.role == "system" or message.role == "developer":
            system_parts.append(_text(message.content, where))
            continue
        if message.role == "tool":
            text = _text(message.content, where)
            if not message.tool_call_id:
                raise invalid("invalid_request", f"{where}: a tool message needs tool_call_id", param=where)
            turns.append(("user", [ToolResult(message.tool_call_id, text)]))
            continue
        content: list[Content] = []
        if isinstance(message.content, str):
            if message.content:
                content.append(Text(message.content))
        elif message.content is not None:
            for j, part in enumerate(message.content):
                block = _part(part, f"{where}.content[{j}]")
                if block is not None:
                    content.append(block)
        for call in message.tool_calls or ():
            content.append(ToolUse(call.id, call.function.name, _arguments(call.function.arguments, where)))
        turns.append((message.role, content))
    if not turns:
        raise invalid("empty_messages", "'messages' needs at least one user message", param="messages")
    messages, conversation = merge_turns(turns)
    stop = (parsed.stop,) if isinstance(parsed.stop, str) else tuple(parsed.stop or ())
    tools = tuple(
        ToolSpec(
            t.function.name,
            t.function.description or None,
            t.function.parameters or {"type": "object", "properties": {}},
        )
        for t in parsed.tools or ()
    )
    tool_choice, no_tools = _tool_choice(parsed.tool_choice, tools)
    return ChatRequest(
        name=parsed.model,
        messages=messages,
        turns=conversation,
        system="\n\n".join(p for p in system_parts if p) or None,
        max_tokens=parsed.max_completion_tokens or parsed.max_tokens,
        temperature=None if parsed.temperature is None else min(parsed.temperature, 1.0),
        top_p=parsed.top_p,
        stop=stop,
        max_cost_usd=parsed.max_cost_usd,
        dry_run=parsed.dry_run,
        tools=tools,
        tool_choice=tool_choice,
        no_tools=no_tools,
        structured=_structured(parsed.response_format, tools),
        stream=bool(parsed.stream),
        include_usage=bool(parsed.stream_options and parsed.stream_options.include_usage),
    )


def _arguments(arguments: str, where: str):
    value = parse_json(arguments or "{}", f"{where}: tool call arguments")
    if not isinstance(value, dict):
        raise invalid("invalid_request", f"{where}: tool call arguments must be a JSON object", param=where)
    return value


def _tool_choice(choice, tools: tuple[ToolSpec, ...]) -> tuple[ToolChoice | None, bool]:
    """OpenAI tool_choice -> (the model's tool choice, answer without tools?)."""
    if choice is None or choice == "auto":
        return (ToolChoice("auto") if tools and choice == "auto" else None), False
    if choice == "none":
        return None, True
    if not tools:
        raise invalid("invalid_request", "tool_choice needs 'tools'", param="tool_choice")
    if choice == "required":
        return ToolChoice("required"), False
    names = [t.name for t in tools]
    if choice.function.name not in names:
        raise invalid(
            "invalid_request",
            f"tool_choice names '{choice.function.name}', which is not among the tools ({', '.join(names)})",
            param="tool_choice",
        )
    return ToolChoice("named", choice.function.name), False


def _structured(fmt: ResponseFormat | None, tools: tuple[ToolSpec, ...]) -> StructuredOutput | None:
    if fmt is None or fmt.type == "text":
        return None
    taken = {t.name for t in tools}
    description: str | None
    if fmt.type == "json_object":
        name = STRUCTURED_TOOL
        schema: dict = {"type": "object", "additionalProperties": True}
        description = "Reply by calling this tool: its input is your answer, as a JSON object."
    else:
        if fmt.json_schema is None:
            raise invalid("invalid_request", "response_format json_schema needs 'json_schema'", param="response_format")
        name, schema, description = fmt.json_schema.name, fmt.json_schema.schema_, fmt.json_schema.description
    if name in taken:
        raise invalid(
            "invalid_request", f"response_format name '{name}' is also a tool's name", param="response_format"
        )
    return StructuredOutput(fmt.type, schema, name, description)


def _text(content, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise invalid("unsupported_content", f"{where}.content[{j}]: only text parts are allowed here", param=where)
        texts.append(part["text"])
    return "\n".join(texts)


def _part(part: dict, where: str) -> Content | None:
    """One content part; None for an empty text part (models refuse empty text blocks)."""
    kind = part.get("type")
    if kind == "text" and isinstance(part.get("text"), str):
        return Text(part["text"]) if part["text"] else None
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
        if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
            raise invalid(
                "unsupported_content",
                f"{where}: images must be inline data URLs (data:image/png;base64,...)",
                param=where,
            )
        header, data = url.split(",", 1)
        fmt = header[len("data:image/") :].split(";", 1)[0].lower().replace("jpg", "jpeg")
        if fmt not in IMAGE_FORMATS:
            raise invalid("unsupported_content", f"{where}: image format '{fmt}' is not supported", param=where)
        return Image(fmt, b64(data, where))
    raise invalid("unsupported_content", f"{where}: content part type '{kind}' is not supported", param=where)


# --- out -----------------------------------------------------------------------------------------


def _usage(input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> dict:
    """OpenAI's usage: `prompt_tokens` counts every input token, cached ones too (Converse's inputTokens leaves
    them out); `prompt_tokens_details.cached_tokens` those read from the prompt cache, `cache_write_tokens` (as
    the openai SDK names it) those written to it."""
    prompt = input_tokens + cache_read + cache_write
    details: dict = {"cached_tokens": cache_read}
    if cache_write:
        details["cache_write_tokens"] = cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output_tokens,
        "total_tokens": prompt + output_tokens,
        "prompt_tokens_details": details,
    }


def _x_router(result: RouteResult, backend: str) -> dict:
    return {**routing(result), "estimated_cost_usd": round_cost(result.cost_usd), "backend": backend}


DRY_RUN_TAG = "[DRY RUN]"


def dry_run_text(result: RouteResult) -> str:
    """A dry run's answer text: no client may take it for a model's (empty) answer."""
    d = result.decision
    cost = d.estimated_cost_usd
    return (
        f"{DRY_RUN_TAG} No model was called. This request would go to {d.model} ({d.model_id}) on route {d.route} "
        f"by rule {d.rule}"
        + (f", estimated to cost up to {cost:.6f} USD" if cost is not None else "")
        + "; the whole decision is in x_router."
    )


def render(request: ChatRequest, result: RouteResult, *, request_id: str, backend: str) -> dict:
    message: dict[str, Any]
    if request.dry_run:  # a chat.completion an SDK can read, saying what it is, with the whole decision beside it
        message = {"role": "assistant", "content": dry_run_text(result)}
        finish, usage = "stop", {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        extra = {
            "dry_run": True,
            "estimated_cost_usd": result.decision.estimated_cost_usd,
            "decision": result.decision.trace,
        }
    else:
        reply = result.reply
        assert reply is not None
        message = {"role": "assistant", "content": reply.text or None}
        structured = request.structured.name if request.structured is not None else None
        tool_calls = []
        for use in reply.tool_calls:
            arguments = json.dumps(use.input, ensure_ascii=False)
            if use.name == structured:
                message["content"] = arguments  # structured output: the forced tool's input is the answer
                continue
            tool_calls.append(
                {"id": use.call_id, "type": "function", "function": {"name": use.name, "arguments": arguments}}
            )
        finish = FINISH_REASONS.get(reply.stop_reason, "stop")
        if tool_calls:
            message["tool_calls"] = tool_calls
        else:
            if message["content"] is None:
                message["content"] = ""
            if finish == "tool_calls":  # only the structured-output tool was called: to the caller that is an answer
                finish = "stop"
        usage = _usage(reply.input_tokens, reply.output_tokens, reply.cache_read_tokens, reply.cache_write_tokens)
        extra = {}
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.name,
        "system_fingerprint": result.config_version,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage,
        "x_router": {**_x_router(result, backend), **extra},
    }


def error_body(failure: RouterFailure, request_id: str) -> dict:
    return {
        "error": {
            "message": failure.message,
            "type": errors.openai_type(failure),
            "param": failure.param,
            "code": failure.code,
            **({"details": failure.details} if failure.details else {}),
        },
        "request_id": request_id,
    }


def stream_frames(
    events: Iterator[StreamEvent], request: ChatRequest, result: RouteResult, *, request_id: str, backend: str
) -> Iterator[bytes]:
    """`chat.completion.chunk`s as OpenAI sends them: the role first, content and tool-call deltas, a chunk with
    `finish_reason`, a usage chunk (choices empty) when `stream_options.include_usage`, then `[DONE]`."""
    base = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.name,
        "system_fingerprint": result.config_version,
    }

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})

    content = template(
        {**base, "choices": [{"index": 0, "delta": {"content": HOLE}, "finish_reason": None, "logprobs": None}]}
    )
    yield chunk({"role": "assistant", "content": ""})
    called_tools = False
    for event in events:
        if isinstance(event, TextDelta):
            yield content(event.text)
        elif isinstance(event, ToolCallStart):
            if event.structured:
                continue  # its arguments arrive as content deltas
            called_tools = True
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": event.index,
                            "id": event.call_id,
                            "type": "function",
                            "function": {"name": event.name, "arguments": ""},
                        }
                    ]
                }
            )
        elif isinstance(event, ToolCallDelta):
            if event.structured:
                yield content(event.fragment)
            else:
                yield chunk({"tool_calls": [{"index": event.index, "function": {"arguments": event.fragment}}]})
        elif isinstance(event, Finished):
            finish = FINISH_REASONS.get(event.stop_reason, "stop")
            if finish == "tool_calls" and not called_tools:
                finish = "stop"
            yield chunk({}, finish)
            if request.include_usage:
                yield sse(
                    {
                        **base,
                        "choices": [],
                        "usage": _usage(
                            event.input_tokens, event.output_tokens, event.cache_read_tokens, event.cache_write_tokens
                        ),
                        "x_router": {
                            **_x_router(result, backend),
                            "estimated_cost_usd": round_cost(event.cost_usd),
                            "latency_ms": {"first_token": round(event.ttft_ms, 1), "total": round(event.total_ms, 1)},
                        },
                    }
                )
        elif isinstance(event, StreamFailed):
            # OpenAI's own mid-stream error shape: one data line with an "error" object; then the stream ends
            yield sse(error_body(event.failure, request_id))
            return
    yield DONE


def dry_run_frames(request: ChatRequest, result: RouteResult, *, request_id: str, backend: str) -> Iterator[bytes]:
    """A dry run asked as a stream is a stream (a streaming client reads nothing else): one chunk with the role
    and the whole decision in `x_router`, the finish chunk, then [DONE]. No model is called."""
    body = render(request, result, request_id=request_id, backend=backend)
    base = {
        "id": body["id"],
        "object": "chat.completion.chunk",
        "created": body["created"],
        "model": request.name,
        "system_fingerprint": result.config_version,
    }
    yield sse(
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": dry_run_text(result)},
                    "finish_reason": None,
                    "logprobs": None,
                }
            ],
            "x_router": body["x_router"],
        }
    )
    yield sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]})
    yield DONE
