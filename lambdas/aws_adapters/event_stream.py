"""ConverseStream's events read at a fraction of botocore's cost, with botocore's exact output and errors.

botocore decodes each event of an event stream in pure Python twice over: the frame (prelude, CRCs, headers through
a generic type table) and then the JSON payload through its generic shape walker (a `getattr` per shape, the
tagged-union checks, a copy of every union). Measured here that was about 40 us per event, most of a streamed
request's CPU. This module reads the same bytes from the same urllib3 response:

- frames: the prelude and both CRC32s checked as botocore checks them (same limits, same exception classes from
  `botocore.eventstream`), string headers parsed directly (any other header type goes through botocore's own header
  parser);
- payloads: `json.loads`, then a walker compiled once per shape from the service model that does what botocore's
  JSON parser does (known members only, null members dropped, a tagged union with a member this botocore does not
  know becomes `{"SDK_UNKNOWN_MEMBER": {"name": ...}}`, blobs base64-decoded, documents as they are);
- anything else goes through botocore's own `EventStreamJSONParser`: error and exception messages (raised as
  botocore's `EventStreamError`, a `ClientError`, exactly as botocore's `EventStream` raises them), event shapes with
  header-bound or payload-bound members, and shapes with timestamps.

tests/unit/test_event_stream.py checks the output against botocore's `EventStream` on the same bytes. The raw
response comes from botocore's public `before-parse` event (`capture`, registered by
`aws_adapters.bedrock.boto3_client_factory`); botocore still builds its own `EventStream` on the same body, which
is simply never read.
"""

from __future__ import annotations

import base64
import json
from binascii import crc32
from collections.abc import Callable, Iterator
from struct import unpack_from
from typing import Any

FAST_STREAM = "routerEventStream"  # the key `capture` adds to the parsed response

Convert = Callable[[Any], Any]
_PRELUDE = 12
_MAX_HEADERS = 128 * 1024  # botocore.eventstream's limits
_MAX_PAYLOAD = 24 * 1024 * 1024
_SLOW = object()  # a shape this module leaves to botocore's parser


def _identity(value: Any) -> Any:
    return value


def _compile(shape, seen: dict[str, Any]) -> Any:
    """A function doing what botocore's JSON parser does for `shape` (None: the value as it is; _SLOW: only
    botocore's parser will do)."""
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return None
        if shape.name in seen:  # a recursive shape: resolved when its compilation finishes
            return seen[shape.name]
        cell: list[Any] = []
        seen[shape.name] = lambda value: cell[0](value)
        members = []
        for name, member in shape.members.items():
            if member.serialization.get("eventheader") or member.serialization.get("eventpayload"):
                return _SLOW
            convert = _compile(member, seen)
            if convert is _SLOW:
                return _SLOW
            members.append((member.serialization.get("name", name), name, convert))
        compiled = _union(shape.name, members) if shape.is_tagged_union else _structure(members)
        cell.append(compiled)
        return compiled
    if kind == "list":
        item = _compile(shape.member, seen)
        if item is _SLOW:
            return _SLOW
        if item is None:
            return list  # botocore copies the list; None items stay None
        return lambda value: [None if v is None else item(v) for v in value]
    if kind == "map":
        key, val = _compile(shape.key, seen), _compile(shape.value, seen)
        if key is _SLOW or val is _SLOW:
            return _SLOW
        key, val = key or _identity, val or _identity
        return lambda value: {key(k): val(v) for k, v in value.items()}
    if kind == "blob":
        return base64.b64decode
    if kind == "timestamp":
        return _SLOW  # botocore's timestamp parser is configurable per client: leave it to botocore
    return None  # strings, numbers, booleans: as json.loads gave them


def _structure(members: list[tuple[str, str, Any]]) -> Convert:
    def convert(value):
        if value is None:
            return None
        out = {}
        for wire, name, member in members:
            raw = value.get(wire)
            if raw is not None:
                out[name] = raw if member is None else member(raw)
        return out

    return convert


def _union(shape_name: str, members: list[tuple[str, str, Any]]) -> Convert:
    known = {wire for wire, _, _ in members}
    plain = _structure(members)

    def convert(value):
        if value is None:
            return None
        present = [k for k, v in value.items() if v is not None and k != "__type"]
        if len(present) != 1:
            from botocore.parsers import ResponseParserError

            raise ResponseParserError(f"Invalid service response: {shape_name} must have one and only one member set.")
        if present[0] not in known:
            return {"SDK_UNKNOWN_MEMBER": {"name": next(iter(value))}}
        return plain(value)

    return convert


