"""The engine the router decides with, from two profiles: `routing` (edited by people) and `learned-scorers`
(written by the scorer trainer).

Each profile has its own last-good store (router.adapters.config_store.LastGoodStore): a routing document or a
learned document that does not validate is rejected and reported, and the last good one of THAT profile keeps
serving, so a bad learned document never costs the routing rules and a bad routing edit never costs the learned
scorers. The engine is rebuilt only when either last-good document changes: the routing configuration with the
learned entries that fit it applied (routing_engine.config.apply_learned). An entry that no longer fits (its route
or rule was edited away, the route opts out) is left out and logged once with the reason, never an error.

The snapshot's version is the routing document's, with `+<learned version>` when a learned scorer is applied, so
responses and logs name the pair that decided.
"""

from __future__ import annotations

from collections.abc import Callable

from router.adapters.config_store import ConfigEvent, LastGoodStore, Snapshot
from routing_engine.config import LearnedScorers, RoutingConfig, apply_learned
from routing_engine.engine import Engine


class EngineStore:
    """`get()` / `current` like a LastGoodStore[Engine], over a routing store and an optional learned store."""

    name = "routing"

    def __init__(
        self,
        routing: LastGoodStore[RoutingConfig],
        learned: LastGoodStore[LearnedScorers] | None,
        build: Callable[[RoutingConfig, str], Engine],
        *,
        on_event: Callable[[ConfigEvent], None] = lambda _event: None,
    ) -> None:
        self.routing = routing
        self.learned = learned
        self._build = build
        self._on_event = on_event
        self._key: tuple[object, object] | None = None
        self._current: Snapshot[Engine] | None = None

    @property
    def current(self) -> Snapshot[Engine] | None:
        """What `get` last returned, without fetching (None before the first `get`)."""
        return self._current

    def get(self) -> Snapshot[Engine]:
        routing = self.routing.get()  # ConfigUnavailable when there never was a good one and no fallback
        learned = self.learned.get() if self.learned is not None else None  # it falls back to "no learned scorers"
        key = (routing, learned)
        if self._current is not None and self._key is not None and all(a is b for a, b in zip(key, self._key)):
            return self._current
        effective = apply_learned(routing.value, learned.value if learned is not None else None)
        version = routing.version
        if effective.applied and learned is not None:
            version = f"{routing.version}+{learned.version}"
        try:
            engine = self._build(effective.config, version)
        except Exception as exc:  # noqa: BLE001 - a pair that cannot serve: keep the last good engine
            self._on_event(ConfigEvent("learned-scorers", "rejected", f"{type(exc).__name__}: {exc}", version))
            if self._current is not None:
                self._key = key
                return self._current
            engine, version = self._build(routing.value, routing.version), routing.version
        for route, reason in sorted(effective.ignored.items()):
            self._on_event(ConfigEvent("learned-scorers", "ignored", f"route {route}: {reason}", version))
        if effective.applied:
            applied = ", ".join(f"{route} {v}" for route, v in sorted(effective.applied.items()))
            self._on_event(ConfigEvent("learned-scorers", "applied", f"learned scorers: {applied}", version))
        self._key = key
        self._current = Snapshot(engine, version, routing.source)
        return self._current
