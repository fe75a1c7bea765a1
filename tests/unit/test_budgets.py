"""Budgets: configuration, periods and keys, the per-instance cache, fail-open, and the decision under pressure."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from router.adapters.spend_store import ZERO, Spend, SpendKey, SpendStoreError
from router.budgets import BudgetGuard, periods_at, spend_key
from routing_engine.config import ConfigError, parse_routing_config
from routing_engine.engine import BUDGET_RULE, BUDGET_SOFT_RULE, BudgetPressure, NoCapableModel
from tests.unit.engine_fixtures import config_dict, engine_for, features


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class FakeSpendStore:
    """The spend table in memory: counts reads and writes; `failing` makes every call raise."""

    def __init__(self):
        self.items: dict[str, Spend] = {}
        self.expires: dict[str, int] = {}
        self.reads: list[list[str]] = []
        self.adds = 0
        self.failing = False
        self.lock = threading.Lock()

    def add(self, keys, cost_usd):
        if self.failing:
            raise SpendStoreError("the table is unreachable (fake)")
        with self.lock:
            self.adds += 1
            for key in keys:
                old = self.items.get(key.pk, ZERO)
                self.items[key.pk] = Spend(old.usd + cost_usd, old.requests + 1)
                self.expires.setdefault(key.pk, key.expires_at)

    def read(self, pks):
        if self.failing:
            raise SpendStoreError("the table is unreachable (fake)")
        self.reads.append(list(pks))
        return {pk: self.items.get(pk, ZERO) for pk in pks}

    def spend(self, pk: str) -> float:
        return self.items.get(pk, ZERO).usd


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def budget_config(tier_budget: dict | None = None, caller_budgets: dict | None = None):
    data = config_dict()
    if tier_budget is not None:
        data["tiers"]["free"]["budget"] = tier_budget
    if caller_budgets is not None:
        data["caller_budgets"] = caller_budgets
    return parse_routing_config(json.dumps(data))


# --- configuration ------------------------------------------------------------------------------


def test_a_budget_needs_a_daily_or_a_monthly_limit():
    with pytest.raises(ConfigError, match="tiers.free.budget: a budget needs daily_usd, monthly_usd or both"):
        budget_config({"soft_threshold": 0.5})


def test_the_fallback_model_must_exist():
    with pytest.raises(ConfigError, match="tiers.free.budget.fallback_model: unknown model 'tiny'"):
        budget_config({"daily_usd": 1, "over_budget": "fallback", "fallback_model": "tiny"})


def test_the_fallback_model_must_be_allowed_for_the_callers_tier():
    # key-free is in tier free, which may not use "large"
    with pytest.raises(
        ConfigError, match="caller_budgets.key-free.fallback_model: 'large' is not in the allowed_models"
    ):
        budget_config(
            caller_budgets={"key-free": {"daily_usd": 1, "over_budget": "fallback", "fallback_model": "large"}}
        )


def test_fallback_needs_a_model_and_reject_takes_none():
    with pytest.raises(ConfigError, match="over_budget fallback needs a fallback_model"):
        budget_config({"daily_usd": 1, "over_budget": "fallback"})
    with pytest.raises(ConfigError, match="fallback_model is only used with over_budget: fallback"):
        budget_config({"daily_usd": 1, "fallback_model": "small"})


def test_infinite_zero_and_out_of_range_values_are_rejected():
    raw = json.dumps(config_dict()).replace(
        '"max_cost_per_request_usd": 0.05', '"max_cost_per_request_usd": 0.05, "budget": {"daily_usd": Infinity}'
    )
    with pytest.raises(ConfigError, match="tiers.free.budget.daily_usd: inf is not a finite number"):
        parse_routing_config(raw)
    with pytest.raises(ConfigError, match="daily_usd"):
        budget_config({"daily_usd": 0})
    with pytest.raises(ConfigError, match="soft_threshold"):
        budget_config({"daily_usd": 1, "soft_threshold": 1.5})


def test_the_bundled_configuration_budgets_the_free_tier():
    from pathlib import Path

    config = parse_routing_config((Path(__file__).parents[2] / "config/routing.json").read_bytes())
    budget = config.tiers["free"].budget
    assert budget is not None and budget.over_budget == "fallback" and budget.fallback_model == "nova-lite"


# --- periods and keys ---------------------------------------------------------------------------


def test_periods_are_the_utc_day_and_month_and_reset_at_the_next_midnight_and_first():
    day, month = periods_at(at("2026-12-31T23:59:59"))
    assert (day.label, day.suffix, month.label, month.suffix) == ("2026-12-31", "d2026-12-31", "2026-12", "m2026-12")
    assert day.resets_at == month.resets_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert day.seconds_left(at("2026-12-31T23:59:59")) == 1

    day, month = periods_at(at("2027-01-01T00:00:00"))  # one second later: new day, new month
    assert (day.label, month.label) == ("2027-01-01", "2027-01")


def test_month_end_in_a_leap_february_and_a_31_day_month():
    assert periods_at(at("2028-02-29T12:00:00"))[1].resets_at == datetime(2028, 3, 1, tzinfo=UTC)
    assert periods_at(at("2027-01-31T00:00:00"))[1].resets_at == datetime(2027, 2, 1, tzinfo=UTC)


def test_keys_name_the_scope_the_name_and_the_period_and_expire_a_week_after_it():
    guard = BudgetGuard(FakeSpendStore())
    now = at("2026-12-01T10:00:00")
    keys = guard.keys("key-a", "free", now)
    assert [k.pk for k in keys] == [
        "caller#key-a#d2026-12-01",
        "tier#free#d2026-12-01",
        "caller#key-a#m2026-12",
        "tier#free#m2026-12",
    ]
    assert keys[0].expires_at == at("2026-12-09T00:00:00")
    assert keys[2].expires_at == at("2027-01-08T00:00:00")
    assert [k.pk for k in guard.keys(None, "standard", now)] == ["tier#standard#d2026-12-01", "tier#standard#m2026-12"]


# --- the cache ----------------------------------------------------------------------------------


def test_spend_is_read_at_most_once_per_cache_age_and_own_costs_count_at_once():
    # Given a tier budget of $1 a day and $0.50 already spent by other instances
    store, clock = FakeSpendStore(), Clock(at("2026-12-01T10:00:00"))
    config = budget_config({"daily_usd": 1})
    store.items["tier#free#d2026-12-01"] = Spend(0.5, 10)
    guard = BudgetGuard(store, cache_s=5, clock=clock)

    # When this instance checks, records $0.30, and checks again within 5 s
    assert guard.check(config, "key-free", "free").statuses[0].spent_usd == 0.5
    guard.record("key-free", "free", 0.3)
    clock.now += 4
    second = guard.check(config, "key-free", "free")

    # Then there was one read, and its own spend is in the second check
    assert len(store.reads) == 1
    assert second.statuses[0].spent_usd == pytest.approx(0.8)
    assert second.statuses[0].state == "soft"

    # And when another instance spends $0.25, this one sees it once the cache is 5 s old, without counting twice
    store.add([SpendKey("tier#free#d2026-12-01", 0)], 0.25)
    clock.now += 1
    third = guard.check(config, "key-free", "free")
    assert len(store.reads) == 2
    assert third.statuses[0].spent_usd == pytest.approx(1.05)
    assert third.rejection() is not None


def test_no_budget_no_read():
    store = FakeSpendStore()
    guard = BudgetGuard(store, clock=Clock(at("2026-12-01T10:00:00")))
    check = guard.check(budget_config(), "key-free", "free")
    assert check.statuses == [] and store.reads == []


def test_a_new_period_starts_from_zero():
    store, clock = FakeSpendStore(), Clock(at("2026-12-01T23:59:58"))
    guard = BudgetGuard(store, cache_s=5, clock=clock)
    config = budget_config({"daily_usd": 1})
    guard.record(None, "free", 2.0)
    assert guard.check(config, None, "free").rejection() is not None
    clock.now += 3  # past midnight: a new day's counter, within the cache age of the old one
    assert guard.check(config, None, "free").statuses[0].spent_usd == 0


# --- fail open ----------------------------------------------------------------------------------


def test_a_failed_read_serves_counts_the_error_and_waits_a_cache_age_before_retrying():
    store, clock = FakeSpendStore(), Clock(at("2026-12-01T10:00:00"))
    store.failing = True
    guard = BudgetGuard(store, cache_s=5, clock=clock)
    config = budget_config({"daily_usd": 1})

    check = guard.check(config, "key-free", "free")
    assert check.store_errors == 1 and check.rejection() is None  # served
    store.failing = False
    clock.now += 1
    assert guard.check(config, "key-free", "free").store_errors == 0 and store.reads == []  # no hammering


def test_a_failed_write_is_counted_and_still_counts_against_this_instance():
    store, clock = FakeSpendStore(), Clock(at("2026-12-01T10:00:00"))
    guard = BudgetGuard(store, cache_s=5, clock=clock)
    config = budget_config({"daily_usd": 1})
    guard.check(config, None, "free")
    store.failing = True
    assert guard.record(None, "free", 1.5) == 1
    store.failing = False
    clock.now += 10  # even after a fresh read (which cannot know it), the unrecorded spend stays counted here
    assert guard.check(config, None, "free").statuses[0].spent_usd == 1.5


def test_without_a_store_nothing_is_enforced_and_one_warning_says_so():
    warnings: list[str] = []
    guard = BudgetGuard(None, on_warning=warnings.append)
    config = budget_config({"daily_usd": 1})
    for _ in range(3):
        assert guard.check(config, None, "free").statuses == []
    assert len(warnings) == 1 and "not enforced" in warnings[0]
    assert guard.describe(config) == "not enforced: no spend table"
    assert guard.record(None, "free", 1.0) == 0


# --- what a spent budget does ---------------------------------------------------------------------


def test_the_tighter_budget_wins_and_reject_beats_fallback():
    store, clock = FakeSpendStore(), Clock(at("2026-12-01T10:00:00"))
    config = budget_config(
        {"daily_usd": 10, "over_budget": "fallback", "fallback_model": "small"}, {"key-free": {"monthly_usd": 1}}
    )
    guard = BudgetGuard(store, clock=clock)
    store.items["caller#key-free#m2026-12"] = Spend(1.0, 3)  # the caller's own (tighter) monthly budget is spent
    check = guard.check(config, "key-free", "free")
    failure = check.rejection()
    assert failure is not None and failure.code == "budget_exceeded"
    assert failure.retry_after_s == at("2027-01-01T00:00:00") - clock.now
    assert "caller key-free has spent $1.00 of its monthly budget of $1.00" in failure.message
    assert "resets at 2027-01-01T00:00:00Z (in 30d 14h 0m)" in failure.message
    assert failure.details["resets_at"] == "2027-01-01T00:00:00Z"


def test_a_spent_fallback_budget_names_the_model_and_a_soft_one_asks_for_cheaper():
    store, clock = FakeSpendStore(), Clock(at("2026-12-01T10:00:00"))
    config = budget_config({"daily_usd": 10, "over_budget": "fallback", "fallback_model": "small"})
    guard = BudgetGuard(store, cache_s=0, clock=clock)
    store.items["tier#free#d2026-12-01"] = Spend(8.5, 3)
    pressure = guard.check(config, None, "free").pressure(config)
    assert pressure == BudgetPressure("over 80% of the daily budget of tier free")
    store.items["tier#free#d2026-12-01"] = Spend(10.0, 4)
    check = guard.check(config, None, "free")
    assert check.rejection() is None
    assert check.pressure(config) == BudgetPressure("over the daily budget of tier free ($10.00)", "small")


# --- the engine under pressure ------------------------------------------------------------------


def test_over_the_soft_threshold_a_dynamic_route_takes_the_cheapest_capable_model_and_says_why():
    engine = engine_for()
    hard = features(complexity=0.9)  # the "hard" rule would pick the strongest model
    assert engine.decide("auto", hard, tier="standard").model == "large"
    decision = engine.decide(
        "auto",
        hard,
        tier="standard",
        explain=True,
        budget=BudgetPressure("over 80% of the daily budget of tier standard"),
    )
    assert decision.model == "small" and decision.rule == BUDGET_SOFT_RULE
    assert decision.reason == "over 80% of the daily budget of tier standard: cheapest_capable -> small"
    assert decision.trace["choice"]["reason"] == decision.reason


def test_the_soft_threshold_leaves_static_routes_alone():
    decision = engine_for().decide("support", features(), tier="standard", budget=BudgetPressure("over 80% of x"))
    assert decision.model == "medium" and decision.rule is None


def test_a_spent_budget_with_fallback_serves_the_fallback_model_on_static_and_dynamic_routes():
    engine = engine_for()
    pressure = BudgetPressure("over the daily budget of tier standard ($1.00)", fallback_model="small")
    for route in ("support", "auto", "medium"):  # static, dynamic, a model named directly
        decision = engine.decide(route, features(complexity=0.9), tier="standard", budget=pressure)
        assert (decision.model, decision.rule) == ("small", BUDGET_RULE)
        assert decision.reason == "over the daily budget of tier standard ($1.00): over_budget fallback -> small"


def test_a_fallback_model_that_cannot_take_the_request_is_no_capable_model():
    pressure = BudgetPressure("over the daily budget", fallback_model="small")  # small takes no images
    with pytest.raises(NoCapableModel, match="does not accept images"):
        engine_for().decide("support", features(images=True), tier="standard", budget=pressure)


def test_over_budget_a_failing_fallback_model_hands_over_only_to_models_no_dearer():
    engine = engine_for()
    decision = engine.decide(
        "support", features(), tier="standard", budget=BudgetPressure("over", fallback_model="medium")
    )
    # medium's own chain would try the closest in quality (small, then large); large is dearer: not over budget
    assert engine.fallbacks(decision, features(), "standard", None) == ("small",)


def test_spend_key_shape_is_stable():
    day = periods_at(at("2026-12-01T00:00:00"))[0]
    assert (
        spend_key("caller", "arn:aws:iam::123456789012:user/a", day)
        == "caller#arn:aws:iam::123456789012:user/a#d2026-12-01"
    )
