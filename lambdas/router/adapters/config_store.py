"""Configuration that can change under a running router, with a last-good guarantee.

`LastGoodStore` turns raw documents from any source (AppConfig, a local file) into
a built value (an `Engine`, the failover flags). A new document is validated
before it is used; a bad one is rejected, reported, and the last good value keeps
serving. When nothing good was ever fetched, it serves the bundled fallback.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from routing_engine.config import ConfigError, content_version

T = TypeVar("T")


class ConfigUnavailable(Exception):
    """No valid configuration has ever been obtained and there is no fallback."""


class FetchDeferred(Exception):
    """The source failed a moment ago and is not asked again yet (see appconfig_fetcher): already reported."""


@dataclass(frozen=True, slots=True)
class Snapshot(Generic[T]):
    value: T
    version: str
    source: str  # "appconfig", "file", "bundled"


@dataclass(frozen=True, slots=True)
class ConfigEvent:
    store: str
    kind: str  # "rejected", "fetch_failed", "updated"
    message: str
    version: str | None = None


class LastGoodStore(Generic[T]):
    def __init__(
        self,
        name: str,
        fetch: Callable[[], bytes],
        build: Callable[[bytes, str], T],
        *,
        source: str,
        fallback: bytes | None = None,
        on_event: Callable[[ConfigEvent], None] = lambda _event: None,
    ):
        self.name = name
        self._fetch = fetch
        self._build = build
        self._source = source
        self._fallback = fallback
        self._on_event = on_event
        self._current: Snapshot[T] | None = None
        self._last_raw: bytes | None = None
        self._rejected_raw: bytes | None = None

    @property
    def current(self) -> Snapshot[T] | None:
        """What `get` last returned, without fetching (None before the first `get`)."""
        return self._current

    def get(self) -> Snapshot[T]:
        try:
            raw = self._fetch()
        except FetchDeferred:  # the failure was reported when it happened; keep serving what we have
            return self._current or self._use_fallback()
        except Exception as exc:  # noqa: BLE001 - any fetch failure: keep serving what we have
            self._on_event(ConfigEvent(self.name, "fetch_failed", f"{type(exc).__name__}: {exc}"))
            return self._current or self._use_fallback()
        if raw is self._last_raw or raw == self._last_raw:
            self._last_raw = raw
            return self._current  # type: ignore[return-value]
        if raw == self._rejected_raw:  # already reported; do not re-validate or re-log every request
            return self._current or self._use_fallback()
        version = content_version(raw)
        try:
            value = self._build(raw, version)
        except Exception as exc:  # noqa: BLE001 - ConfigError names the field; anything else is unservable too
            self._rejected_raw = raw
            detail = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            self._on_event(ConfigEvent(self.name, "rejected", detail, version))
            return self._current or self._use_fallback()
        self._current = Snapshot(value, version, self._source)
        self._last_raw = raw
        self._on_event(ConfigEvent(self.name, "updated", f"now serving {self.name} {version}", version))
        return self._current

    def _use_fallback(self) -> Snapshot[T]:
        if self._fallback is None:
            raise ConfigUnavailable(f"no valid {self.name} configuration is available")
        version = content_version(self._fallback)
        value = self._build(self._fallback, version)  # validated at synth time; a failure here is a bug
        self._current = Snapshot(value, version, "bundled")
        self._last_raw = None
        return self._current


def appconfig_fetcher(
    *,
    application: str,
    environment: str,
    profile: str,
    max_age_s: int,
    client_factory: Callable[[], object],
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[], bytes]:
    """Fetch through Powertools' AppConfigProvider, which caches for `max_age_s` and polls with session tokens.

    After a failed poll the provider is rebuilt, so an expired or broken session token starts a new session
    instead of failing forever. A failure is not retried on every request: the next try waits 1 s, then 2, 4, ...
    up to `max_age_s` (the staleness the profile accepts anyway), and until then the fetch raises FetchDeferred at
    once. Without that, an AppConfig outage (or a role that may not read a profile) would cost every request a
    new session and up to the client's timeouts, per profile.
    """
    from aws_lambda_powertools.utilities.parameters import AppConfigProvider

    holder: dict[str, AppConfigProvider] = {}
    backoff = {"failures": 0, "retry_at": float("-inf")}

    def fetch() -> bytes:
        if clock() < backoff["retry_at"]:
            raise FetchDeferred(f"{profile}: failed {int(backoff['failures'])} time(s); not asked again yet")
        provider = holder.get("p")
        if provider is None:
            provider = holder["p"] = AppConfigProvider(
                environment=environment, application=application, boto3_client=client_factory()
            )
        try:
            value = provider.get(profile, max_age=max_age_s)
        except Exception:
            holder.pop("p", None)
            backoff["failures"] += 1
            backoff["retry_at"] = clock() + min(float(max_age_s), 2.0 ** (backoff["failures"] - 1))
            raise
        backoff["failures"] = 0
        backoff["retry_at"] = float("-inf")
        return value if isinstance(value, bytes) else str(value).encode()

    return fetch


def file_fetcher(path: str, *, min_interval_s: float = 0.5, clock: Callable[[], float] = time.monotonic):
    """Read a local file again only when its modification time or size changed (checked at most every 0.5 s)."""
    state: dict = {"key": None, "raw": None, "checked": float("-inf")}

    def fetch() -> bytes:
        now = clock()
        if state["raw"] is not None and now - state["checked"] < min_interval_s:
            return state["raw"]
        state["checked"] = now
        st = os.stat(path)
        key = (st.st_mtime_ns, st.st_size)
        if key != state["key"] or state["raw"] is None:
            with open(path, "rb") as fh:
                state["raw"] = fh.read()
            state["key"] = key
        return state["raw"]

    return fetch
