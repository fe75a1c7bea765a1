"""The breaker judges a failure rate: two models that each fail half their calls independently still answer
about three requests in four (0.5 x 0.5 = 25% fail). The count-based breaker it replaced opened on 5 failures
in 30 s, treated both as dead, and failed 54 of 100 such requests."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from routing_engine.health import BreakerSettings, HealthTracker


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def failed_share(seed: int, spacing_s: float, requests: int = 2_000, failure=0.5) -> tuple[float, int]:
    """Each request tries model a, then b, as the router's fallback loop does: a model whose breaker is open
    is skipped, each call fails independently with probability `failure`. (share of requests failed, opens)"""
    rng = random.Random(seed)
    clock = Clock()
    health = HealthTracker(BreakerSettings(), clock=clock)  # the defaults the configuration ships with
    failed = opens = 0
    for _ in range(requests):
        clock.now += spacing_s
        answered = False
        for model in ("a", "b"):
            if not health.allow(model):
                continue
            if rng.random() < failure:
                opens += health.record_failure(model, 50.0)
            else:
                health.record_success(model, 50.0)
                answered = True
                break
        failed += not answered
    return failed / requests, opens


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), spacing_s=st.sampled_from([0.05, 0.2, 0.5]))
def test_two_models_failing_half_their_calls_fail_about_a_quarter_of_requests(seed, spacing_s):
    share, _ = failed_share(seed, spacing_s)
    assert 0.19 <= share <= 0.31, share


def test_a_model_that_fails_every_call_is_skipped_after_the_minimum_calls():
    clock = Clock()
    health = HealthTracker(BreakerSettings(), clock=clock)
    opened = [health.record_failure("dead") for _ in range(BreakerSettings().min_calls)]
    assert opened == [False] * (BreakerSettings().min_calls - 1) + [True]
    assert not health.allow("dead")
