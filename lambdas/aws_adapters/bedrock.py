"""Bedrock Converse and ConverseStream behind a small seam: one client per region, errors sorted into kinds.

Shared by the router and the labeller. Callers speak in `aws_adapters.conversation` terms (a `ModelCall` in, a
`ModelReply` or a `ModelStream` of `ModelEvent`s out); `aws_adapters.converse` translates the wire. Nothing here
knows HTTP: each Converse error code maps to (retry on another model?, failure kind, machine-readable code, hint),
and the router's HTTP layer turns the kind into a status.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator

from aws_adapters import converse
from aws_adapters.conversation import ModelCall, ModelEvent, ModelReply
from aws_adapters.event_stream import FAST_STREAM, capture
from routing_engine.failures import FailureKind as K

# Converse error code -> (retry on another model?, failure kind, machine-readable code, hint)
ERROR_CLASSES: dict[str, tuple[bool, K, str, str]] = {
    "ValidationException": (
        False,
        K.MODEL_REJECTED,
        "model_validation_error",
        "the model rejected the request as invalid",
    ),
    # Retried on the next model (see docs/decisions.md): in a new account the first call to a third-party model
    # fails until its one-time Marketplace subscription / use-case form is done; a capable fallback keeps serving
    # while the ModelAccessDenied metric says loudly that access needs fixing.
    "AccessDeniedException": (
        True,
        K.MODEL_ACCESS_DENIED,
        "model_access_denied",
        "the router may not call this model: enable model access in the Bedrock console for this account and "
        "region, and check that the router's IAM role allows bedrock:InvokeModel on it",
    ),
    "ResourceNotFoundException": (
        True,
        K.MODEL_FAILED,
        "bedrock_model_not_found",
        "the model id is unknown in this region",
    ),
    "ThrottlingException": (True, K.THROTTLED, "model_throttled", "the model is throttling requests; retry later"),
    "ServiceQuotaExceededException": (True, K.THROTTLED, "model_quota_exceeded", "a Bedrock quota is exhausted"),
    "ModelNotReadyException": (True, K.UNAVAILABLE, "model_not_ready", "the model is not ready to serve; retry later"),
    "ModelTimeoutException": (True, K.TIMEOUT, "model_timeout", "the model took too long to answer"),
    "ModelErrorException": (True, K.MODEL_FAILED, "model_error", "the model failed while processing the request"),
    "ModelStreamErrorException": (True, K.MODEL_FAILED, "model_stream_error", "the model's stream broke"),
    "InternalServerException": (True, K.MODEL_FAILED, "model_internal_error", "Bedrock had an internal error"),
    "ServiceUnavailableException": (True, K.UNAVAILABLE, "model_unavailable", "Bedrock is unavailable"),
    "Timeout": (True, K.TIMEOUT, "model_timeout", "no answer from Bedrock within the time allowed for this call"),
    "ConnectionError": (True, K.UNAVAILABLE, "bedrock_unreachable", "could not connect to Bedrock"),
    # Ours, not Bedrock's: the answer outran the request's own deadline. Not the model's fault, so not retried
    # and not counted against its breaker.
    "DeadlineExceeded": (False, K.TIMEOUT, "request_deadline_exceeded", "the answer ran past the request's deadline"),
}
UNKNOWN_CLASS = (True, K.MODEL_FAILED, "model_error", "Bedrock returned an unexpected error")
THROTTLE_CLASSES = frozenset({"ThrottlingException", "ServiceQuotaExceededException", "ModelNotReadyException"})


def classify(error_class: str) -> tuple[bool, K, str, str]:
    """(retry on another model?, failure kind, error code, hint) for a Converse error code."""
    return ERROR_CLASSES.get(error_class, UNKNOWN_CLASS)


class ModelCallError(Exception):
    def __init__(self, error_class: str, message: str, *, latency_ms: float):
        retryable, kind, code, hint = classify(error_class)
        super().__init__(message)
        self.error_class = error_class
        self.retryable = retryable
        self.kind = kind
        self.code = code
        self.hint = hint
        self.message = message
        self.latency_ms = latency_ms


ClientFactory = Callable[[str | None, float], object]


def _error_code(exc) -> tuple[str, str]:
    err = exc.response.get("Error", {}) if hasattr(exc, "response") and isinstance(exc.response, dict) else {}
    code = err.get("Code") or "Unknown"
    # Exceptions inside an event stream are named like events ("throttlingException"): use the Converse spelling.
    return code[:1].upper() + code[1:], err.get("Message") or str(exc)


def _transport_class(exc: BaseException) -> str | None:
    """ "Timeout" or "ConnectionError" for a transport failure (botocore's or, mid-stream, urllib3's), else None."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import ConnectTimeoutError, HTTPClientError, ReadTimeoutError

    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return "Timeout"
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return "ConnectionError"
    name = type(exc).__name__
    if name in ("ReadTimeoutError", "TimeoutError", "SocketTimeout"):
        return "Timeout"
    if name in ("ProtocolError", "ConnectionResetError", "IncompleteRead"):
        return "ConnectionError"
    return None