class _Plan:
    """How each event type of one event-stream shape is read."""

    def __init__(self, stream_shape):
        from botocore.parsers import EventStreamJSONParser

        self.shape = stream_shape
        self.parser = EventStreamJSONParser()
        self.events: dict[str, Any] = {}
        for name, member in stream_shape.members.items():
            if member.serialization.get("exception"):
                continue
            self.events[name] = _compile(member, {}) if member.serialization.get("event") else _SLOW

    def parse(self, headers: dict, payload: bytes) -> dict | None:
        message_type = headers.get(":message-type")
        if message_type == "error" or message_type == "exception":
            from botocore.exceptions import EventStreamError

            parsed = self.parser.parse({"status_code": 400, "headers": headers, "body": payload}, self.shape)
            raise EventStreamError(parsed, "ConverseStream")
        event_type = headers.get(":event-type")
        convert: Any = self.events.get(event_type, _SLOW) if isinstance(event_type, str) else _SLOW
        if convert is _SLOW:  # unknown to this module: botocore decides (an unknown event type parses to {})
            return self.parser.parse({"status_code": 200, "headers": headers, "body": payload}, self.shape) or None
        body = _json(payload)
        return {event_type: body if convert is None else convert(body)}


def _json(payload: bytes) -> Any:
    if not payload:
        return {}
    text = payload.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        return {"message": text}  # as botocore's _parse_body_as_json


_PLANS: dict[int, _Plan] = {}


def plan_for(stream_shape) -> _Plan:
    """The compiled plan of an event-stream shape, built once per shape object (one per loaded service model)."""
    plan = _PLANS.get(id(stream_shape))
    if plan is None or plan.shape is not stream_shape:
        plan = _PLANS[id(stream_shape)] = _Plan(stream_shape)
    return plan


def _headers(data: bytes) -> dict:
    """Event-stream headers: string ones read directly, any other type through botocore's parser."""
    headers: dict[str, Any] = {}
    i, end = 0, len(data)
    while i < end:
        name_end = i + 1 + data[i]
        if name_end >= end or data[name_end] != 7:
            from botocore.eventstream import EventStreamHeaderParser

            return EventStreamHeaderParser().parse(data)
        name = data[i + 1 : name_end].decode("utf-8")
        size = (data[name_end + 1] << 8) | data[name_end + 2]
        start = name_end + 3
        if name in headers:
            from botocore.eventstream import DuplicateHeader

            raise DuplicateHeader(name)
        headers[name] = data[start : start + size].decode("utf-8")
        i = start + size
    return headers


def _check(data: bytes, expected: int, crc: int = 0) -> None:
    calculated = crc32(data, crc) & 0xFFFFFFFF
    if calculated != expected:
        from botocore.eventstream import ChecksumMismatch

        raise ChecksumMismatch(expected=expected, calculated=calculated)


class EventFrames:
    """An event stream's parsed events from its raw urllib3 response: iterate it, `close()` it (as botocore's
    `EventStream`)."""

    def __init__(self, raw, plan: _Plan):
        self._raw = raw
        self._plan = plan

    def close(self) -> None:
        self._raw.close()

    def __iter__(self) -> Iterator[dict]:
        parse = self._plan.parse
        data = b""
        for chunk in self._raw.stream():
            data = data + chunk if data else chunk
            while len(data) >= _PRELUDE:
                total, header_length, prelude_crc = unpack_from(">III", data)
                _check(data[:8], prelude_crc)
                if header_length > _MAX_HEADERS:
                    from botocore.eventstream import InvalidHeadersLength

                    raise InvalidHeadersLength(header_length)
                payload_end = total - 4
                if payload_end < _PRELUDE + header_length:  # shorter than its own headers: never a message
                    from botocore.eventstream import InvalidPayloadLength

                    raise InvalidPayloadLength(payload_end - _PRELUDE - header_length)
                if payload_end - _PRELUDE - header_length > _MAX_PAYLOAD:
                    from botocore.eventstream import InvalidPayloadLength

                    raise InvalidPayloadLength(payload_end - _PRELUDE - header_length)
                if len(data) < total:
                    break
                (message_crc,) = unpack_from(">I", data, payload_end)
                _check(data[8:payload_end], message_crc, prelude_crc)
                headers_end = _PRELUDE + header_length
                event = parse(_headers(data[_PRELUDE:headers_end]), data[headers_end:payload_end])
                data = data[total:]
                if event:
                    yield event


def capture(operation_model=None, response_dict=None, customized_response_dict=None, **_: Any) -> None:
    """botocore's `before-parse` hook: an event-stream response's raw body, wrapped in `EventFrames`, goes into the
    parsed response under FAST_STREAM (botocore's own `stream` stays too, unread). Error responses are untouched."""
    if operation_model is None or response_dict is None or customized_response_dict is None:
        return
    if not operation_model.has_event_stream_output or response_dict.get("status_code", 500) >= 300:
        return
    stream_shape = operation_model.get_event_stream_output()
    if stream_shape is None:
        return
    customized_response_dict[FAST_STREAM] = EventFrames(response_dict["body"], plan_for(stream_shape))
