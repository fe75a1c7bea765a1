"""The stream relay and SSE frames: every frame out once and in order, whatever the pace on either side."""

from __future__ import annotations

import asyncio
import threading

from hypothesis import given
from hypothesis import strategies as st

from router.http import sse


@given(st.text())
def test_a_template_frame_is_byte_for_byte_the_frame_serialized_whole(text):
    data = {"id": "c1", "choices": [{"index": 0, "delta": {"content": sse.HOLE}, "finish_reason": None}]}
    whole = {"id": "c1", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    assert sse.template(data)(text) == sse.sse(whole)
    assert sse.template(data, event="delta")(text) == sse.sse(whole, event="delta")


async def _collect(frames, *, keepalive_s=5.0, pause_s=0.0):
    closed = threading.Event()
    out = []
    async for chunk in sse.relay(frames, keepalive_s=keepalive_s, on_close=closed.set):
        out.append(chunk)
        if pause_s:
            await asyncio.sleep(pause_s)
    assert closed.is_set()
    return out


def test_a_model_far_ahead_of_a_slow_reader_loses_no_frame_and_keeps_their_order():
    # Given a model that produces many more frames than the relay buffers, and a reader slower than the model
    frames = [f"data: {i}\n\n".encode() for i in range(sse.BUFFER_FRAMES * 5)]
    out = asyncio.run(_collect(iter(frames), pause_s=0.001))
    # Then every frame arrives once, in order, and the first content went out before the frames behind it
    assert b"".join(out) == b"".join(frames)
    head = frames[0] + frames[1]
    sent = b""
    for chunk in out:
        sent += chunk
        if len(sent) >= len(head):
            break
    assert sent == head  # the role and the first content were not held back for the frames behind them


def test_a_silent_model_gets_keepalives_and_an_error_mid_stream_follows_the_frames_before_it():
    gate = threading.Event()

    def frames():
        yield b"data: a\n\n"
        yield b"data: b\n\n"
        gate.wait(5)
        yield b"data: c\n\n"
        raise RuntimeError("model broke")

    async def run():
        out = []
        try:
            async for chunk in sse.relay(frames(), keepalive_s=0.02, on_close=lambda: None):
                out.append(chunk)
                if chunk == sse.KEEPALIVE:
                    gate.set()
        except RuntimeError as exc:
            return out, str(exc)
        return out, None

    out, error = asyncio.run(run())
    assert sse.KEEPALIVE in out
    assert b"".join(c for c in out if c != sse.KEEPALIVE) == b"data: a\n\ndata: b\n\ndata: c\n\n"
    assert error == "model broke"
