"""The per-instance circuit breaker (a failure rate over a sliding window) and latency estimate."""

from routing_engine.config import Resilience
from routing_engine.health import BreakerSettings, HealthTracker


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def tracker(rate=0.5, min_calls=4, window=30.0, cooldown=10.0):
    clock = FakeClock()
    settings = BreakerSettings(failure_rate=rate, min_calls=min_calls, window_s=window, cooldown_s=cooldown)
    return HealthTracker(settings, clock=clock), clock


def open_breaker(health, model="m", calls=4):
    opened = [health.record_failure(model) for _ in range(calls)]
    assert opened[-1]


def test_breaker_opens_when_the_failure_rate_reaches_the_threshold_with_enough_calls():
    health, _ = tracker()
    health.record_success("m", 100.0)
    health.record_success("m", 100.0)
    assert not health.record_failure("m")  # 1 of 3: too few calls to judge
    assert health.record_failure("m")  # 2 of 4 = 50%: opens
    assert not health.allow("m")
    assert "circuit open" in health.unavailable()["m"]


def test_failures_below_the_rate_never_open_it_however_many():
    # Given a model failing every third call, when 300 calls go by, then it stays closed (a count would open)
    health, clock = tracker(rate=0.5)
    for i in range(300):
        clock.now += 0.1
        if i % 3 == 2:
            assert not health.record_failure("m")
        else:
            health.record_success("m", 100.0)
    assert health.allow("m") and "m" not in health.unavailable()


def test_too_few_calls_never_open_it():
    health, _ = tracker(min_calls=10)
    assert not any(health.record_failure("m") for _ in range(9))
    assert health.record_failure("m")  # the tenth failure of ten


def test_outcomes_outside_the_window_do_not_count():
    health, clock = tracker(window=5.0)
    for _ in range(3):
        health.record_failure("m")
    clock.now += 6
    assert not health.record_failure("m")  # the three earlier failures have left the window: 1 of 1
    assert health.allow("m")


def test_after_cooldown_exactly_one_probe_is_allowed():
    health, clock = tracker()
    open_breaker(health)
    clock.now += 10
    assert "m" not in health.unavailable()  # half-open: available for its probe
    assert health.allow("m")  # this caller is the probe
    assert not health.allow("m")  # nobody else while the probe is in flight
    assert health.unavailable()["m"] == "circuit open: probe in flight"


def test_successful_probe_closes_the_breaker_and_starts_a_fresh_window():
    health, clock = tracker()
    open_breaker(health)
    clock.now += 10
    assert health.allow("m")
    health.record_success("m", 120.0)
    assert health.allow("m") and health.allow("m")
    assert health.snapshot()["m"]["circuit"] == "closed"
    assert not health.record_failure("m")  # the failures before the probe are forgotten: 1 of 1, too few


def test_failed_probe_reopens_for_a_full_cooldown():
    health, clock = tracker()
    open_breaker(health)
    clock.now += 10
    assert health.allow("m")
    assert health.record_failure("m")
    clock.now += 9
    assert not health.allow("m")
    clock.now += 1
    assert health.allow("m")


def test_retry_after_is_the_time_left_in_the_cooldown():
    # Given a breaker that opened 4 s ago with a 10 s cool-down
    health, clock = tracker()
    assert health.retry_after_s("m") is None
    open_breaker(health)
    clock.now += 4
    # Then the model may be tried again in 6 s, and every unavailable model has a figure
    assert health.retry_after_s("m") == 6.0
    assert health.cooldowns() == {"m": 6.0}
    assert set(health.cooldowns()) == set(health.unavailable())
    assert health.snapshot()["m"]["retry_after_s"] == 6.0
    clock.now += 6
    assert health.retry_after_s("m") is None  # half-open: the next caller probes
    assert health.allow("m")
    assert health.retry_after_s("m") == 0.0  # a probe in flight ends within one request


def test_latency_estimate_moves_towards_recent_samples():
    health, _ = tracker()
    health.record_success("m", 1000.0)
    for _ in range(20):
        health.record_success("m", 100.0)
    assert 100.0 <= health.latency_ms()["m"] < 150.0


def test_one_model_breaker_does_not_affect_another():
    health, _ = tracker()
    open_breaker(health, "a")
    assert not health.allow("a")
    assert health.allow("b")


def test_settings_come_from_the_resilience_section():
    res = Resilience(breaker_failure_rate=0.7, breaker_min_calls=20, breaker_window_s=60, breaker_cooldown_s=15)
    assert BreakerSettings.from_resilience(res) == BreakerSettings(
        failure_rate=0.7, min_calls=20, window_s=60, cooldown_s=15
    )
    assert BreakerSettings.from_resilience(Resilience()) == BreakerSettings()
