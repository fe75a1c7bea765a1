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


@dataclass(slots=True)
class _ModelState:
    latency_ms: float | None = None
    failures: deque = field(default_factory=deque)  # monotonic times of recent failures
    open_until: float | None = None  # breaker open until this time; then one probe is allowed
    probing: bool = False
    calls: int = 0
    errors: int = 0


@dataclass(slots=True)
class BreakerSettings:
    failure_threshold: int = 5
    window_s: float = 30.0
    cooldown_s: float = 30.0


class HealthTracker:
    """Closed -> (N failures within the window) -> open for the cool-down -> half-open: one probe ->
    closed on success, open again on failure."""

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
        """Models whose breaker is open now (half-open ones are available for their single probe)."""
        now = self._clock()
        out = {}
        for model, state in self._models.items():
            if state.open_until is not None and (now < state.open_until or state.probing):
                out[model] = "circuit open: " + (
                    "probe in flight" if state.probing else f"cooling down for {state.open_until - now:.0f}s more"
                )
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

    def record_success(self, model: str, latency_ms: float) -> None:
        state = self._state(model)
        state.calls += 1
        state.latency_ms = latency_ms if state.latency_ms is None else (
            LATENCY_ALPHA * latency_ms + (1 - LATENCY_ALPHA) * state.latency_ms
        )
        state.failures.clear()
        state.open_until = None
        state.probing = False

    def record_failure(self, model: str, latency_ms: float | None = None) -> bool:
        """Count a retryable failure. Returns True when this failure opened the breaker."""
        state = self._state(model)
        state.calls += 1
        state.errors += 1
        now = self._clock()
        if latency_ms is not None:
            state.latency_ms = latency_ms if state.latency_ms is None else (
                LATENCY_ALPHA * latency_ms + (1 - LATENCY_ALPHA) * state.latency_ms
            )
        if state.probing:  # the probe failed: open again for a full cool-down
            state.probing = False
            state.open_until = now + self.settings.cooldown_s
            state.failures.clear()
            return True
        failures = state.failures
        failures.append(now)
        horizon = now - self.settings.window_s
        while failures and failures[0] < horizon:
            failures.popleft()
        if state.open_until is None and len(failures) >= self.settings.failure_threshold:
            state.open_until = now + self.settings.cooldown_s
            failures.clear()
            return True
        return False

    def snapshot(self) -> dict[str, dict]:
        now = self._clock()
        return {
            m: {
                "latency_ms": None if s.latency_ms is None else round(s.latency_ms, 1),
                "calls": s.calls,
                "errors": s.errors,
                "circuit": "closed" if s.open_until is None else ("open" if now < s.open_until else "half-open"),
            }
            for m, s in self._models.items()
        }
