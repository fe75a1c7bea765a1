"""Server-sent events: framing, comment keep-alives during long pauses, and stopping the model when the client
goes away."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


def sse(data: dict, *, event: str | None = None) -> bytes:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    return (f"event: {event}\ndata: {body}\n\n" if event else f"data: {body}\n\n").encode("utf-8")


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

    The pump thread never waits for the event loop per frame: it appends to a queue and wakes the loop; the loop
    sends every frame already waiting in one write. A bounded semaphore holds the model back when the client reads
    slower than it generates. When the client disconnects the server stops this generator: `on_close` then stops
    the model's stream, which ends the pump thread too."""
    loop = asyncio.get_running_loop()
    queue: deque = deque()
    wake = asyncio.Event()
    room = threading.Semaphore(BUFFER_FRAMES)
    stopped = threading.Event()

    def notify() -> None:
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop is closed (server shutting down): nobody is listening
            stopped.set()

    def pump() -> None:
        try:
            for sent, frame in enumerate(frames):
                while not room.acquire(timeout=1.0):
                    if stopped.is_set():
                        return
                if stopped.is_set():
                    return
                queue.append(frame)
                notify()
                if sent < 2:
                    # The first frames (the role, the first content) go out now: hand the GIL to the event loop
                    # rather than keep it for the interpreter's switch interval (5 ms) while the model runs on.
                    # Later frames batch up instead; a handoff per frame would cost more than it saves.
                    time.sleep(0)
            queue.append(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop side, which re-raises it
            queue.append(exc)
        notify()

    _pumps().submit(pump)
    try:
        while True:
            while not queue:
                wake.clear()
                if queue:
                    break
                try:
                    await asyncio.wait_for(wake.wait(), keepalive_s)
                except TimeoutError:
                    yield KEEPALIVE
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
            if batch:
                for _ in batch:
                    room.release()
                yield b"".join(batch)
            if ended:
                return
    finally:
        stopped.set()
        on_close()
