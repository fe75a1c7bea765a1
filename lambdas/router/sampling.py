"""Label sampling: a share of a route's answered requests goes to the label queue, after the caller has its answer.

A route with `labelling` (routing configuration) names a weak and a strong model. For a request it served with
one of them, a per-process random draw keeps `sample_rate` of the requests. What the request path does for a
sample is small and bounded: the draw, a few checks and a handoff (a non-blocking append to a bounded queue) of
the objects the sample is made of. One daemon thread builds the message (JSON of the prompt, the answer and the
decision) and sends it, and only once the response is out: the app releases each handoff when the response's
last byte has been sent (a background step of the response), so the message is never built while the caller
waits. A full queue drops the sample (counted failed); a failing queue fails nothing but the sample.

The sender takes handoffs up in order but sends them as they are released: one whose response never reported its
end (the client went away before the last byte, so the background step never ran) is kept aside, never waited
on while released ones queue behind it, and dropped after RELEASE_WAIT_S (counted failed: its response may not
have reached the caller). At most `max_pending` handoffs are kept aside, beside the `max_pending` in the queue.

In Lambda the environment may be frozen as soon as the response is complete (behind the Web Adapter the
invocation ends with the response: aws/aws-lambda-web-adapter#404), so a send may be paused mid-way; the thread
resumes on the next invocation's thaw, and the SQS client's retries resend a request whose connection died in
the freeze (at-least-once: the labeller keys labels by request id). When Lambda shuts the environment down it
sends SIGTERM first; the app's shutdown flushes what is pending for a bounded time (see router.http.app).

Metric LabelSamples by {service, Outcome}: `queued` when the sender takes a handoff up (written by the sender, so
the request path pays no metric write), then exactly one of `sent`, `failed` (send error, or never released) or
`too_large` (over MAX_SAMPLE_BYTES once encoded: not sent). A handoff refused because the sender's queue is full
counts `failed`, a prompt longer than MAX_SAMPLE_BYTES characters `too_large`, both without `queued`. The
request's log line says `label_sample: queued` at the handoff; queued lines minus the sender's outcomes is what a
frozen and then discarded environment never sent.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aws_adapters.conversation import Text
from router import observability as obs
from router.adapters.sample_queue import MAX_SAMPLE_BYTES, SampleQueue

SCHEMA_VERSION = 1
MAX_PENDING = 64  # handoffs waiting for the sender; more are dropped (counted failed), never waited for
RELEASE_WAIT_S = 10.0  # a handoff whose response never reported its end is dropped (counted failed) after this long
FREEZE_SLACK_S = 1.0  # a wait that overran its timeout by more than this was a freeze, not a slow wake-up
SHUTDOWN_FLUSH_S = 0.2  # Lambda gives the runtime 300 ms between SIGTERM and SIGKILL

# log values (the request line's `label_sample`)
QUEUED, NOT_DRAWN, OFF_PAIR, UNSUPPORTED, TOO_LARGE, QUEUE_FULL = (
    "queued",
    "not_drawn",
    "off_pair",
    "unsupported",
    "too_large",
    "queue_full",
)


def count(outcome: str) -> None:
    obs.emit({"Outcome": outcome}, {"LabelSamples": (obs.COUNT, 1)})


@dataclass(slots=True)
class SampleJob:
    """One handoff: builds its message body when the sender gets to it, once released."""

    request_id: str
    build: Callable[[], str]
    released: threading.Event = field(default_factory=threading.Event)
    on_release: Callable[[], None] | None = None  # set by the sender it is submitted to: wakes it up

    def release(self) -> None:
        self.released.set()
        if self.on_release is not None:
            self.on_release()


class SampleSender:
    """One daemon thread and a bounded queue in front of a `SampleQueue`. `submit` never blocks."""

    def __init__(
        self,
        target: SampleQueue,
        *,
        max_pending: int = MAX_PENDING,
        on_outcome: Callable[[str], None] = count,
        release_wait_s: float = RELEASE_WAIT_S,
        max_bytes: int = MAX_SAMPLE_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.target = target
        self.max_bytes = max_bytes
        self._max_pending = max_pending
        self._jobs: deque[SampleJob] = deque()  # submitted, not yet taken up by the sender (at most max_pending)
        self._on_outcome = on_outcome
        self._release_wait_s = release_wait_s
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._idle = threading.Condition()  # guards the queue, the counts and `_pending`; the sender waits on it
        self._pending = 0  # submitted and not yet finished
        self.counts: dict[str, int] = {}

    def outcome(self, name: str) -> None:
        with self._idle:
            self.counts[name] = self.counts.get(name, 0) + 1
        with contextlib.suppress(Exception):  # a metric write must never fail a request or stop the sender
            self._on_outcome(name)

    def submit(self, job: SampleJob) -> bool:
        """Hand a job over; False (counted failed) when the queue is full."""
        self._ensure_thread()
        job.on_release = self._wake
        with self._idle:
            full = len(self._jobs) >= self._max_pending
            if not full:
                self._jobs.append(job)
                self._pending += 1
                self._idle.notify_all()
        if full:
            self.outcome("failed")
            return False
        return True

    def flush(self, timeout_s: float) -> bool:
        """Wait at most `timeout_s` for every submitted job to finish; True when none is left."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout_s)

    @property
    def pending(self) -> int:
        with self._idle:
            return self._pending

    def _wake(self) -> None:
        with self._idle:
            self._idle.notify_all()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="label-sample-sender", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        aside: list[tuple[float, SampleJob]] = []  # taken up, not yet released: (deadline, job), oldest first
        while True:
            job, released = self._next(aside)
            try:
                if released:
                    self._send(job)
                else:
                    self._expire(job)
            finally:
                self._done()

    def _next(self, aside: list[tuple[float, SampleJob]]) -> tuple[SampleJob, bool]:
        """The next job to finish and whether it was released: the oldest released one, else the oldest past its
        deadline. Jobs are taken from the queue into `aside` (at most max_pending there) while none is ready."""
        with self._idle:
            while True:
                now = self._clock()
                for i, (_, job) in enumerate(aside):
                    if job.released.is_set():
                        del aside[i]
                        return job, True
                for i, (deadline, job) in enumerate(aside):
                    if deadline <= now:
                        del aside[i]
                        return job, False
                if self._jobs and len(aside) < self._max_pending:
                    aside.append((now + self._release_wait_s, self._jobs.popleft()))
                    continue
                timeout = min(d for d, _ in aside) - now if aside else None
                self._idle.wait(timeout)
                elapsed = self._clock() - now
                if timeout is not None and elapsed > timeout + FREEZE_SLACK_S:
                    # Woken long after asked: the environment was frozen (Lambda freezes it once a response is
                    # out, possibly before the response's release step runs). A freeze is not a response that
                    # never ended: the waiting jobs get the whole wait back instead of expiring on thaw.
                    aside[:] = [(deadline + elapsed, job) for deadline, job in aside]

    def _expire(self, job: SampleJob) -> None:
        self.outcome(QUEUED)
        obs.logger.info(
            "label sample not sent",
            extra={
                "request_id": job.request_id,
                "label_sample": "failed",
                "error": f"never released within {self._release_wait_s} s",
            },
        )
        self.outcome("failed")

    def _send(self, job: SampleJob) -> None:
        self.outcome(QUEUED)  # counted here, not on the request path: the metric's write is the handoff's main cost
        try:
            body = job.build()
            size = len(body.encode("utf-8"))
        except Exception:  # noqa: BLE001 - a bug building one sample must not stop the sender
            obs.logger.exception("label sample could not be built", extra={"request_id": job.request_id})
            self.outcome("failed")
            return
        if size > self.max_bytes:
            obs.logger.info(
                "label sample not sent",
                extra={
                    "request_id": job.request_id,
                    "label_sample": TOO_LARGE,
                    "bytes": size,
                    "max_bytes": self.max_bytes,
                },
            )
            self.outcome(TOO_LARGE)
            return
        try:
            self.target.send(body)
        except Exception as exc:  # noqa: BLE001 - counted and logged; the request was answered long ago
            obs.logger.warning(
                "label sample not sent",
                extra={
                    "request_id": job.request_id,
                    "label_sample": "failed",
                    "error": f"{type(exc).__name__}: {exc}"[:300],
                },
            )
            self.outcome("failed")
            return
        self.outcome("sent")


