"""The Anthropic Messages API (`POST /v1/messages`, and `POST /v1/messages/count_tokens`): its body in, Anthropic's
message object (or its event stream, exactly as Anthropic sends it) out, served by the same router as every API.

What each request field becomes (docs/decisions.md, "The Anthropic Messages API", says why):
- `model`: a route, alias or model key, as for the OpenAI API; Anthropic model names resolve through `aliases`.
- `system` (a string or text blocks), `messages` (user, assistant, and a `system` role inside `messages`, which
  becomes a user text block where it stands, wrapped in <system> tags: Converse has no system turn), text, image and
  document blocks (base64 or plain text; URL and file sources are refused: the router fetches nothing), tool_use,
  tool_result (text, images, documents; `is_error`), thinking and redacted_thinking blocks (sent back to a model
  that thinks, with their signatures).
- `tools` (custom tools; server tools are refused), `tool_choice` auto/any/tool/none (`disable_parallel_tool_use`
  has no Converse equivalent: dropped, noted), `stop_sequences`, `max_tokens`, `temperature`, `top_p`, `top_k`.
- `thinking` enabled/adaptive/disabled and `output_config.effort` (with adaptive thinking): fitted to the model that
  serves the request (router.service.fit_thinking); `output_config.format` (a JSON schema): structured output.
- `cache_control` on a block, a tool or a system block, and top-level (automatic: at the end of the conversation):
  carried as `CachePoint`s for prompt caching to place.
- Dropped with a note in the log line and the dry-run trace: `context_management`, `service_tier`, `inference_geo`,
  `speed`, `container`, `diagnostics`, citations, Claude Code's billing-header system block, and any field this
  module does not know. `metadata` is dropped silently (its user_id is not the caller: the credential is).
  `mcp_servers` is refused.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aws_adapters.conversation import (
    CachePoint,
    Content,
    Document,
    Image,
    Reasoning,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    Role,
    StructuredOutput,
    Text,
    TextDelta,
    Thinking,
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
from router.http.parsing import b64, check_count, load_json, merge_turns, validate
from router.http.sse import HOLE, sse, template
from router.http.wire import round_cost, routing
from router.result import RouteResult, TokenCount

if TYPE_CHECKING:
    from router.http.anthropic_body import AnthropicBody

API_NAME = "anthropic"  # the request's log line says which API served it
REQUEST_ID_HEADER = "request-id"  # what the Anthropic SDKs read a response's request id from


def status_of(failure: RouterFailure) -> int:
    """Anthropic's status for a failure: the one table's, with 529 for an overloaded model."""
    return errors.anthropic_status(failure)


STOP_REASONS = {
    "end_turn": "end_turn",
    "stop_sequence": "stop_sequence",
    "max_tokens": "max_tokens",
    "tool_use": "tool_use",
    "content_filtered": "refusal",
    "guardrail_intervened": "refusal",
    "model_context_window_exceeded": "model_context_window_exceeded",
}  # anything else Converse says (malformed_model_output, malformed_tool_use) ends the turn: end_turn
IMAGE_TYPES = {"image/jpeg": "jpeg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
CACHE_TTLS = ("5m", "1h")
BILLING_HEADER = "x-anthropic-billing-header:"  # Claude Code's attribution block: not prompt text
DROPPED_FIELDS = ("context_management", "service_tier", "inference_geo", "speed", "container", "diagnostics")
_DOCUMENT_NAME = re.compile(r"[^A-Za-z0-9\s\-()\[\]]+")


# --- in --------------------------------------------------------------------------------------------


def parse(text: str, *, max_messages: int) -> ChatRequest:
    return _parse(text, max_messages, counting=False)


def parse_count(text: str, *, max_messages: int) -> ChatRequest:
    """A count_tokens body: a messages body without max_tokens."""
    return _parse(text, max_messages, counting=True)


def _parse(text: str, max_messages: int, *, counting: bool) -> ChatRequest:
    from router.http.anthropic_body import AnthropicBody  # on first use: other APIs' cold starts never build it

    parsed = validate(AnthropicBody, load_json(text))
    if parsed.max_tokens is None and not counting:
        raise invalid("invalid_request", "max_tokens: Field required", param="max_tokens")
    if not parsed.messages:
        raise invalid("empty_messages", "'messages' must not be empty", param="messages")
    if parsed.mcp_servers:
        raise invalid(
            "unsupported_parameter",
            "mcp_servers: MCP connectors run on Anthropic's servers; this router on Amazon Bedrock cannot call them",
            param="mcp_servers",
        )
    check_count(len(parsed.messages), max_messages)
    notes = [
        f"{name} dropped: not available through Bedrock"
        if name in DROPPED_FIELDS
        else f"unknown field '{name}' ignored"
        for name in parsed.model_extra or {}
    ]
    system, system_blocks = _system(parsed.system, notes)
    turns: list[tuple[Role, list[Content]]] = []
    for i, message in enumerate(parsed.messages):
        where = f"messages[{i}]"
        if message.role == "system":  # Converse has no system turn: the text stays where it was said, marked
            turns.append(("user", _system_message(message.content, where)))
            continue
        blocks = [{"type": "text", "text": message.content}] if isinstance(message.content, str) else message.content
        content: list[Content] = []
        for j, block in enumerate(blocks):
            _block(block, f"{where}.content[{j}]", message.role, content, notes)
        turns.append((message.role, content))
    if parsed.cache_control is not None:  # automatic caching: the breakpoint at the end of the conversation
        turns[-1][1].append(_cache_point(parsed.cache_control, "cache_control"))
    messages, conversation = merge_turns(turns)
    tools = tuple(_tool(tool, f"tools[{i}]") for i, tool in enumerate(parsed.tools or ()))
    tool_choice, no_tools = _tool_choice(parsed.tool_choice, tools, notes)
    thinking, structured = _output(parsed, tools, notes)
    if thinking is not None and tool_choice is not None and tool_choice.mode in ("required", "named"):
        raise invalid(  # as Anthropic answers it
            "invalid_request", "Thinking may not be enabled when tool_choice forces tool use.", param="tool_choice"
        )
    return ChatRequest(
        name=parsed.model,
        messages=messages,
        turns=conversation,
        system=system,
        system_blocks=system_blocks,
        max_tokens=parsed.max_tokens,
        temperature=parsed.temperature,
        top_p=parsed.top_p,
        top_k=parsed.top_k,
        stop=tuple(s for s in parsed.stop_sequences or () if s),
        max_cost_usd=parsed.max_cost_usd,
        dry_run=parsed.dry_run,
        tools=tools,
        tool_choice=tool_choice,
        no_tools=no_tools,
        structured=structured,
        thinking=thinking,
        stream=bool(parsed.stream) and not counting,
        notes=tuple(dict.fromkeys(notes)),
    )


def _system(system: str | list[dict] | None, notes: list[str]) -> tuple[str | None, tuple[Text | CachePoint, ...]]:
    """(the system text, its blocks with their cache breakpoints when it came as blocks)."""
    if system is None or isinstance(system, str):
        return system or None, ()
    blocks: list[Text | CachePoint] = []
    for j, block in enumerate(system):
        where = f"system[{j}]"
        if block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid("invalid_request", f"{where}: system blocks must be text blocks", param=where)
        if block["text"].startswith(BILLING_HEADER):
            notes.append("Claude Code's billing-header system block dropped: it is attribution, not prompt")
            continue
        if block["text"]:
            blocks.append(Text(block["text"]))
            if block.get("cache_control") is not None:
                blocks.append(_cache_point(block["cache_control"], where))
    text = "\n\n".join(b.text for b in blocks if isinstance(b, Text))
    return text or None, tuple(blocks)


def _system_message(content: str | list[dict], where: str) -> list[Content]:
    texts, marks = [], None
    for j, block in enumerate([{"type": "text", "text": content}] if isinstance(content, str) else content):
        if block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid("invalid_request", f"{where}.content[{j}]: a system message takes text blocks", param=where)
        texts.append(block["text"])
        if block.get("cache_control") is not None:
            marks = _cache_point(block["cache_control"], f"{where}.content[{j}]")
    text = "\n\n".join(t for t in texts if t)
    out: list[Content] = [Text(f"<system>\n{text}\n</system>")] if text else []
    if marks is not None and out:
        out.append(marks)
    return out


def _cache_point(control: Any, where: str) -> CachePoint:
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise invalid("invalid_request", f"{where}.cache_control: the type must be 'ephemeral'", param=where)
    ttl = control.get("ttl")
    if ttl is not None and ttl not in CACHE_TTLS:
        raise invalid("invalid_request", f"{where}.cache_control.ttl: '5m' or '1h', not {ttl!r}", param=where)
    return CachePoint(ttl)


def _block(block: dict, where: str, role: str, content: list[Content], notes: list[str]) -> None:
    """Append one content block (and its cache breakpoint) to `content`; empty text is left out (models refuse it)."""
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text" and isinstance(block.get("text"), str):
        if not block["text"]:
            return
        content.append(Text(block["text"]))
        if block.get("citations"):
            notes.append("citations dropped: not available through this router")
    elif kind == "image":
        content.append(_image(block.get("source"), where))
    elif kind == "document":
        content.append(_document(block, where, notes))
    elif kind == "tool_use" and role == "assistant":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise invalid("invalid_request", f"{where}: a tool_use block needs 'id' and 'name'", param=where)
        tool_input = block.get("input", {})
        if not isinstance(tool_input, dict):
            raise invalid("invalid_request", f"{where}.input: must be an object", param=where)
        content.append(ToolUse(block["id"], block["name"], tool_input))
    elif kind == "tool_result" and role == "user":
        content.append(_tool_result(block, where, notes))
    elif kind == "thinking" and role == "assistant":
        if not isinstance(block.get("thinking"), str):
            raise invalid("invalid_request", f"{where}: a thinking block needs 'thinking'", param=where)
        signature = block.get("signature")
        content.append(Reasoning(block["thinking"], signature if isinstance(signature, str) and signature else None))
    elif kind == "redacted_thinking" and role == "assistant":
        data = block.get("data")
        if not isinstance(data, str):
            raise invalid("invalid_request", f"{where}: a redacted_thinking block needs 'data'", param=where)
        content.append(RedactedReasoning(_unb64(data)))
    elif kind in ("tool_use", "tool_result", "thinking", "redacted_thinking"):
        raise invalid("invalid_request", f"{where}: a {kind} block cannot be in a {role} message", param=where)
    else:
        raise invalid(
            "unsupported_content", f"{where}: content block type {kind!r} is not supported by this router", param=where
        )
    if block.get("cache_control") is not None:
        content.append(_cache_point(block["cache_control"], where))


def _unb64(data: str) -> bytes:
    """Redacted thinking is an opaque string to the client; to Converse it is bytes. Its base64, when it is that."""
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        return data.encode("utf-8")


def _image(source: Any, where: str) -> Image:
    if not isinstance(source, dict):
        raise invalid("invalid_request", f"{where}: an image needs a 'source'", param=where)
    if source.get("type") in ("url", "file"):
        raise invalid(
            "unsupported_content",
            f"{where}: image {source['type']} sources are not supported (the router fetches nothing): send the image "
            "as base64",
            param=where,
        )
    media_type = source.get("media_type")
    if source.get("type") != "base64" or media_type not in IMAGE_TYPES or not isinstance(source.get("data"), str):
        raise invalid(
            "invalid_request",
            f"{where}.source: a base64 source with media_type {', '.join(IMAGE_TYPES)} and 'data'",
            param=where,
        )
    return Image(IMAGE_TYPES[media_type], b64(source["data"], where))


def _document(block: dict, where: str, notes: list[str]) -> Document:
    source = block.get("source")
    if not isinstance(source, dict):
        raise invalid("invalid_request", f"{where}: a document needs a 'source'", param=where)
    title = block.get("title")
    title = title if isinstance(title, str) else ""
    # Converse allows letters, digits, single spaces, hyphens, parentheses and square brackets in a document's name;
    # where the block stands keeps names unique in the request
    name = " ".join(_DOCUMENT_NAME.sub(" ", f"{title[:150] or 'document'} ({where})").split())
    if block.get("citations"):
        notes.append("citations dropped: not available through this router")
    kind = source.get("type")
    if kind == "base64" and source.get("media_type") == "application/pdf" and isinstance(source.get("data"), str):
        return Document("pdf", name, b64(source["data"], where))
    if kind == "text" and isinstance(source.get("data"), str):
        return Document("txt", name, source["data"].encode("utf-8"))
    if kind == "content" and isinstance(source.get("content"), (str, list)):
        parts = source["content"]
        texts = [parts] if isinstance(parts, str) else []
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise invalid(
                    "unsupported_content", f"{where}.source.content: only text blocks are supported", param=where
                )
            texts.append(part["text"])
        return Document("txt", name, "\n\n".join(texts).encode("utf-8"))
    if kind in ("url", "file"):
        raise invalid(
            "unsupported_content",
            f"{where}: document {kind} sources are not supported (the router fetches nothing): send base64 or text",
            param=where,
        )
    raise invalid(
        "invalid_request",
        f"{where}.source: base64 (application/pdf), text (text/plain) or content",
        param=where,
    )


def _tool_result(block: dict, where: str, notes: list[str]) -> ToolResult:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid("invalid_request", f"{where}: a tool_result needs 'tool_use_id'", param=where)
    raw = block.get("content", "")
    texts: list[str] = []
    attachments: list[Image | Document] = []
    for j, part in enumerate([{"type": "text", "text": raw}] if isinstance(raw, str) else raw or ()):
        inner = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image":
            attachments.append(_image(part.get("source"), inner))
        elif kind == "document":
            attachments.append(_document(part, inner, notes))
        else:
            raise invalid(
                "unsupported_content", f"{inner}: a tool_result takes text, image and document blocks", param=inner
            )
    return ToolResult(call_id, "\n".join(t for t in texts if t), bool(block.get("is_error")), tuple(attachments))


def _tool(raw: dict, where: str) -> ToolSpec:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in (None, "custom"):
        raise invalid(
            "unsupported_tool",
            f"{where}: server tool type {kind!r} is not supported: Bedrock runs no Anthropic server tools; define a "
            "custom tool (name, description, input_schema) and run it yourself",
            param=where,
        )
    from router.http.anthropic_body import ToolParam  # on first use, as AnthropicBody

    tool = validate(ToolParam, raw)
    if tool.input_schema.get("type", "object") != "object":
        raise invalid("invalid_request", f"{where}.input_schema: must describe an object", param=where)
    cache = _cache_point(tool.cache_control, where) if tool.cache_control is not None else None
    return ToolSpec(tool.name, tool.description or None, tool.input_schema, cache)


def _tool_choice(choice: dict | None, tools: tuple[ToolSpec, ...], notes: list[str]) -> tuple[ToolChoice | None, bool]:
    """Anthropic tool_choice -> (the model's tool choice, answer without calling a tool?)."""
    if choice is None:
        return None, False
    if choice.get("disable_parallel_tool_use"):
        notes.append("tool_choice.disable_parallel_tool_use dropped: Converse has no such setting")
    kind = choice.get("type")
    if kind == "none":
        return None, True
    if kind == "auto":
        return (ToolChoice("auto") if tools else None), False
    if kind not in ("any", "tool"):
        raise invalid("invalid_request", "tool_choice.type: auto, any, tool or none", param="tool_choice")
    if not tools:
        raise invalid("invalid_request", "tool_choice needs 'tools'", param="tool_choice")
    if kind == "any":
        return ToolChoice("required"), False
    names = [t.name for t in tools]
    name = choice.get("name")
    if not isinstance(name, str) or name not in names:
        raise invalid(
            "invalid_request",
            f"tool_choice names {name!r}, which is not among the tools ({', '.join(names)})",
            param="tool_choice",
        )
    return ToolChoice("named", name), False


def _output(
    parsed: AnthropicBody, tools: tuple[ToolSpec, ...], notes: list[str]
) -> tuple[Thinking | None, StructuredOutput | None]:
    """`thinking` and `output_config`: (the extended thinking asked for, a JSON answer asked for)."""
    config = parsed.output_config or {}
    effort = config.get("effort")
    thinking = None
    spec = parsed.thinking
    if spec is not None and spec.get("type") != "disabled":
        kind, display = spec.get("type"), spec.get("display")
        display = display if isinstance(display, str) else None
        if kind == "enabled":
            budget = spec.get("budget_tokens")
            if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
                raise invalid(
                    "invalid_request", "thinking.budget_tokens: an integer of at least 1024", param="thinking"
                )
            thinking = Thinking("enabled", budget, display=display)
        elif kind == "adaptive":
            thinking = Thinking("adaptive", effort=effort if isinstance(effort, str) else None, display=display)
        else:
            raise invalid("invalid_request", "thinking.type: enabled, adaptive or disabled", param="thinking")
    if effort is not None and (thinking is None or thinking.mode != "adaptive"):
        notes.append("output_config.effort dropped: the router passes it with adaptive thinking only")
    structured = None
    fmt = config.get("format")
    if fmt is not None:
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
            raise invalid(
                "invalid_request", "output_config.format: {type: json_schema, schema: {...}}", param="output_config"
            )
        if fmt["schema"].get("type", "object") != "object":
            raise invalid(
                "invalid_request",
                "output_config.format.schema must describe an object (Bedrock serves it as a tool's input)",
                param="output_config",
            )
        structured = StructuredOutput("json_schema", fmt["schema"])
        if any(t.name == structured.name for t in tools):
            raise invalid("invalid_request", f"a tool may not be named '{structured.name}'", param="tools")
    return thinking, structured


# --- out -------------------------------------------------------------------------------------------


def _x_router(result: RouteResult, backend: str) -> dict:
    out = {**routing(result), "estimated_cost_usd": round_cost(result.cost_usd), "backend": backend}
    if result.notes:
        out["notes"] = list(result.notes)
    return out


def _message_id(request_id: str) -> str:
    return f"msg_{request_id}"


def _usage(input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> dict:
    # Converse's inputTokens, like Anthropic's input_tokens, leaves out the tokens read from or written to the cache
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }


def _stop_reason(stop_reason: str, called_tools: bool) -> str:
    mapped = STOP_REASONS.get(stop_reason, "end_turn")
    return "end_turn" if mapped == "tool_use" and not called_tools else mapped  # only the structured-output tool


def _reasoning_block(block: Reasoning | RedactedReasoning, omitted: bool) -> dict:
    if isinstance(block, RedactedReasoning):
        return {"type": "redacted_thinking", "data": base64.b64encode(block.data).decode("ascii")}
    return {"type": "thinking", "thinking": "" if omitted else block.text, "signature": block.signature or ""}


def render(request: ChatRequest, result: RouteResult, *, request_id: str, backend: str) -> dict:
    if request.dry_run:  # a message an SDK can read, with the whole decision beside it
        return {
            **_message_start(request, result, request_id, backend, dry_run=True),
            "stop_reason": "end_turn",
            "usage": _usage(0, 0),
        }
    reply = result.reply
    assert reply is not None
    omitted = request.thinking is not None and request.thinking.display == "omitted"
    content: list[dict] = [_reasoning_block(block, omitted) for block in reply.reasoning]
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    structured = request.structured.name if request.structured is not None else None
    called_tools = False
    for use in reply.tool_calls:
        if use.name == structured:  # structured output: the forced tool's input is the answer
            content.append({"type": "text", "text": json.dumps(use.input, ensure_ascii=False)})
            continue
        called_tools = True
        content.append({"type": "tool_use", "id": use.call_id, "name": use.name, "input": use.input})
    return {
        "id": _message_id(request_id),
        "type": "message",
        "role": "assistant",
        "model": request.name,
        "content": content,
        "stop_reason": _stop_reason(reply.stop_reason, called_tools),
        "stop_sequence": reply.stop_sequence,
        "usage": _usage(reply.input_tokens, reply.output_tokens, reply.cache_read_tokens, reply.cache_write_tokens),
        "x_router": _x_router(result, backend),
    }


def error_body(failure: RouterFailure, request_id: str) -> dict:
    """Anthropic's error shape; `code` (the router's machine-readable code) and `details` are ours."""
    error: dict[str, Any] = {"type": errors.anthropic_type(failure), "message": failure.message, "code": failure.code}
    if failure.details:
        error["details"] = failure.details
    return {"type": "error", "error": error, "request_id": request_id}


def _message_start(request: ChatRequest, result: RouteResult, request_id: str, backend: str, *, dry_run: bool) -> dict:
    x_router: dict[str, Any] = {**routing(result), "backend": backend}
    if dry_run:
        x_router.update(
            dry_run=True, estimated_cost_usd=result.decision.estimated_cost_usd, decision=result.decision.trace
        )
    return {
        "id": _message_id(request_id),
        "type": "message",
        "role": "assistant",
        "model": request.name,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        # The input is counted at the stream's end (message_delta); until then, the router's estimate
        "usage": _usage(0 if dry_run else int(result.features.get("estimated_tokens", 0)), 0),
        "x_router": x_router,
    }


def stream_frames(
    events: Iterator[StreamEvent], request: ChatRequest, result: RouteResult, *, request_id: str, backend: str
) -> Iterator[bytes]:
    """Anthropic's event stream: message_start, then per content block (thinking, text, tool_use) its
    content_block_start, deltas and content_block_stop (a ping after the first start), then message_delta with the
    stop reason and the whole usage, and message_stop; a failure after the first byte is an `error` event."""
    yield sse(
        {"type": "message_start", "message": _message_start(request, result, request_id, backend, dry_run=False)},
        event="message_start",
    )
    omitted = request.thinking is not None and request.thinking.display == "omitted"
    index = -1
    open_kind: str | None = None  # the open block's kind: text, thinking, tool_use; None between blocks
    signed = False  # the open thinking block has its signature (a further thinking delta starts a new block)
    pinged = called_tools = False

    def start(kind: str, block: dict) -> Iterator[bytes]:
        nonlocal index, open_kind, signed, pinged
        yield from stop()
        index += 1
        open_kind, signed = kind, False
        yield sse({"type": "content_block_start", "index": index, "content_block": block}, event="content_block_start")
        if not pinged:
            pinged = True
            yield sse({"type": "ping"}, event="ping")

    def stop() -> Iterator[bytes]:
        nonlocal open_kind
        if open_kind is not None:
            yield sse({"type": "content_block_stop", "index": index}, event="content_block_stop")
            open_kind = None

    def delta(body: dict) -> bytes:
        return sse({"type": "content_block_delta", "index": index, "delta": body}, event="content_block_delta")

    text_frames: dict[int, Callable[[str], bytes]] = {}  # per block index: one dumps of the text per frame

    def text_delta(text: str) -> bytes:
        frame = text_frames.get(index)
        if frame is None:
            frame = text_frames[index] = template(
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": HOLE}},
                event="content_block_delta",
            )
        return frame(text)

    for event in events:
        if isinstance(event, TextDelta):
            if open_kind != "text":
                yield from start("text", {"type": "text", "text": ""})
            yield text_delta(event.text)
        elif isinstance(event, ReasoningDelta):
            if open_kind != "thinking" or signed:
                yield from start("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            if not omitted:
                yield delta({"type": "thinking_delta", "thinking": event.text})
        elif isinstance(event, ReasoningSignature):
            if open_kind != "thinking" or signed:
                yield from start("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            signed = True
            yield delta({"type": "signature_delta", "signature": event.signature})
        elif isinstance(event, RedactedReasoning):
            data = base64.b64encode(event.data).decode("ascii")
            yield from start("redacted_thinking", {"type": "redacted_thinking", "data": data})
            yield from stop()
        elif isinstance(event, ToolCallStart):
            if event.structured:  # structured output: its arguments are the answer's text
                if open_kind != "text":
                    yield from start("text", {"type": "text", "text": ""})
                continue
            called_tools = True
            yield from start("tool_use", {"type": "tool_use", "id": event.call_id, "name": event.name, "input": {}})
        elif isinstance(event, ToolCallDelta):
            if event.structured:
                yield delta({"type": "text_delta", "text": event.fragment})
            elif event.fragment:
                yield delta({"type": "input_json_delta", "partial_json": event.fragment})
        elif isinstance(event, Finished):
            yield from stop()
            if not pinged:
                yield sse({"type": "ping"}, event="ping")
            yield sse(
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": _stop_reason(event.stop_reason, called_tools),
                        "stop_sequence": event.stop_sequence,
                    },
                    "usage": _usage(
                        event.input_tokens, event.output_tokens, event.cache_read_tokens, event.cache_write_tokens
                    ),
                    "x_router": {
                        **_x_router(result, backend),
                        "estimated_cost_usd": round_cost(event.cost_usd),
                        "latency_ms": {"first_token": round(event.ttft_ms, 1), "total": round(event.total_ms, 1)},
                    },
                },
                event="message_delta",
            )
            yield sse({"type": "message_stop"}, event="message_stop")
        elif isinstance(event, StreamFailed):
            # Anthropic's mid-stream failure: one `error` event (an SDK raises it as an APIStatusError), then the end
            yield sse(error_body(event.failure, request_id), event="error")
            return


def dry_run_frames(request: ChatRequest, result: RouteResult, *, request_id: str, backend: str) -> Iterator[bytes]:
    """A dry run asked as a stream: message_start carries the whole decision in `x_router`, then an empty end."""
    yield sse(
        {"type": "message_start", "message": _message_start(request, result, request_id, backend, dry_run=True)},
        event="message_start",
    )
    yield sse(
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": _usage(0, 0)},
        event="message_delta",
    )
    yield sse({"type": "message_stop"}, event="message_stop")


def render_count(count: TokenCount) -> dict:
    """count_tokens' answer: `input_tokens`, and whether it is Bedrock's count or the router's estimate."""
    x_router: dict[str, Any] = {
        "counted_by": "estimate" if count.estimated else "bedrock",
        "route": count.route,
        "model": count.model,
        "model_id": count.model_id,
        "config_version": count.config_version,
    }
    if count.reason:
        x_router["reason"] = count.reason
    return {"input_tokens": count.input_tokens, "estimated": count.estimated, "x_router": x_router}
