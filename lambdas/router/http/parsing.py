"""What every wire format's parser shares: JSON bodies in, pydantic validation, base64, alternating turns, and
the checks of a parsed request that hold whatever API it came through (`check_request`).

Every refusal is a `RouterFailure` of kind INVALID_REQUEST (or BODY_TOO_LARGE) naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from aws_adapters.conversation import Content, Document, Image, Role, Text, ToolResult, Turn
from aws_adapters.converse import MAX_STOP_SEQUENCES
from router.chat import ChatRequest
from router.failures import FailureKind, RouterFailure, invalid
from router.http.json_schema import schema_problem
from routing_engine.features import Message

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
MAX_JSON_DEPTH = 64  # deeper than any real request; deep enough to hit Python's recursion limit it is not
TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"  # a tool name every API here and Converse accept


def body_too_large(size: int | None, limit: int) -> RouterFailure:
    """`size`: the body's length, when it is known (its Content-Length, or all of it read)."""
    said = f"is {size} bytes" if size is not None else "is larger"
    return RouterFailure(
        FailureKind.BODY_TOO_LARGE, "body_too_large", f"the request body {said}; the limit is {limit} bytes"
    )


def decode_body(raw: bytes, limit: int) -> str:
    if len(raw) > limit:
        raise body_too_large(len(raw), limit)
    if not raw.strip():
        raise invalid("invalid_json", "the request body is empty; send a JSON object")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(
            "invalid_json", f"the request body is not valid UTF-8 (byte {exc.start}): send JSON text encoded as UTF-8"
        ) from None


def load_json(text: str) -> dict:
    data = parse_json(text, "the request body")
    if not isinstance(data, dict):
        raise invalid("invalid_request", "the request body must be a JSON object")
    if _SURROGATE_ESCAPE.search(text):
        # JSON allows \ud800-style escapes that decode to lone surrogates, which no model API can encode.
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise invalid("invalid_json", "the request body contains an unpaired UTF-16 surrogate escape") from None
    return data


class _NonFinite:
    """Where JSON text had NaN, Infinity or a number too large for a double (1e999): no field may take one."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def parse_json(text: str, what: str) -> Any:
    """JSON text as a value, refused (naming `what`) when it is not JSON, is nested more than MAX_JSON_DEPTH levels,
    or has a number that is not finite: Python reads `NaN`, `Infinity` and `1e999` (as inf), and would write them
    back out as `Infinity`, which is not JSON. Configuration files are read the same way
    (routing_engine.config.loading)."""
    try:
        data = json.loads(text, parse_float=_float, parse_constant=_NonFinite)
    except ValueError as exc:
        raise invalid("invalid_json", f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise invalid("invalid_json", f"{what} is nested too deeply") from None
    if _check_values(data, what):
        path, number = _first_non_finite(data)
        raise invalid(
            "non_finite_number",
            f"{what}: {path or 'the value'} is {number}, which is not a finite number (JSON numbers must be finite)",
            param=path or None,
        )
    return data


def _check_values(value, what: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Refuse JSON nested deeper than `limit` (iteratively: the check itself must not recurse); whether a
    non-finite number is in it."""
    stack = [(value, 1)]
    non_finite = False
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise invalid("invalid_json", f"{what} is nested more than {limit} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif type(item) is _NonFinite:
            non_finite = True
    return non_finite


def _first_non_finite(value) -> tuple[str, str]:
    """(the path of the first non-finite number in `value`, its text), for the message."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if type(item) is _NonFinite:
            return path, item.text
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return "", "?"


def validate(model: type[BaseModel], data: dict):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
            problems.append(f"{loc}: {err['msg']}" if loc else err["msg"])
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        raise invalid("invalid_request", "; ".join(problems), param=".".join(str(p) for p in first) or None) from None


def b64(data: str, where: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("invalid_request", f"{where}: 'data' is not valid base64", param=where) from None


def check_count(count: int, max_messages: int) -> None:
    if count > max_messages:
        raise invalid(
            "too_many_messages", f"{count} messages is more than the limit of {max_messages}", param="messages"
        )


def merge_turns(turns: list[tuple[Role, list[Content]]]) -> tuple[tuple[Message, ...], tuple[Turn, ...]]:
    """(what the engine's features read, the conversation for the model) from each message's (role, content).
    Models want user/assistant turns that alternate and start with the user: neighbours of one role are merged."""
    merged: list[tuple[Role, list[Content]]] = []
    for role, content in turns:
        if merged and merged[-1][0] == role:
            merged[-1][1].extend(content)
        else:
            merged.append((role, list(content)))
    if not merged or merged[0][0] != "user":
        raise invalid("invalid_request", "the conversation must start with a user message", param="messages")
    if not any(content for _, content in merged):
        raise invalid("empty_messages", "every message is empty", param="messages")
    for role, content in merged:
        if not content:
            raise invalid("empty_messages", f"a {role} message has no content", param="messages")
    messages, conversation = [], []
    for role, content in merged:
        parts: list[tuple[str, str | int]] = []  # what the features see: texts (a tool's result too), attachment sizes
        for block in content:
            if isinstance(block, (Text, ToolResult)):
                parts.append(("text", block.text))
            elif isinstance(block, Image):
                parts.append(("image", len(block.data)))
            elif isinstance(block, Document):
                parts.append(("document", len(block.data)))
        messages.append(Message(role, tuple(parts)))
        conversation.append(Turn(role, tuple(content)))
    return tuple(messages), tuple(conversation)


def check_request(request: ChatRequest) -> ChatRequest:
    """What holds for a request whatever API it came through, checked once its API module has parsed it (the app
    calls this, so a new API gets it without asking): tool names and schemas, the structured answer's schema, and
    the stop sequences, against what Bedrock accepts."""
    if len(request.stop) > MAX_STOP_SEQUENCES:
        raise invalid(
            "invalid_request",
            f"{len(request.stop)} stop sequences is more than Bedrock's limit of {MAX_STOP_SEQUENCES}",
            param="stop",
        )
    for i, tool in enumerate(request.tools):
        where = f"tools[{i}]"
        if not _TOOL_NAME.match(tool.name):
            raise invalid(
                "invalid_request",
                f"{where}: tool name '{tool.name[:80]}' must be 1 to 64 letters, digits, '_' or '-'",
                param=where,
            )
        check_schema(tool.schema, f"the input schema of tool '{tool.name}' ({where})", where)
    if request.structured is not None:
        check_schema(request.structured.schema, "the response_format schema", "response_format")
    return request


def check_schema(schema: object, what: str, param: str) -> None:
    """A tool's input (or a structured answer) as a JSON Schema of an object, as Bedrock takes it."""
    problem = schema_problem(schema)
    if problem is not None:
        raise invalid(
            "invalid_schema",
            f"{what} is not a valid JSON Schema (draft 2020-12, which Bedrock's Claude models require): {problem}",
            param=param,
        )
    if isinstance(schema, dict) and schema.get("type", "object") != "object":
        raise invalid(
            "invalid_schema",
            f"{what} must describe an object (Bedrock tool inputs are objects), not type {schema['type']!r}",
            param=param,
        )


TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"  # what both OpenAI and Converse accept
_TOOL_NAME = re.compile(TOOL_NAME)


def dumps(body: dict) -> bytes:
    """A response body. `allow_nan=False`: a non-finite number is a bug to hear about, never a body that is not JSON."""
    return json.dumps(body, separators=(",", ":"), default=str, ensure_ascii=False, allow_nan=False).encode("utf-8")