class BedrockConverse:
    """Calls Converse / ConverseStream with a per-attempt timeout; clients cached per (region, whole seconds)."""

    def __init__(self, client_factory: ClientFactory, clock: Callable[[], float] = time.perf_counter):
        self._factory = client_factory
        self._clients: dict[tuple[str | None, int], object] = {}
        self._clock = clock

    MAX_CLIENTS = 16  # timeouts follow the time left, so keep only the recently used ones

    def client(self, region: str | None, timeout_s: float):
        # Whole seconds, rounded down: a call must never be allowed longer than the time left for it.
        key = (region, max(1, math.floor(timeout_s)))
        client = self._clients.pop(key, None)
        if client is None:
            client = self._factory(region, key[1])
            while len(self._clients) >= self.MAX_CLIENTS:
                self._clients.pop(next(iter(self._clients)))
        self._clients[key] = client  # most recently used last
        return client

    def _call(
        self, operation: str, call: ModelCall, timeout_s: float, build: Callable[[ModelCall], dict] | None = None
    ):
        # botocore is imported here, not at module import: the app module stays light and the SDK loads with the
        # first client (its exceptions are cached in sys.modules from then on).
        from botocore.exceptions import ClientError, ParamValidationError

        client = self.client(call.region, timeout_s)
        started = self._clock()
        try:
            return getattr(client, operation)(**(build or converse.request)(call)), started
        except ClientError as exc:
            code, message = _error_code(exc)
            raise ModelCallError(code, message, latency_ms=(self._clock() - started) * 1000) from exc
        except (ParamValidationError, UnicodeEncodeError) as exc:  # refused before it was sent: the request is bad
            raise ModelCallError(
                "ValidationException", str(exc)[:500], latency_ms=(self._clock() - started) * 1000
            ) from exc
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is a transport failure
            transport = _transport_class(exc)
            if transport is None:
                raise
            raise ModelCallError(transport, str(exc), latency_ms=(self._clock() - started) * 1000) from exc

    def converse(self, call: ModelCall, timeout_s: float) -> ModelReply:
        response, started = self._call("converse", call, timeout_s)
        return converse.reply(response, (self._clock() - started) * 1000)

    def count_tokens(self, call: ModelCall, timeout_s: float) -> int:
        """Bedrock's CountTokens for `call` (its `model_id` must be a foundation model id: CountTokens takes no
        inference profile). Errors are ModelCallErrors; a model that cannot count answers ValidationException."""
        response, _ = self._call("count_tokens", call, timeout_s, converse.count_request)
        return int(response["inputTokens"])

    def converse_stream(self, call: ModelCall, timeout_s: float) -> ModelStream:
        """Open a stream. Its events are read with `ModelStream.events()`; errors while reading are ModelCallErrors."""
        response, started = self._call("converse_stream", call, timeout_s)
        structured = call.structured.name if call.structured is not None else None
        # The same bytes read by aws_adapters.event_stream (botocore's output, a fraction of its CPU) when the client
        # has its hook; botocore's own EventStream otherwise (an injected client, a test's stub).
        stream = response.get(FAST_STREAM) or response["stream"]
        return ModelStream(stream, started, self._clock, structured)


