"""Wire formats in, one normalised request out.

Both APIs (our JSON API and the OpenAI-compatible one) are parsed with pydantic
into `ChatRequest`, which carries the messages twice: in Converse's shape for the
model call and in the engine's small shape for routing features.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routing_engine.features import Message

IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")


class ApiError(Exception):
    """A request we refuse, with its HTTP status and a machine-readable code."""

    def __init__(self, status: int, code: str, message: str, *, details: dict | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.param = param


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
    tool_config: dict | None = None


# --- our JSON API ------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class TextBlock(_Lenient):
    type: Literal["text"]
    text: str


class ImageBlock(_Lenient):
    type: Literal["image"]
    format: Literal["png", "jpeg", "gif", "webp"]
    data: str = Field(description="base64")


class DocumentBlock(_Lenient):
    type: Literal["document"]
    format: Literal["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"]
    name: str = Field(min_length=1, max_length=200)
    data: str = Field(description="base64")


Block = Annotated[TextBlock | ImageBlock | DocumentBlock, Field(discriminator="type")]


class RouteMessage(_Lenient):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class RouteBody(_Lenient):
    task: str | None = Field(default=None, max_length=128)
    messages: list[RouteMessage] | None = None
    prompt: str | None = None
    system: str | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, max_length=4)
    max_cost_usd: float | None = Field(default=None, gt=0)
    dry_run: bool = False
    metadata: dict[str, Any] | None = None


def parse_route_body(body: str | bytes, *, max_messages: int) -> ChatRequest:
    data = _load_json(body)
    parsed = _validate(RouteBody, data)
    if parsed.messages is not None and parsed.prompt is not None:
        raise ApiError(400, "invalid_request", "give either 'messages' or 'prompt', not both", param="messages")
    if parsed.prompt is not None:
        if not parsed.prompt.strip():
            raise ApiError(400, "empty_messages", "'prompt' is empty", param="prompt")
        wire = [RouteMessage(role="user", content=parsed.prompt)]
    elif parsed.messages:
        wire = parsed.messages
    else:
        raise ApiError(400, "empty_messages", "give a non-empty 'messages' list or a 'prompt' string", param="messages")
    _check_count(len(wire), max_messages)
    turns = []
    for i, message in enumerate(wire):
        blocks = [TextBlock(type="text", text=message.content)] if isinstance(message.content, str) else message.content
        parts, converse = [], []
        for j, block in enumerate(blocks):
            where = f"messages[{i}].content[{j}]"
            if isinstance(block, TextBlock):
                if block.text:
                    parts.append(("text", block.text))
                    converse.append({"text": block.text})
            elif isinstance(block, ImageBlock):
                raw = _b64(block.data, where)
                parts.append(("image", len(raw)))
                converse.append({"image": {"format": block.format, "source": {"bytes": raw}}})
            else:
                raw = _b64(block.data, where)
                parts.append(("document", len(raw)))
                converse.append({"document": {"format": block.format, "name": block.name, "source": {"bytes": raw}}})
        turns.append((message.role, parts, converse))
    messages, converse_messages = _merge_turns(turns)
    return ChatRequest(
        name=parsed.task,
        messages=messages,
        converse_messages=converse_messages,
        system=parsed.system,
        max_tokens=parsed.max_tokens,
        temperature=parsed.temperature,
        top_p=parsed.top_p,
        stop=tuple(parsed.stop or ()),
        max_cost_usd=parsed.max_cost_usd,
        dry_run=parsed.dry_run,
    )


# --- OpenAI chat completions -----------------------------------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)  # OpenAI clients send fields we do not use


class OpenAIFunction(_Open):
    name: str = Field(min_length=1, max_length=64)
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


class OpenAIBody(_Open):
    model: str = Field(min_length=1, max_length=128)
    messages: list[OpenAIMessage]
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=200_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: Annotated[str, Field(min_length=1)] | list[Annotated[str, Field(min_length=1)]] | None = None
    stream: bool | None = False
    n: int | None = Field(default=1, ge=1)
    tools: list[OpenAITool] | None = None
    user: str | None = None


def parse_openai_body(body: str | bytes, *, max_messages: int) -> ChatRequest:
    data = _load_json(body)
    parsed = _validate(OpenAIBody, data)
    if parsed.stream:
        raise ApiError(400, "streaming_not_supported", "streaming is not supported yet; send stream: false",
                       param="stream")
    if parsed.n not in (None, 1):
        raise ApiError(400, "invalid_request", "only n = 1 is supported", param="n")
    if not parsed.messages:
        raise ApiError(400, "empty_messages", "'messages' must not be empty", param="messages")
    _check_count(len(parsed.messages), max_messages)
    system_parts: list[str] = []
    turns = []
    for i, message in enumerate(parsed.messages):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            system_parts.append(_openai_text(message.content, where))
            continue
        parts, converse = [], []
        if message.role == "tool":
            text = _openai_text(message.content, where)
            if not message.tool_call_id:
                raise ApiError(400, "invalid_request", f"{where}: a tool message needs tool_call_id", param=where)
            parts.append(("text", text))
            converse.append({"toolResult": {"toolUseId": message.tool_call_id, "content": [{"text": text}]}})
            turns.append(("user", parts, converse))
            continue
        if isinstance(message.content, str):
            if message.content:
                parts.append(("text", message.content))
                converse.append({"text": message.content})
        elif message.content is not None:
            for j, part in enumerate(message.content):
                _openai_part(part, f"{where}.content[{j}]", parts, converse)
        for call in message.tool_calls or ():
            try:
                arguments = json.loads(call.function.arguments or "{}")
            except ValueError:
                raise ApiError(400, "invalid_request", f"{where}: tool call arguments are not JSON", param=where) from None
            converse.append({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": arguments}})
        turns.append((message.role, parts, converse))
    if not turns:
        raise ApiError(400, "empty_messages", "'messages' needs at least one user message", param="messages")
    messages, converse_messages = _merge_turns(turns)
    stop = (parsed.stop,) if isinstance(parsed.stop, str) else tuple(parsed.stop or ())
    tool_config = None
    if parsed.tools:
        tool_config = {"tools": [
            {"toolSpec": {
                "name": t.function.name,
                **({"description": t.function.description} if t.function.description else {}),
                "inputSchema": {"json": t.function.parameters or {"type": "object", "properties": {}}},
            }} for t in parsed.tools
        ]}
    return ChatRequest(
        name=parsed.model,
        messages=messages,
        converse_messages=converse_messages,
        system="\n\n".join(p for p in system_parts if p) or None,
        max_tokens=parsed.max_completion_tokens or parsed.max_tokens,
        temperature=None if parsed.temperature is None else min(parsed.temperature, 1.0),
        top_p=parsed.top_p,
        stop=stop,
        tool_config=tool_config,
    )


def _openai_text(content, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ApiError(400, "unsupported_content", f"{where}.content[{j}]: only text parts are allowed here",
                           param=where)
        texts.append(part["text"])
    return "\n".join(texts)


def _openai_part(part: dict, where: str, parts: list, converse: list) -> None:
    kind = part.get("type")
    if kind == "text" and isinstance(part.get("text"), str):
        if part["text"]:
            parts.append(("text", part["text"]))
            converse.append({"text": part["text"]})
        return
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
        if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
            raise ApiError(400, "unsupported_content",
                           f"{where}: images must be inline data URLs (data:image/png;base64,...)", param=where)
        header, data = url.split(",", 1)
        fmt = header[len("data:image/"):].split(";", 1)[0].lower().replace("jpg", "jpeg")
        if fmt not in IMAGE_FORMATS:
            raise ApiError(400, "unsupported_content", f"{where}: image format '{fmt}' is not supported", param=where)
        raw = _b64(data, where)
        parts.append(("image", len(raw)))
        converse.append({"image": {"format": fmt, "source": {"bytes": raw}}})
        return
    raise ApiError(400, "unsupported_content", f"{where}: content part type '{kind}' is not supported", param=where)


# --- shared ------------------------------------------------------------------------------------


def _load_json(body: str | bytes | None):
    if body is None or (isinstance(body, (str, bytes)) and not body.strip()):
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "the request body must be a JSON object")
    if _SURROGATE_ESCAPE.search(body if isinstance(body, str) else body.decode("utf-8", "replace")):
        # JSON allows \ud800-style escapes that decode to lone surrogates, which no model API can encode.
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "invalid_json", "the request body contains an unpaired UTF-16 surrogate escape") from None
    return data


def _validate(model: type[BaseModel], data: dict):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
            problems.append(f"{loc}: {err['msg']}" if loc else err["msg"])
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        raise ApiError(400, "invalid_request", "; ".join(problems),
                       param=".".join(str(p) for p in first) or None) from None


def _b64(data: str, where: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_request", f"{where}: 'data' is not valid base64", param=where) from None


def _check_count(count: int, max_messages: int) -> None:
    if count > max_messages:
        raise ApiError(400, "too_many_messages", f"{count} messages is more than the limit of {max_messages}",
                       param="messages")


def _merge_turns(turns) -> tuple[tuple[Message, ...], list]:
    """Converse wants user/assistant turns that alternate and start with the user: merge neighbours."""
    merged: list[list] = []
    for role, parts, converse in turns:
        if merged and merged[-1][0] == role:
            merged[-1][1].extend(parts)
            merged[-1][2].extend(converse)
        else:
            merged.append([role, list(parts), list(converse)])
    if not merged or merged[0][0] != "user":
        raise ApiError(400, "invalid_request", "the conversation must start with a user message", param="messages")
    if not any(converse for _, _, converse in merged if converse):
        raise ApiError(400, "empty_messages", "every message is empty", param="messages")
    for role, _, converse in merged:
        if not converse:
            raise ApiError(400, "empty_messages", f"a {role} message has no content", param="messages")
    return (tuple(Message(role, tuple(parts)) for role, parts, _ in merged),
            [{"role": role, "content": converse} for role, _, converse in merged])
