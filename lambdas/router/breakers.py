"""This instance's view of each model's health: the engine's `HealthTracker` (circuit breakers, latency) behind one
lock, because the app serves requests concurrently in worker threads. The service, the fail-over plan and a stream
each report to it through these methods; `health(flags)` is what the engine decides with, the fleet's failover
flags (set by the failover controller or an operator) laid over this instance's breakers."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from aws_adapters.bedrock import ModelCallError
from routing_engine.config import FailoverFlags
from routing_engine.engine import Health
from routing_engine.health import BreakerSettings, HealthTracker


class Breakers:
    def __init__(self, tracker: HealthTracker):
        self.tracker = tracker
        self._version: str | None = None  # the configuration version the breaker settings came from
        self._lock = threading.Lock()

    def configure(self, version: str, resilience) -> None:
        """Breaker settings follow the configuration (`resilience`): taken up once per configuration version."""
        if version == self._version:
            return
        with self._lock:
            self.tracker.configure(BreakerSettings.from_resilience(resilience))
            self._version = version

    def health(self, flags: FailoverFlags | None) -> Health:
        """Models to skip (with why) and recent latency. A model flagged down is skipped; one an operator forced up
        is never skipped by this instance's breaker."""
        with self._lock:
            unavailable = self.tracker.unavailable()
            cooldowns = self.tracker.cooldowns()
            latency = self.tracker.latency_ms()
        if flags is None:
            return Health(unavailable=unavailable, latency_ms=latency, retry_after_s=cooldowns)
        down = {
            key: f"failover flag down ({flag.source}: {flag.reason or 'no reason given'})"
            for key, flag in flags.models.items()
            if flag.state == "down"
        }
        forced_up = frozenset(key for key, flag in flags.models.items() if flag.state == "up")
        if forced_up:
            unavailable = {k: v for k, v in unavailable.items() if k not in forced_up}
            cooldowns = {k: v for k, v in cooldowns.items() if k not in forced_up}
        if down:
            unavailable = {**unavailable, **down}
        return Health(unavailable=unavailable, latency_ms=latency, forced_up=forced_up, retry_after_s=cooldowns)

    def observed(self) -> dict[str, dict]:
        """What this instance has seen of each model (calls, errors, latency, breaker state)."""
        with self._lock:
            return self.tracker.snapshot()

    def retry_after_s(self, models: Iterable[str]) -> float | None:
        """The shortest real wait until one of `models` may be tried again."""
        with self._lock:
            waits = [w for w in (self.tracker.retry_after_s(m) for m in models) if w is not None]
        return min(waits) if waits else None

    def allow(self, key: str) -> bool:
        """May `key` be called now? After a cool-down the first caller claims the one probe call."""
        with self._lock:
            return self.tracker.allow(key)

    def release(self, key: str) -> None:
        """A call ended without a verdict on the model (an unexpected exception): free its probe claim."""
        with self._lock:
            self.tracker.release(key)

    def succeeded(self, key: str, latency_ms: float) -> None:
        with self._lock:
            self.tracker.record_success(key, latency_ms)

    def failed(self, key: str, exc: ModelCallError) -> None:
        """A failed call counts against the model only when another model might have done better (retryable)."""
        with self._lock:
            if exc.retryable:
                self.tracker.record_failure(key, exc.latency_ms)
            else:
                self.tracker.release(key)  # the request was bad, which says nothing about the model