class _Alarm:
    __slots__ = ("when", "action", "cancelled")

    def __init__(self, when: float, action: Callable[[], None]):
        self.when, self.action, self.cancelled = when, action, False

    def cancel(self) -> None:
        self.cancelled = True


class _Watchdog:
    """One thread that fires every stream's alarms: a timer thread per stream cost more than the router's own
    work per token. Alarms are ordered by time; a cancelled one is dropped when it comes due."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Alarm]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, seconds: float, action: Callable[[], None]) -> _Alarm:
        alarm = _Alarm(time.monotonic() + max(0.0, seconds), action)
        with self._wake:
            if len(self._heap) > 4096:  # most alarms are cancelled long before they are due: drop those now
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (alarm.when, next(self._seq), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="stream-watchdog", daemon=True)
                self._thread.start()
            if self._heap[0][2] is alarm:  # due before the one the thread waits for: wake it to wait less
                self._wake.notify()
        return alarm

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                alarm = heapq.heappop(self._heap)[2]
            if not alarm.cancelled:
                with contextlib.suppress(Exception):  # one stream's failing close must not stop every other alarm
                    alarm.action()


_WATCHDOG = _Watchdog()


class ModelStream:
    """One open ConverseStream. `begin()` waits for the answer to start; `events()` yields it as `ModelEvent`s. Errors
    (an exception event, a read timeout) are ModelCallErrors; a stream we closed ourselves just ends."""

    def __init__(self, stream, started: float, clock: Callable[[], float], structured: str | None = None):
        self._stream = stream
        self.started = started
        self._clock = clock
        self._structured = structured
        self._raw = self._read()
        self._head: list[dict] = []  # read by begin(), decoded first by events()
        self.closed = False
        self.expired = False  # closed by a watchdog (no first token in time, or past the deadline)

    def begin(self) -> None:
        """Read up to the first event after the stream's opening: from there on the answer belongs to this model."""
        converse.read_opening(self._raw, self._head)

    def events(self) -> Iterator[ModelEvent]:
        """The answer: text and tool-call deltas, then one `ModelReply` with the stop reason and usage (none once
        the stream is closed)."""
        return converse.decode(itertools.chain(self._head, self._raw), self._structured, lambda: self.closed)

    def _read(self) -> Iterator[dict]:
        from botocore.exceptions import ClientError

        try:
            yield from self._stream
        except ClientError as exc:  # botocore's EventStreamError: an exception event inside the stream
            code, message = _error_code(exc)
            raise ModelCallError(code, message, latency_ms=self.elapsed_ms()) from exc
        except Exception as exc:  # noqa: BLE001 - every failure of a started stream ends it as a model error
            if self.closed:  # we closed it ourselves (the client went away): not the model's failure
                return
            # A transport failure, or anything else the stream raises (TLS, a checksum): the caller's stream must end
            # with an error event, never silently short.
            error_class = _transport_class(exc) or "ModelStreamErrorException"
            raise ModelCallError(error_class, f"{type(exc).__name__}: {exc}", latency_ms=self.elapsed_ms()) from exc

    def elapsed_ms(self) -> float:
        return (self._clock() - self.started) * 1000

    def expire(self) -> None:
        """A watchdog's close: the reader ends as if closed, and can tell why from `expired`."""
        self.expired = True
        self.close()

    def watchdog(self, seconds: float) -> _Alarm:
        """Expire the stream after `seconds` unless the returned alarm is cancelled first. A botocore read timeout
        bounds each read, not the whole: a model that trickles tokens would otherwise outrun any deadline."""
        return _WATCHDOG.schedule(seconds, self.expire)

    def close(self) -> None:
        """Stop the model's stream (a disconnected client must not keep a model generating)."""
        if not self.closed:
            self.closed = True
            close = getattr(self._stream, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):  # closing a broken connection may fail; it is closed either way
                    close()


