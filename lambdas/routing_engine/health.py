"""What one router instance has seen of each model: recent latency, errors, and a circuit breaker.

Pure code with an injected clock. A Lambda instance serves one request at a time,
so there is no locking; the local server serialises calls into the handler too.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

LATENCY_ALPHA = 0.2  # weight of the newest sample in the moving latency estimate
MAX_OUTCOMES = 10_000  # outcomes kept per model: bounds memory whatever the call rate (the window is in seconds)


@dataclass(slots=True)
class _ModelState:
    latency_ms: float | None = None
    outcomes: deque = field(default_factory=lambda: deque(maxlen=MAX_OUTCOMES))  # (monotonic time, failed)
    failures_in_window: int = 0
    open_until: float | None = None  # breaker open until this time; then one probe is allowed
    probing: bool = False
    calls: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerSettings:
    """Open when at least `failure_rate` of the calls within `window_s` failed, once there were `min_calls`.

    A rate, not a count: a model that fails half its calls still answers the other half, and skipping it
    only sends those to a fallback that may be no better. The rate is judged only from `min_calls` on, so a
    few unlucky calls cannot open it."""

    failure_rate: float = 0.9
    min_calls: int = 10
    window_s: float = 30.0
    cooldown_s: float = 30.0

    @classmethod
    def from_resilience(cls, resilience) -> BreakerSettings:
        """From the configuration's `resilience` section (routing_engine.config.Resilience)."""
        return cls(
            failure_rate=resilience.breaker_failure_rate,
            min_calls=resilience.breaker_min_calls,
            window_s=resilience.breaker_window_s,
            cooldown_s=resilience.breaker_cooldown_s,
        )


class HealthTracker:
    """Closed -> (failure rate over the window reaches the threshold, with enough calls) -> open for the
    cool-down -> half-open: one probe -> closed on success, open again for a full cool-down on failure."""

    def __init__(self, settings: BreakerSettings | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._models: dict[str, _ModelState] = {}

    def configure(self, settings: BreakerSettings) -> None:
        self.settings = settings

    def _state(self, model: str) -> _ModelState:
        state = self._models.get(model)
        if state is None:
            state = self._models[model] = _ModelState()
        return state

    def unavailable(self) -> dict[str, str]:
        """Models whose breaker is open now, with why (half-open ones are available for their single probe)."""
        now = self._clock()
        out = {}
        for model, state in self._models.items():
            if state.open_until is not None and (now < state.open_until or state.probing):
                out[model] = "circuit open: " + (
                    "probe in flight" if state.probing else f"cooling down for {state.open_until - now:.0f}s more"
                )
        return out

    def retry_after_s(self, model: str) -> float | None:
        """Seconds until `model` may be tried again, or None if it may be tried now. While a probe is in flight
        the answer is 0: the probe ends within one request, and a failed probe reopens for a full cool-down."""
        state = self._models.get(model)
        if state is None or state.open_until is None:
            return None
        left = state.open_until - self._clock()
        if left > 0:
            return left
        return 0.0 if state.probing else None

    def cooldowns(self) -> dict[str, float]:
        """retry_after_s for every model in unavailable(): the same keys, for a Retry-After that tells the truth."""
        out = {}
        for model in self._models:
            left = self.retry_after_s(model)
            if left is not None:
                out[model] = left
        return out

    def latency_ms(self) -> dict[str, float]:
        return {m: s.latency_ms for m, s in self._models.items() if s.latency_ms is not None}

    def allow(self, model: str) -> bool:
        """Whether to send a request to `model` now. After the cool-down the first caller becomes the probe."""
        state = self._models.get(model)
        if state is None or state.open_until is None:
            return True
        if state.probing or self._clock() < state.open_until:
            return False
        state.probing = True
        return True

    def release(self, model: str) -> None:
        """Free a probe slot taken by `allow` for a call that ended without a verdict on the model (a bug or an
        unexpected exception): the next caller may probe instead, rather than the model staying skipped forever."""
        state = self._models.get(model)
        if state is not None:
            state.probing = False

    def _observe(self, state: _ModelState, now: float, failed: bool) -> None:
        """Add one outcome to the sliding window and drop those older than it."""
        outcomes = state.outcomes
        if len(outcomes) == outcomes.maxlen and outcomes[0][1]:
            state.failures_in_window -= 1  # the append below pushes the oldest out
        outcomes.append((now, failed))
        state.failures_in_window += failed
        horizon = now - self.settings.window_s
        while outcomes and outcomes[0][0] <= horizon:
            state.failures_in_window -= outcomes.popleft()[1]

    @staticmethod
    def _close(state: _ModelState) -> None:
        state.outcomes.clear()
        state.failures_in_window = 0
        state.open_until = None
        state.probing = False

    def record_success(self, model: str, latency_ms: float) -> None:
        state = self._state(model)
        state.calls += 1
        state.latency_ms = (
            latency_ms
            if state.latency_ms is None
            else (LATENCY_ALPHA * latency_ms + (1 - LATENCY_ALPHA) * state.latency_ms)
        )
        if state.probing or state.open_until is not None:  # a successful probe: start afresh
            self._close(state)
            return
        self._observe(state, self._clock(), False)

    def record_failure(self, model: str, latency_ms: float | None = None) -> bool:
        """Count a retryable failure. Returns True when this failure opened the breaker."""
        state = self._state(model)
        state.calls += 1
        state.errors += 1
        now = self._clock()
        if latency_ms is not None:
            state.latency_ms = (
                latency_ms
                if state.latency_ms is None
                else (LATENCY_ALPHA * latency_ms + (1 - LATENCY_ALPHA) * state.latency_ms)
            )
        if state.probing:  # the probe failed: open again for a full cool-down
            state.probing = False
            state.open_until = now + self.settings.cooldown_s
            return True
        if state.open_until is not None:  # a call that started before the breaker opened: no new verdict
            return False
        self._observe(state, now, True)
        window = len(state.outcomes)
        if window >= self.settings.min_calls and state.failures_in_window / window >= self.settings.failure_rate:
            state.open_until = now + self.settings.cooldown_s
            state.outcomes.clear()
            state.failures_in_window = 0
            return True
        return False

    def snapshot(self) -> dict[str, dict]:
        now = self._clock()
        out = {}
        for m, s in self._models.items():
            entry = {
                "latency_ms": None if s.latency_ms is None else round(s.latency_ms, 1),
                "calls": s.calls,
                "errors": s.errors,
                "circuit": "closed" if s.open_until is None else ("open" if now < s.open_until else "half-open"),
            }
            left = self.retry_after_s(m)
            if left is not None:
                entry["retry_after_s"] = round(left, 1)
            out[m] = entry
        return out
