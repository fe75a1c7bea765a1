"""Budgets: how much a caller and its tier have spent this UTC day and month, and what that means for a request.

Pure logic over an injected spend store and clock. Spend lives in one DynamoDB table shared by every instance
(router.adapters.spend_store); this module keeps a short per-instance cache of it:

- a (caller or tier, period) counter is read from the store at most once per `cache_s` (5 s by default), in one
  BatchGetItem for all the counters a request needs, so most requests add no read at all;
- what this instance records is added to its cached values at once, so an instance never overshoots by its
  own spend; only what other instances spent since the last read is unseen. The worst case is written down in
  docs/decisions.md (instances x cache age x spend rate, plus the requests in flight).

The store never fails a request: a failed read serves with the last known value (or none), a failed write is
kept in this instance's count; both are counted in `store_errors`, which the request's log line reports.

Keys: `caller#<id>#d2026-12-01`, `caller#<id>#m2026-12`, `tier#<name>#d2026-12-01`, `tier#<name>#m2026-12`.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from router.adapters.spend_store import ZERO, Spend, SpendKey, SpendStore, SpendStoreError
from router.failures import FailureKind, RouterFailure
from routing_engine.config import Budget, RoutingConfig
from routing_engine.engine import BudgetPressure

DAY, MONTH = "day", "month"
TTL_GRACE_S = 7 * 86_400  # counters outlive their period by a week (for /v1/usage at a boundary, and audits)
DEFAULT_CACHE_S = 5.0
NOT_ENFORCED = "not enforced: no spend table"


# --- periods and keys ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    kind: str  # DAY or MONTH
    label: str  # "2026-12-01" or "2026-12"
    starts_at: datetime
    resets_at: datetime  # the next period's start (UTC)

    @property
    def suffix(self) -> str:
        return ("d" if self.kind == DAY else "m") + self.label

    @property
    def adjective(self) -> str:
        return "daily" if self.kind == DAY else "monthly"

    def seconds_left(self, now_s: float) -> float:
        return max(0.0, self.resets_at.timestamp() - now_s)

    @property
    def expires_at(self) -> int:
        return int(self.resets_at.timestamp()) + TTL_GRACE_S


def periods_at(now_s: float) -> tuple[Period, Period]:
    """The UTC day and the UTC month that contain `now_s` (epoch seconds)."""
    return _periods_of_day(int(now_s // 86_400))  # a UTC day is exactly 86,400 epoch seconds (no leap seconds)


@functools.lru_cache(maxsize=4)
def _periods_of_day(day_number: int) -> tuple[Period, Period]:
    day_start = datetime.fromtimestamp(day_number * 86_400, UTC)
    month_start = day_start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    return (
        Period(DAY, day_start.strftime("%Y-%m-%d"), day_start, day_start + timedelta(days=1)),
        Period(MONTH, month_start.strftime("%Y-%m"), month_start, next_month),
    )


def spend_key(scope: str, name: str, period: Period) -> str:
    return f"{scope}#{name}#{period.suffix}"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _limit(budget: Budget, period: Period) -> float | None:
    return budget.daily_usd if period.kind == DAY else budget.monthly_usd


# --- one request's view of its budgets ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    scope: str  # "caller" or "tier"
    name: str
    period: Period
    limit_usd: float
    spent_usd: float
    budget: Budget

    @property
    def exceeded(self) -> bool:
        return self.spent_usd >= self.limit_usd

    @property
    def soft(self) -> bool:
        return self.spent_usd >= self.budget.soft_threshold * self.limit_usd

    @property
    def state(self) -> str:
        return "exceeded" if self.exceeded else "soft" if self.soft else "ok"

    def who(self) -> str:
        return f"the {self.period.adjective} budget of {self.scope} {self.name}"

    def as_dict(self) -> dict:
        return {
            "scope": self.scope,
            "name": self.name,
            "period": self.period.kind,
            "label": self.period.label,
            "limit_usd": self.limit_usd,
            "spent_usd": round(self.spent_usd, 6),
            "soft_threshold": self.budget.soft_threshold,
            "over_budget": self.budget.over_budget,
            "state": self.state,
            "resets_at": iso(self.period.resets_at),
        }


@dataclass(slots=True)
class BudgetCheck:
    """The budgets that apply to one request and how much of each is spent (as this instance knows it)."""

    statuses: list[BudgetStatus] = field(default_factory=list)
    store_errors: int = 0
    now_s: float = 0.0

    def as_dict(self) -> list[dict]:
        return [s.as_dict() for s in self.statuses]

    def rejection(self, *, include_fallback: bool = False, why: str | None = None) -> RouterFailure | None:
        """A 429 if a spent budget says reject (the tighter policy wins over a fallback), or, with
        `include_fallback`, if any budget is spent (its fallback model cannot take the request: `why`). The wait is
        until the latest reset among them: only then is the request served normally again."""
        rejecting = [s for s in self.statuses if s.exceeded and (include_fallback or s.budget.over_budget == "reject")]
        if not rejecting:
            return None
        last = max(rejecting, key=lambda s: s.period.resets_at)
        wait = last.period.seconds_left(self.now_s)
        spent = "; ".join(
            f"{s.scope} {s.name} has spent {money(s.spent_usd)} of its {s.period.adjective} budget "
            f"of {money(s.limit_usd)}"
            for s in rejecting
        )
        extra = f" ({why})" if why else ""
        return RouterFailure(
            FailureKind.BUDGET_EXCEEDED,
            "budget_exceeded",
            f"budget exceeded: {spent}{extra}; it resets at {iso(last.period.resets_at)} (in {_duration(wait)})",
            details={"budgets": [s.as_dict() for s in rejecting], "resets_at": iso(last.period.resets_at)},
            retry_after_s=max(1.0, wait),
        )

    def pressure(self, config: RoutingConfig) -> BudgetPressure | None:
        """What the engine must do: serve a fallback model (hard budgets spent that all say fallback; the
        cheapest of their fallback models), prefer the cheapest capable model (a soft threshold reached), or
        nothing. Call after `rejection()` returned None."""
        spent = [s for s in self.statuses if s.exceeded]
        if spent:
            models = config.models
            model = min(
                (s.budget.fallback_model for s in spent if s.budget.fallback_model),
                key=lambda m: (models[m].price.input_per_million + models[m].price.output_per_million, m),
            )
            worst = max(spent, key=lambda s: s.spent_usd / s.limit_usd)
            return BudgetPressure(f"over {worst.who()} ({money(worst.limit_usd)})", fallback_model=model)
        soft = [s for s in self.statuses if s.soft]
        if soft:
            worst = max(soft, key=lambda s: s.spent_usd / s.limit_usd)
            return BudgetPressure(f"over {worst.budget.soft_threshold:.0%} of {worst.who()}")
        return None

    @property
    def action(self) -> str | None:
        """For the log line: "fallback" or "soft" when a budget shaped the decision (a rejection is an error)."""
        if any(s.exceeded for s in self.statuses):
            return "fallback"
        if any(s.soft for s in self.statuses):
            return "soft"
        return None


def money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4g}"


def _duration(seconds: float) -> str:
    seconds = math.ceil(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = math.ceil(rest / 60) if days == 0 and hours == 0 else rest // 60
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def applicable(config: RoutingConfig, caller: str | None, tier: str) -> list[tuple[str, str, Budget]]:
    """(scope, name, budget) for every budget this request counts against."""
    out = []
    if caller is not None and caller in config.caller_budgets:
        out.append(("caller", caller, config.caller_budgets[caller]))
    tier_budget = config.tiers[tier].budget if tier in config.tiers else None
    if tier_budget is not None:
        out.append(("tier", tier, tier_budget))
    return out


def has_budgets(config: RoutingConfig) -> bool:
    return bool(config.caller_budgets) or any(t.budget is not None for t in config.tiers.values())


# --- the per-instance cache over the shared store -----------------------------------------------


@dataclass(slots=True)
class _Counter:
    base: Spend = ZERO  # the store's value at the last read
    read_at: float | None = None  # when that read started; None: never read
    refreshing: bool = False
    recent: list[tuple[float, float]] = field(default_factory=list)  # (when, usd) recorded here since the read
    unrecorded: float = 0.0  # what this instance spent but could not write: never in the store's value

    def value(self) -> float:
        return self.base.usd + sum(usd for _, usd in self.recent) + self.unrecorded


class BudgetGuard:
    """Reads, caches and records spend for `RouterService`. Without a store it enforces nothing (and says so)."""

    def __init__(
        self,
        store: SpendStore | None,
        *,
        cache_s: float = DEFAULT_CACHE_S,
        clock: Callable[[], float] = time.time,
        on_warning: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.cache_s = cache_s
        self.clock = clock
        self._on_warning = on_warning
        self._warned = False
        self._counters: dict[str, _Counter] = {}
        self._day: str | None = None
        self._lock = threading.Lock()

    @property
    def enforced(self) -> bool:
        return self.store is not None

    def describe(self, config: RoutingConfig) -> str:
        """For /v1/health."""
        if not has_budgets(config):
            return "none configured"
        return "enforced" if self.enforced else NOT_ENFORCED

    # --- the check, before the model call --------------------------------------------------------

    def check(self, config: RoutingConfig, caller: str | None, tier: str) -> BudgetCheck:
        budgets = applicable(config, caller, tier)
        now = self.clock()
        result = BudgetCheck(now_s=now)
        if not budgets:
            return result
        if self.store is None:
            if not self._warned and self._on_warning is not None:
                self._warned = True
                self._on_warning(
                    "the routing configuration has budgets but no spend table is configured "
                    "(SPEND_TABLE_NAME): budgets are not enforced"
                )
            return result
        wanted: list[tuple[str, str, Budget, Period, float]] = []
        for scope, name, budget in budgets:
            for period in periods_at(now):
                limit = _limit(budget, period)
                if limit is not None:
                    wanted.append((scope, name, budget, period, limit))
        values, result.store_errors = self._values([spend_key(s, n, p) for s, n, _, p, _ in wanted], now)
        result.statuses = [
            BudgetStatus(scope, name, period, limit, values[spend_key(scope, name, period)], budget)
            for scope, name, budget, period, limit in wanted
        ]
        return result

    def _values(self, pks: list[str], now: float) -> tuple[dict[str, float], int]:
        with self._lock:
            self._forget_old_periods(now)
            stale = []
            for pk in pks:
                counter = self._counters.setdefault(pk, _Counter())
                if counter.read_at is None or (now - counter.read_at >= self.cache_s and not counter.refreshing):
                    # one thread refreshes a known counter while the others use its last value; a counter never
                    # read yet is read by every request that needs it (no request goes by a guess of 0)
                    if counter.read_at is not None:
                        counter.refreshing = True
                    stale.append(pk)
        errors = 0
        if stale:
            assert self.store is not None
            try:
                fresh: dict[str, Spend] | None = self.store.read(stale)
            except SpendStoreError:
                fresh, errors = None, 1
            with self._lock:
                for pk in stale:
                    counter = self._counters.setdefault(pk, _Counter())
                    counter.refreshing = False
                    if fresh is not None:
                        counter.base = fresh.get(pk, ZERO)
                        # what was written before this read began is in the store's value now
                        counter.recent = [(t, usd) for t, usd in counter.recent if t >= now]
                    counter.read_at = now  # after a failed read too: do not hammer a table that is in trouble
        with self._lock:
            return {pk: self._counters[pk].value() for pk in pks}, errors

    def _forget_old_periods(self, now: float) -> None:
        day = periods_at(now)[0].suffix
        if day != self._day:
            self._day = day
            month = "m" + day[1:8]
            self._counters = {pk: c for pk, c in self._counters.items() if pk.endswith((day, month))}

    # --- recording, after the answer ---------------------------------------------------------------

    def keys(self, caller: str | None, tier: str, now_s: float) -> list[SpendKey]:
        """The counters one request adds to: its caller's (when it has an identity) and its tier's, for the
        day and the month, whether or not a budget names them yet (a budget added mid-month knows the month)."""
        out = []
        for period in periods_at(now_s):
            if caller is not None:
                out.append(SpendKey(spend_key("caller", caller, period), period.expires_at))
            out.append(SpendKey(spend_key("tier", tier, period), period.expires_at))
        return out

    def record(self, caller: str | None, tier: str, cost_usd: float) -> int:
        """Add one answered request's cost; the number of store errors (0 or 1). Never raises for the store."""
        if self.store is None:
            return 0
        now = self.clock()
        keys = self.keys(caller, tier, now)
        errors = 0
        try:
            self.store.add(keys, cost_usd)
        except SpendStoreError:
            errors = 1
        done = self.clock()
        with self._lock:
            for key in keys:
                counter = self._counters.setdefault(key.pk, _Counter())
                if errors:
                    counter.unrecorded += cost_usd
                else:
                    counter.recent.append((done, cost_usd))
        return errors

    # --- GET /v1/usage ---------------------------------------------------------------------------

    def usage(self, config: RoutingConfig, caller: str | None, tier: str) -> dict:
        """The caller's own spend and budget and its tier's, this day and month, read from the store (no cache).
        Raises SpendStoreError when the store cannot be read."""
        now = self.clock()
        day, month = periods_at(now)
        scopes = [("caller", caller, config.caller_budgets.get(caller))] if caller is not None else []
        scopes.append(("tier", tier, config.tiers[tier].budget))
        spend: dict[str, Spend] = {}
        if self.store is not None:
            spend = self.store.read([spend_key(s, n, p) for s, n, _ in scopes for p in (day, month)])

        def section(scope: str, name: str, budget: Budget | None) -> dict:
            out: dict = {"name": name, "budget": budget.model_dump(exclude_none=True) if budget else None}
            for period in (day, month):
                used = spend.get(spend_key(scope, name, period)) if self.store is not None else None
                limit = _limit(budget, period) if budget is not None else None
                entry: dict = {
                    "period": period.label,
                    "resets_at": iso(period.resets_at),
                    "spent_usd": round(used.usd, 6) if used is not None else None,
                    "requests": used.requests if used is not None else None,
                    "limit_usd": limit,
                }
                if limit is not None and used is not None and budget is not None:
                    status = BudgetStatus(scope, name, period, limit, used.usd, budget)
                    entry.update(remaining_usd=round(max(0.0, limit - used.usd), 6), state=status.state)
                out[period.kind] = entry
            return out

        sections = {scope: section(scope, name, budget) for scope, name, budget in scopes}
        return {
            "object": "usage",
            "caller": caller,
            "tier": tier,
            "budgets": self.describe(config),
            "own": sections.get("caller"),
            "tier_total": sections["tier"],
        }
