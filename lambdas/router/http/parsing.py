"""What every wire format's parser shares: JSON bodies in, pydantic validation, base64, alternating turns.

Every refusal is a `RouterFailure` of kind INVALID_REQUEST (or BODY_TOO_LARGE) naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from pydantic import BaseModel, ValidationError

from aws_adapters.conversation import Content, Document, Image, Role, Text, ToolResult, Turn
from router.failures import FailureKind, RouterFailure, invalid
from routing_engine.features import Message

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
MAX_JSON_DEPTH = 64  # deeper than any real request; deep enough to hit Python's recursion limit it is not
TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"  # a tool name every API here and Converse accept


def decode_body(raw: bytes, limit: int) -> str:
    if len(raw) > limit:
        raise RouterFailure(
            FailureKind.BODY_TOO_LARGE, "body_too_large", f"the request body is {len(raw)} bytes; the limit is {limit}"
        )
    if not raw.strip():
        raise invalid("invalid_json", "the request body is empty; send a JSON object")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(
            "invalid_json", f"the request body is not valid UTF-8 (byte {exc.start}): send JSON text encoded as UTF-8"
        ) from None


def load_json(text: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise invalid("invalid_json", f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise invalid("invalid_json", "the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise invalid("invalid_request", "the request body must be a JSON object")
    check_depth(data, "the request body")
    if _SURROGATE_ESCAPE.search(text):
        # JSON allows \ud800-style escapes that decode to lone surrogates, which no model API can encode.
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise invalid("invalid_json", "the request body contains an unpaired UTF-16 surrogate escape") from None
    return data


def check_depth(value, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit` (iteratively: the check itself must not recurse)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise invalid("invalid_json", f"{what} is nested more than {limit} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


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


def dumps(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), default=str, ensure_ascii=False).encode("utf-8")