@dataclass(slots=True)
class Ticket:
    """What the request path got back: the log value, and the step that releases the job once the response is out."""

    status: str
    job: SampleJob | None = None

    def release(self) -> None:
        if self.job is not None:
            self.job.release()


class Sampler:
    """The sampling policy of one process. `sender` None: sampling is off (LABEL_QUEUE_URL unset)."""

    def __init__(
        self,
        sender: SampleSender | None,
        *,
        seed: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.sender = sender
        self._rng = random.Random(seed)  # seeded once per process (from os.urandom unless a seed is given)
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self.sender is not None

    def labelling(self, engine, result):
        """The route's labelling settings for this decision, or None (no labelling, sampling off, dry run)."""
        if self.sender is None:
            return None
        decision = result.decision
        if decision.mode not in ("dynamic", "shadow") or decision.route not in engine.config.routes:
            return None
        return engine.labelling_for(decision.route)

    def draw(self, rate: float) -> bool:
        return self._rng.random() < rate

    def predraw(self, engine, result) -> bool:
        """For a stream, at its start: is this request drawn? (Only a drawn stream keeps its answer's text.)"""
        labelling = self.labelling(engine, result)
        return labelling is not None and self.draw(labelling.sample_rate)

    def consider(
        self, engine, chat, result, *, request_id: str, answer_text: str, drawn: bool | None = None
    ) -> Ticket | None:
        """After an answered request: sample it or say why not. None: the route does not label (no log field)."""
        if chat.dry_run or result.reply is None:
            return None
        labelling = self.labelling(engine, result)
        if labelling is None:
            return None
        served = result.answered_by
        if served not in (labelling.weak_model, labelling.strong_model):
            return Ticket(OFF_PAIR)
        if not eligible(chat, result):
            return Ticket(UNSUPPORTED)
        if not (self.draw(labelling.sample_rate) if drawn is None else drawn):
            return Ticket(NOT_DRAWN)
        assert self.sender is not None
        # Characters are a lower bound of UTF-8 bytes: a prompt this long cannot fit, and costs nothing to tell.
        chars = (
            len(answer_text)
            + len(chat.system or "")
            + sum(len(value) for m in chat.messages for kind, value in m.parts if kind == "text")
        )
        if chars > self.sender.max_bytes:
            self.sender.outcome(TOO_LARGE)
            return Ticket(TOO_LARGE)
        sampled_at = self._clock()
        route_system = engine.config.routes[result.decision.route].system_prompt

        def build() -> str:
            return json.dumps(
                sample_message(
                    engine,
                    chat,
                    result,
                    labelling,
                    request_id=request_id,
                    answer_text=answer_text,
                    sampled_at=sampled_at,
                    route_system=route_system,
                ),
                ensure_ascii=False,
                separators=(",", ":"),
            )

        job = SampleJob(request_id, build)
        if not self.sender.submit(job):
            return Ticket(QUEUE_FULL)
        return Ticket(QUEUED, job)

    def flush(self, timeout_s: float = SHUTDOWN_FLUSH_S) -> bool:
        if self.sender is None:
            return True
        return self.sender.flush(timeout_s)


def eligible(chat, result) -> bool:
    """Text in, text out: a judge compares two texts. Images, documents, tool calls and structured output are not
    sampled (the labeller could not replay them faithfully, or a judge compare them)."""
    if chat.uses_tools:
        return False
    if not all(isinstance(block, Text) for turn in chat.turns for block in turn.content):
        return False
    reply = result.reply
    return reply is None or reply.text_only


def _model_entry(spec) -> dict:
    return {
        "model_id": spec.model_id,
        "region": spec.region,
        "input_per_million": spec.price.input_per_million,
        "output_per_million": spec.price.output_per_million,
        "max_output_tokens": spec.max_output_tokens,
        "sampling": spec.sampling,  # the labeller calls the other model with what it takes of the caller's settings
    }


def sample_message(
    engine,
    chat,
    result,
    labelling,
    *,
    request_id: str,
    answer_text: str,
    sampled_at: datetime,
    route_system: str | None = None,
) -> dict:
    """The label queue's message (schema v1; docs/decisions.md, "The label loop", lists its fields). `system` is the caller's own system text
    (what the scorer saw); `route_system` the route's system prompt, which the models were also given. `inference`:
    the sampling settings the served model was called with (the caller's stop sequences and top_p, the caller's
    temperature or else the route's), so the other model is asked the same way; each `models` entry carries the
    model's `max_output_tokens`, which caps the token bound it is asked with."""
    models = engine.config.models
    route = engine.config.routes.get(result.decision.route)
    temperature = chat.temperature_on(route)
    keys = dict.fromkeys((labelling.weak_model, labelling.strong_model, labelling.judge_model))
    decision = result.decision
    return {
        "v": SCHEMA_VERSION,
        "request_id": request_id,
        "sampled_at": sampled_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "route": decision.route,
        "config_version": result.config_version,
        "scorer": getattr(decision, "scorer", None),
        "scorer_version": getattr(decision, "scorer_version", None),
        "served_model": result.answered_by,
        "weak_model": labelling.weak_model,
        "strong_model": labelling.strong_model,
        "judge_model": labelling.judge_model,
        "daily_budget_usd": labelling.daily_budget_usd,
        "models": {key: _model_entry(models[key]) for key in keys},
        "system": chat.system,
        "route_system": route_system,
        "max_tokens": decision.out_tokens or None,
        "inference": {"stop": list(chat.stop) or None, "temperature": temperature, "top_p": chat.top_p},
        "messages": [
            {"role": m.role, "text": "\n\n".join(str(v) for kind, v in m.parts if kind == "text")}
            for m in chat.messages
        ],
        "answer": answer_text,
        "served_cost_usd": result.cost_usd,
    }


__all__ = [
    "MAX_SAMPLE_BYTES",
    "SampleJob",
    "SampleSender",
    "Sampler",
    "Ticket",
    "eligible",
    "sample_message",
]
