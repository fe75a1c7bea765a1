"""Where sampled requests go to be labelled: an SQS queue in Lambda, a list in memory locally and in tests.

A sender only sends: it is called from the router's background sample sender (router.sampling), never on a
request's path, and raises on failure so the sender can count it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

# One sample is one SQS message: SQS's message size quota, 1 MiB (body and attributes; no attributes are sent) since
# August 2025, which Lambda's SQS event source delivers too (checked by the infrastructure owner: see
# stacks/constructs/label_loop.py, whose small batches keep a batch well inside Lambda's 6 MB invocation payload).
# A sample whose UTF-8 JSON body is larger is not sent: counted LabelSamples{Outcome=too_large}.
MAX_SAMPLE_BYTES = 1_048_576


class SampleQueue(Protocol):
    def send(self, body: str) -> None:
        """Send one sample message; raise on failure."""
        ...


class SqsSampleQueue:
    """SendMessage to the label queue. The client is injected, or made by `client_factory` at the first send (on
    the sender's thread: building a boto3 client costs tens of milliseconds, which no cold start should pay)."""

    def __init__(self, queue_url: str, client=None, *, client_factory: Callable[[], object] | None = None):
        if client is None and client_factory is None:
            raise ValueError("SqsSampleQueue needs a client or a client_factory")
        self.queue_url = queue_url
        self._client = client
        self._factory = client_factory

    def send(self, body: str) -> None:
        if self._client is None:
            assert self._factory is not None
            self._client = self._factory()
        self._client.send_message(QueueUrl=self.queue_url, MessageBody=body)  # type: ignore[attr-defined]


class MemorySampleQueue:
    """In process: what was sent, in order. `drain()` hands the bodies over and forgets them."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self._lock = threading.Lock()

    def send(self, body: str) -> None:
        with self._lock:
            self.bodies.append(body)

    def drain(self) -> list[str]:
        with self._lock:
            out, self.bodies = self.bodies, []
        return out


def sqs_client(region: str | None):
    """boto3's SQS client with short timeouts and standard retries: a send cut by a frozen Lambda environment
    (the connection is gone after the thaw) is retried on the next attempt instead of being lost."""
    from botocore.config import Config

    from aws_adapters import boto_session

    return boto_session.client(
        "sqs",
        region_name=region,
        config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 3, "mode": "standard"}),
    )


__all__ = ["MAX_SAMPLE_BYTES", "MemorySampleQueue", "SampleQueue", "SqsSampleQueue", "sqs_client"]
