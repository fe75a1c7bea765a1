"""The router's ConverseStream reader (aws_adapters.event_stream) must give exactly what botocore's EventStream gives
on the same bytes: the same event dicts, the same errors, for every event type, nulls, unknown members and event
types, blobs, frames split anywhere across reads, and broken frames."""

from __future__ import annotations

import base64
import json
import zlib

import boto3
import pytest
from botocore.eventstream import ChecksumMismatch, EventStream
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser

from aws_adapters.event_stream import FAST_STREAM, EventFrames, capture, plan_for


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + bytes([7]) + len(v).to_bytes(2, "big") + v


def _int_header(name: str, value: int) -> bytes:
    n = name.encode()
    return bytes([len(n)]) + n + bytes([4]) + value.to_bytes(4, "big", signed=True)


def frame(head: bytes, body: bytes) -> bytes:
    prelude = (12 + len(head) + len(body) + 4).to_bytes(4, "big") + len(head).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + head + body
    return message + zlib.crc32(message).to_bytes(4, "big")


def event(kind: str, payload: object, raw: bytes | None = None) -> bytes:
    head = (
        _header(":event-type", kind) + _header(":content-type", "application/json") + _header(":message-type", "event")
    )
    return frame(head, json.dumps(payload).encode() if raw is None else raw)


def exception(kind: str, payload: dict) -> bytes:
    head = (
        _header(":exception-type", kind)
        + _header(":content-type", "application/json")
        + _header(":message-type", "exception")
    )
    return frame(head, json.dumps(payload).encode())


class Raw:
    def __init__(self, chunks: list[bytes]):
        self.chunks = chunks
        self.closed = False

    def stream(self, **_):
        yield from self.chunks

    def close(self):
        self.closed = True


SHAPE = (
    boto3.client("bedrock-runtime", region_name="us-east-1")
    .meta.service_model.operation_model("ConverseStream")
    .get_event_stream_output()
)

ANSWER = [
    event("messageStart", {"role": "assistant"}),
    event("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "get"}}}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": ""}}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city": "Pa'}}}),
    event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"reasoningContent": {"text": "hmm"}}}),
    event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"reasoningContent": {"signature": "sig"}}}),
    event(
        "contentBlockDelta",
        {
            "contentBlockIndex": 3,
            "delta": {"reasoningContent": {"redactedContent": base64.b64encode(b"\x00x").decode()}},
        },
    ),
    # nulls are dropped, unknown members of a structure too, a union member this botocore does not know is flagged
    event("contentBlockDelta", {"contentBlockIndex": None, "delta": {"text": "x", "other": None}, "extra": 1}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"somethingNew": {"a": 1}}}),
    event("contentBlockStop", {"contentBlockIndex": 0}),
    event("brandNewEventType", {"x": 1}),  # an event type botocore does not know: skipped
    event(
        "messageStop", {"stopReason": "end_turn", "additionalModelResponseFields": {"stop_sequence": None, "k": [1]}}
    ),
    event("messageStop", {}, raw=b""),  # an empty payload
    event(
        "metadata",
        {
            "usage": {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17, "cacheDetails": [{"ttl": "1h"}]},
            "metrics": {"latencyMs": 7},
            "trace": {"promptRouter": {"invokedModelId": "arn:aws:bedrock:us-east-1::foundation-model/x"}},
        },
    ),
]


def botocore_reads(chunks: list[bytes]) -> list[dict]:
    return list(EventStream(Raw(chunks), SHAPE, EventStreamJSONParser(), "ConverseStream"))


def router_reads(chunks: list[bytes]) -> list[dict]:
    return list(EventFrames(Raw(chunks), plan_for(SHAPE)))


def test_every_event_reads_as_botocore_reads_it():
    chunks = list(ANSWER)
    expected = botocore_reads(chunks)
    assert len(expected) == len(ANSWER) - 1  # the unknown event type is skipped by both
    assert router_reads(chunks) == expected


@pytest.mark.parametrize("size", [1, 7, 13, 64, 10_000])
def test_frames_split_anywhere_across_reads_read_the_same(size):
    whole = b"".join(ANSWER)
    chunks = [whole[i : i + size] for i in range(0, len(whole), size)]
    assert router_reads(chunks) == botocore_reads(list(ANSWER))


@pytest.mark.parametrize(
    "message",
    [
        exception("throttlingException", {"message": "slow down"}),
        exception("modelStreamErrorException", {"message": "broke", "originalStatusCode": 500}),
        exception("somethingUnknownException", {"message": "?"}),
        frame(
            _header(":error-code", "InternalFailure")
            + _header(":error-message", "oops")
            + _header(":message-type", "error"),
            b"",
        ),
    ],
)
def test_an_exception_or_error_message_raises_what_botocore_raises(message):
    chunks = [ANSWER[0], message, ANSWER[2]]
    with pytest.raises(EventStreamError) as theirs:
        botocore_reads(chunks)
    with pytest.raises(EventStreamError) as ours:
        router_reads(chunks)
    assert ours.value.response == theirs.value.response
    assert str(ours.value) == str(theirs.value)


def test_a_frame_with_a_wrong_checksum_raises_botocore_s_checksum_error():
    broken = bytearray(ANSWER[2])
    broken[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    for read in (botocore_reads, router_reads):
        with pytest.raises(ChecksumMismatch):
            read([ANSWER[0], bytes(broken)])


def test_a_header_of_another_type_is_read_by_botocore_s_header_parser():
    head = (
        _header(":event-type", "contentBlockStop")
        + _int_header("x-count", 3)
        + _header(":message-type", "event")
        + _header(":content-type", "application/json")
    )
    chunks = [frame(head, b'{"contentBlockIndex": 4}')]
    assert router_reads(chunks) == botocore_reads(chunks) == [{"contentBlockStop": {"contentBlockIndex": 4}}]


def test_the_client_hook_hands_the_raw_stream_to_the_router_s_reader_and_closing_closes_it():
    class Operation:
        has_event_stream_output = True

        def get_event_stream_output(self):
            return SHAPE

    raw = Raw(list(ANSWER))
    customized: dict = {}
    capture(
        operation_model=Operation(),
        response_dict={"status_code": 200, "body": raw},
        customized_response_dict=customized,
    )
    frames = customized[FAST_STREAM]
    assert isinstance(frames, EventFrames)
    assert list(frames) == botocore_reads(list(ANSWER))
    frames.close()
    assert raw.closed
    # an error response (parsed by botocore into a ClientError) is left alone
    untouched: dict = {}
    capture(
        operation_model=Operation(),
        response_dict={"status_code": 400, "body": b"{}"},
        customized_response_dict=untouched,
    )
    assert untouched == {}


def test_a_prelude_shorter_than_its_own_headers_ends_the_stream_with_an_error_not_a_loop():
    # a well-formed prelude (valid CRC) whose total length is less than its headers: no message can be read from it
    prelude = (0).to_bytes(4, "big") + (20).to_bytes(4, "big")
    broken = prelude + zlib.crc32(prelude).to_bytes(4, "big") + b"\x00" * 24
    with pytest.raises(Exception):  # noqa: B017 - any error ends the model's stream (ModelStreamErrorException)
        router_reads([broken])
