"""The request log's handler: each line whole, and one request's slow formatting never holds up another's write."""

from __future__ import annotations

import io
import json
import logging
import threading

from router import observability as obs


def test_a_line_being_formatted_does_not_hold_up_another_thread_s_line():
    # Given the router's log handler writing to a buffer, and a formatter that stalls on one request's line
    handler = obs.logger.registered_handler
    stream, formatter = io.StringIO(), handler.formatter
    stalled, release = threading.Event(), threading.Event()

    class Stalling(logging.Formatter):
        def format(self, record):
            if getattr(record, "request_id", None) == "slow":
                stalled.set()
                release.wait(10)
            return formatter.format(record)

    previous = handler.setStream(stream)
    handler.setFormatter(Stalling())
    try:
        slow = threading.Thread(target=lambda: obs.logger.info("request routed", extra={"request_id": "slow"}))
        slow.start()
        assert stalled.wait(10)
        # When another request logs while the first line is still being serialized
        fast = threading.Thread(target=lambda: obs.logger.info("request routed", extra={"request_id": "fast"}))
        fast.start()
        fast.join(10)
        # Then its line is already written (formatting happens outside the handler's lock)
        written = [json.loads(line)["request_id"] for line in stream.getvalue().splitlines()]
        assert written == ["fast"]
    finally:
        release.set()
        slow.join(10)
        handler.setFormatter(formatter)
        handler.setStream(previous)
    # And both lines come out whole, with Powertools' own fields
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["fast", "slow"]
    assert all(line["level"] == "INFO" and line["service"] == obs.SERVICE for line in lines)