# Connections one client keeps open. Lambda serves one request at a time, but the local and container servers run
# up to local.server.WORKER_THREADS calls at once through one client; with botocore's default of 10 the rest opened
# and closed a connection per call. A pool slot costs nothing until it is used.
MAX_POOL_CONNECTIONS = 256


def _invocation_ids() -> Callable[..., None]:
    """A `before-call` hook that gives each call its `amz-sdk-invocation-id` from a generator seeded once: botocore
    draws a uuid4 per call, i.e. an os.urandom system call, which was 5-7% of a buffered request's CPU in the
    profile. The id only correlates one call's retries in AWS's logs, so a version-4 UUID from a per-process
    generator seeded from os.urandom keeps it unique without a system call per request."""
    import random
    import uuid

    draw = random.Random(os.urandom(32)).getrandbits  # one C call: atomic under the GIL, safe from any thread

    def hook(context: dict, **_: object) -> None:
        context.setdefault("retries", {}).setdefault("invocation-id", str(uuid.UUID(int=draw(128), version=4)))

    return hook


def _user_agent(boto3_version: str) -> str:
    """The User-Agent sent with every call, fixed once: botocore otherwise assembles it from about twenty components
    twice per call (33 us each here, 3-4% of a buffered request's CPU). It keeps the SDK, version and retry-mode
    facts AWS reads; botocore appends its own name and `model-router` (user_agent_extra) to it."""
    import platform

    import botocore

    return (
        f"Boto3/{boto3_version} md/Botocore#{botocore.__version__} ua/2.1 os/{platform.system().lower()} "
        f"lang/python#{platform.python_version()} cfg/retry-mode#standard"
    )


def boto3_client_factory(default_region: str | None = None) -> ClientFactory:
    """Real clients, configured for a router that validates and retries on its own:
    - no SDK retries (`total_max_attempts=1`): the router fails over to another model inside one deadline;
      botocore would otherwise repeat a read timeout, tripling a hanging call, and hide the retry time;
    - no client-side parameter validation: the Converse request is built by `aws_adapters.converse` from a request
      the HTTP layer has already parsed and validated, so botocore's walk over every field (types, required
      members, lengths) re-checks what is true by construction; whatever it would still catch (an empty text, a
      length limit) Bedrock refuses with a ValidationException, which maps to the same 400
      `model_validation_error`, not retried;
    - a connection pool as large as the server's concurrency, TCP keep-alive on pooled connections, and tight
      timeouts (connect 2 s, read = the time left for the call);
    - ConverseStream's events read by `aws_adapters.event_stream` (botocore's public `before-parse` event hands it
      the raw response): the same events and errors as botocore's EventStream at about a third of its CPU per
      event (benchmarks/results/request-instructions.txt)."""
    hook = _invocation_ids()
    user_agent: str | None = None

    def make(region: str | None, timeout_s: float):
        # boto3 loads with the first client, not with the app: a cold start whose first request calls no model (a
        # dry run, a health check, a refused request) never pays for it.
        import boto3
        from botocore.config import Config

        from aws_adapters import boto_session

        nonlocal user_agent
        if user_agent is None:
            user_agent = _user_agent(boto3.__version__)
        config = Config(
            connect_timeout=2,
            read_timeout=timeout_s,
            retries={"total_max_attempts": 1, "mode": "standard"},
            parameter_validation=False,
            max_pool_connections=MAX_POOL_CONNECTIONS,
            tcp_keepalive=True,
            user_agent=user_agent,
            user_agent_extra="model-router",
        )
        # on the process's shared session (aws_adapters.boto_session.client: botocore's loader without its cold-start
        # scans), one client at a time
        client = boto_session.client("bedrock-runtime", region_name=region or default_region, config=config)
        client.meta.events.register("before-call.bedrock-runtime", hook)
        client.meta.events.register("before-parse.bedrock-runtime.ConverseStream", capture)
        return client

    return make


__all__ = [
    "ERROR_CLASSES",
    "THROTTLE_CLASSES",
    "BedrockConverse",
    "ClientFactory",
    "ModelCall",
    "ModelCallError",
    "ModelReply",
    "ModelStream",
    "boto3_client_factory",
    "classify",
]
