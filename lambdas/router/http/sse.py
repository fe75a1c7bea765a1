"""Server-sent events: framing, comment keep-alives during long pauses, and stopping the model when the client
goes away."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import anyio.from_thread
import anyio.lowlevel

KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


def sse(data: dict, *, event: str | None = None) -> bytes:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    return (f"event: {event}\ndata: {body}\n\n" if event else f"data: {body}\n\n").encode("utf-8")


_END = object()


async def relay(frames: Iterator[bytes], *, keepalive_s: float, on_close: Callable[[], None]) -> AsyncIterator[bytes]:
    """Pull `frames` (a blocking iterator over the model's stream) in one worker thread and yield them, with a
    comment line whenever the model is silent for `keepalive_s`, so no idle timeout cuts a slow model. When the
    client disconnects the ASGI server stops this generator: `on_close` then stops the model's stream, which ends
    the worker thread too."""
    send, receive = anyio.create_memory_object_stream[object](16)
    token = anyio.lowlevel.current_token()

    def pump() -> None:
        try:
            for frame in frames:
                anyio.from_thread.run(send.send, frame, token=token)
            anyio.from_thread.run(send.send, _END, token=token)
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop side, or dropped when nobody listens
            try:
                anyio.from_thread.run(send.send, exc, token=token)
            except BaseException:  # noqa: BLE001 - the receiver is gone (client left, loop closed)
                pass

    threading.Thread(target=pump, name="sse-pump", daemon=True).start()
    try:
        while True:
            item: object = None
            with anyio.move_on_after(keepalive_s) as scope:
                item = await receive.receive()
            if scope.cancelled_caught:
                yield KEEPALIVE
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        receive.close()
        on_close()
