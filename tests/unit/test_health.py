"""The per-instance circuit breaker and latency estimate."""

from routing_engine.health import BreakerSettings, HealthTracker


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def tracker(threshold=3, window=30.0, cooldown=10.0):
    clock = FakeClock()
    return HealthTracker(BreakerSettings(threshold, window, cooldown), clock=clock), clock


def test_breaker_opens_after_threshold_failures_within_window():
    health, _ = tracker()
    assert not health.record_failure("m")
    assert not health.record_failure("m")
    assert health.record_failure("m")  # the third failure opens it
    assert not health.allow("m")
    assert "circuit open" in health.unavailable()["m"]


def test_failures_outside_the_window_do_not_count():
    health, clock = tracker(window=5.0)
    health.record_failure("m")
    health.record_failure("m")
    clock.now += 6
    assert not health.record_failure("m")
    assert health.allow("m")


def test_after_cooldown_exactly_one_probe_is_allowed():
    health, clock = tracker()
    for _ in range(3):
        health.record_failure("m")
    clock.now += 10
    assert "m" not in health.unavailable()  # half-open: available for its probe
    assert health.allow("m")  # this caller is the probe
    assert not health.allow("m")  # nobody else while the probe is in flight
    assert health.unavailable()["m"] == "circuit open: probe in flight"


def test_successful_probe_closes_the_breaker():
    health, clock = tracker()
    for _ in range(3):
        health.record_failure("m")
    clock.now += 10
    assert health.allow("m")
    health.record_success("m", 120.0)
    assert health.allow("m") and health.allow("m")
    assert health.snapshot()["m"]["circuit"] == "closed"


def test_failed_probe_reopens_for_a_full_cooldown():
    health, clock = tracker()
    for _ in range(3):
        health.record_failure("m")
    clock.now += 10
    assert health.allow("m")
    assert health.record_failure("m")
    clock.now += 9
    assert not health.allow("m")
    clock.now += 1
    assert health.allow("m")


def test_latency_estimate_moves_towards_recent_samples():
    health, _ = tracker()
    health.record_success("m", 1000.0)
    for _ in range(20):
        health.record_success("m", 100.0)
    assert 100.0 <= health.latency_ms()["m"] < 150.0


def test_one_model_breaker_does_not_affect_another():
    health, _ = tracker()
    for _ in range(3):
        health.record_failure("a")
    assert not health.allow("a")
    assert health.allow("b")
