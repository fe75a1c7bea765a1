"""Server-sent events: framing, comment keep-alives during long pauses, and stopping the model when the client
goes away."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def sse(data: dict, *, event: str | None = None) -> bytes:
    body = dumps(data)
    return (f"event: {event}\ndata: {body}\n\n" if event else f"data: {body}\n\n").encode("utf-8")


HOLE = "\x00hole\x00"  # marks where a template's one varying string goes
_HOLE_JSON = json.dumps(HOLE).encode()


def template(data: dict, *, event: str | None = None) -> Callable[[str], bytes]:
    """The frame `sse(data, event=event)` with its one `HOLE` string left open: `template(d)(text)` is byte for
    byte `sse(d with HOLE replaced by text)`, but serializes only `text`. A stream's frames differ in one string
    (the next piece of text), so each frame costs one small `json.dumps` rather than one of the whole chunk."""
    head, tail = sse(data, event=event).split(_HOLE_JSON)
    return lambda text: head + json.dumps(text, ensure_ascii=False).encode("utf-8") + tail


_END = object()
BUFFER_FRAMES = 64  # frames the model may run ahead of a slow client before the pump waits
MAX_STREAMS = 1024  # streams one process relays at once (each holds a pump thread while its model streams)
_pool: ThreadPoolExecutor | None = None


def _pumps() -> ThreadPoolExecutor:
    """Threads that outlive one stream: starting a thread per stream cost more than the router's own decision."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=MAX_STREAMS, thread_name_prefix="sse-pump")
    return _pool


async def relay(frames: Iterator[bytes], *, keepalive_s: float, on_close: Callable[[], None]) -> AsyncIterator[bytes]:
    """Pull `frames` (a blocking iterator over the model's stream) in one worker thread and yield them, with a
    comment line whenever the model is silent for `keepalive_s`, so no idle timeout cuts a slow model.

    Hand-offs between the pump thread and the event loop are per batch, not per frame: the pump appends each frame
    to a queue and wakes the loop only when no wake-up is already pending; the loop takes every frame waiting and
    sends them in one write. The pump waits (it does not spin) only when the client reads slower than the model
    generates (`BUFFER_FRAMES` queued) and once, after the first content, until that is out: the first token is
    sent at once instead of after a batch the pump would build while holding the GIL. When the client disconnects
    the server stops this generator: `on_close` then stops the model's stream, which ends the pump thread too."""
    loop = asyncio.get_running_loop()
    queue: deque = deque()
    signalled = [False]  # a wake-up is on its way to the loop: the pump need not send another
    waiter: list[asyncio.Future | None] = [None]
    room = threading.Event()  # cleared by the pump when the queue is full, set by the loop once it has drained it
    room.set()
    first_out = threading.Event()  # the first batch (the role and the first content) has been sent
    stopped = threading.Event()

    def wake() -> None:  # on the loop
        future = waiter[0]
        if future is not None and not future.done():
            future.set_result(True)

    def idle(future: asyncio.Future) -> None:  # on the loop, after keepalive_s without a frame
        if not future.done():
            future.set_result(False)

    def put(item: object) -> None:
        queue.append(item)
        if not signalled[0]:
            signalled[0] = True
            try:
                loop.call_soon_threadsafe(wake)
            except RuntimeError:  # the loop is closed (server shutting down): nobody is listening
                stopped.set()

    def wait(event: threading.Event) -> bool:
        """Wait for `event`; False if the relay stopped meanwhile."""
        while not event.wait(1.0):
            if stopped.is_set():
                return False
        return not stopped.is_set()

    def pump() -> None:
        try:
            for sent, frame in enumerate(frames):
                if stopped.is_set():
                    return
                if len(queue) >= BUFFER_FRAMES:
                    room.clear()
                    if len(queue) >= BUFFER_FRAMES and not wait(room):
                        return
                put(frame)
                if sent == 1 and not wait(first_out):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop side, which re-raises it
            put(exc)

    _pumps().submit(pump)
    try:
        while True:
            signalled[0] = False  # from here on a new frame sends a new wake-up
            if not queue:
                future = waiter[0] = loop.create_future()
                if not queue:
                    timer = loop.call_later(keepalive_s, idle, future)
                    woke = await future
                    timer.cancel()
                    if not woke:
                        yield KEEPALIVE
                waiter[0] = None
                continue
            batch: list[bytes] = []
            ended = False
            while queue:
                item = queue.popleft()
                if item is _END:
                    ended = True
                    break
                if isinstance(item, BaseException):
                    if batch:
                        yield b"".join(batch)
                    raise item
                batch.append(item)
            if not room.is_set():
                room.set()
            if batch:
                yield b"".join(batch)
            if not first_out.is_set():
                first_out.set()
            if ended:
                return
    finally:
        stopped.set()
        on_close()
