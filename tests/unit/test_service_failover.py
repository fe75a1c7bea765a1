"""In-request fallback, deadlines and circuit breaking, through RouterService with a scripted Converse client."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from aws_adapters.bedrock import BedrockConverse
from router.adapters.config_store import LastGoodStore
from router.failures import RouterFailure
from router.http.errors import status_of
from router.http.route_api import parse as parse_route_body
from router.service import RouterService
from routing_engine.config import parse_failover_flags, parse_routing_config
from routing_engine.engine import Engine
from routing_engine.health import HealthTracker
from tests.unit.engine_fixtures import config_dict


class Clock:
    """Time that only moves when the fake model says so: deadlines are tested without sleeping."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class ScriptedBedrock:
    """A Converse client whose behaviour per model id is a function of the call."""

    def __init__(self, clock: Clock, behaviour: dict):
        self.clock = clock
        self.behaviour = behaviour  # model_id -> "ok" | error code | ("slow", seconds)
        self.calls: list[str] = []
        self.timeouts: list[float] = []

    def converse(self, **request):
        model_id = request["modelId"]
        self.calls.append(model_id)
        what = self.behaviour.get(model_id, "ok")
        if isinstance(what, tuple) and what[0] == "slow":
            self.clock.now += what[1]
            raise ReadTimeoutError(endpoint_url=model_id)
        self.clock.now += 0.2
        if what != "ok":
            raise ClientError({"Error": {"Code": what, "Message": f"{what} from {model_id}"}}, "Converse")
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": f"answer from {model_id}"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
            "metrics": {"latencyMs": 200},
        }


def make_service(behaviour: dict, data: dict | None = None, flags: dict | None = None):
    clock = Clock()
    client = ScriptedBedrock(clock, behaviour)
    raw = json.dumps(data or config_dict()).encode()
    routing = LastGoodStore("routing", lambda: raw, lambda r, v: Engine(parse_routing_config(r), v), source="test")
    flag_store = None
    if flags is not None:
        flag_raw = json.dumps({"models": flags}).encode()
        flag_store = LastGoodStore("flags", lambda: flag_raw, lambda r, v: parse_failover_flags(r), source="test")

    def factory(_region, timeout_s):
        client.timeouts.append(timeout_s)
        return client

    health = HealthTracker(clock=clock)
    service = RouterService(
        routing, BedrockConverse(factory, clock=clock), flags=flag_store, health=health, clock=clock
    )
    return service, client, clock


def ask(task="faq", text="hello"):
    return parse_route_body(json.dumps({"task": task, "prompt": text}), max_messages=10)


SMALL, MEDIUM, LARGE = "us.anthropic.small-v1:0", "us.anthropic.medium-v1:0", "us.anthropic.large-v1:0"


def test_retryable_error_falls_back_and_the_response_says_what_was_tried():
    service, client, _ = make_service({SMALL: "ThrottlingException"})
    result = service.complete(ask(), caller=None)
    assert result.answered_by == "medium"
    assert [(a.model, a.outcome, a.error_class) for a in result.attempts] == [
        ("small", "error", "ThrottlingException"),
        ("medium", "ok", None),
    ]
    assert result.fell_back


def test_primary_failing_every_call_costs_callers_nothing_over_1000_requests():
    # Given the primary failing every call and a healthy fallback
    service, client, clock = make_service({SMALL: "ModelNotReadyException"})
    errors = 0
    for _ in range(1000):
        clock.now += 0.05
        try:
            result = service.complete(ask(), caller=None)
            assert result.answered_by == "medium"
        except RouterFailure:
            errors += 1
    # Then no caller sees an error, and the breaker keeps most calls off the sick model
    assert errors == 0
    assert client.calls.count(SMALL) < 50


@pytest.mark.parametrize("code,status", [("ValidationException", 400)])
def test_non_retryable_errors_fail_fast_without_fallback(code, status):
    service, client, _ = make_service({SMALL: code})
    with pytest.raises(RouterFailure) as err:
        service.complete(ask(), caller=None)
    assert status_of(err.value) == status
    assert client.calls == [SMALL]


def test_access_denied_falls_back_to_the_next_model():
    # Given the account may not call the primary yet (a new account's first Claude call, say)
    service, client, _ = make_service({SMALL: "AccessDeniedException"})
    # When a request is served, then the next capable model answers it
    assert service.complete(ask(), caller=None).answered_by == "medium"
    assert client.calls == [SMALL, MEDIUM]


def test_every_model_failing_gives_503_naming_each_attempt():
    service, client, clock = make_service(
        {SMALL: "ServiceUnavailableException", MEDIUM: "InternalServerException", LARGE: "ThrottlingException"}
    )
    with pytest.raises(RouterFailure) as err:
        service.complete(ask(), caller=None)
    assert status_of(err.value) == 503 and err.value.code == "all_models_failed"
    assert "small: ServiceUnavailableException" in err.value.message
    assert [a["model"] for a in err.value.details["attempts"]] == ["small", "medium"]  # medium has no fallbacks


def test_attempts_are_bounded_by_max_attempts():
    data = config_dict()
    data["models"]["small"]["fallbacks"] = ["medium", "large"]
    data["resilience"] = {"max_attempts": 2}
    service, client, _ = make_service({SMALL: "ModelErrorException", MEDIUM: "ModelErrorException"}, data)
    with pytest.raises(RouterFailure) as err:
        service.complete(ask(), caller=None)
    assert client.calls == [SMALL, MEDIUM]
    assert err.value.details["attempts"][-1]["detail"] == "max attempts (2) reached"


def test_one_total_deadline_bounds_slow_models():
    # Given models that each hang until their timeout, and a 10 s deadline for the whole request
    data = config_dict()
    data["models"]["small"]["fallbacks"] = ["medium", "large"]
    data["resilience"] = {"max_attempts": 3, "total_deadline_ms": 10_000}
    service, client, clock = make_service({}, data)

    def hang(**request):  # hang for exactly the client's read timeout, as botocore would
        client.calls.append(request["modelId"])
        clock.now += client.timeouts[-1]
        raise ReadTimeoutError(endpoint_url=request["modelId"])

    client.converse = hang
    with pytest.raises(RouterFailure) as err:
        service.complete(ask(), caller=None)
    # Then the request ends by its deadline (plus the SDK's whole-second timeout rounding), with a 503
    assert clock.now <= 10 + 1
    assert status_of(err.value) == 503
    # and the first attempt never takes the whole budget, so a fallback still gets its chance
    assert len(client.calls) >= 2


def test_flagged_down_model_is_skipped_without_a_call():
    flags = {"small": {"state": "down", "source": "alarm", "reason": "error rate alarm"}}
    service, client, _ = make_service({}, flags=flags)
    result = service.complete(ask(), caller=None)
    assert SMALL not in client.calls
    assert result.answered_by == "medium"
    assert result.attempts[0].outcome == "skipped" and "error rate alarm" in result.attempts[0].detail


def test_manual_up_flag_does_not_skip_the_model():
    flags = {"small": {"state": "up", "source": "manual", "reason": "vendor says fixed"}}
    service, client, _ = make_service({}, flags=flags)
    assert service.complete(ask(), caller=None).answered_by == "small"


def test_circuit_breaker_stops_traffic_then_probes_after_cooldown():
    data = config_dict()
    data["resilience"] = {
        "breaker_failure_rate": 1.0,
        "breaker_min_calls": 5,
        "breaker_window_s": 30,
        "breaker_cooldown_s": 30,
    }
    service, client, clock = make_service({SMALL: "ThrottlingException"}, data)
    for _ in range(5):
        service.complete(ask(), caller=None)
    assert client.calls.count(SMALL) == 5  # the fifth failure opens the breaker
    for _ in range(60):  # 60 more requests (18 s of fake time) within the 30 s cool-down
        clock.now += 0.1
        assert service.complete(ask(), caller=None).answered_by == "medium"
    # From the moment it opened, no further request reached the sick model during the cool-down
    assert client.calls.count(SMALL) == 5
    clock.now += 30
    service.complete(ask(), caller=None)
    assert client.calls.count(SMALL) == 6  # exactly one probe after the cool-down


def test_dry_run_never_calls_a_model():
    service, client, _ = make_service({})
    request = parse_route_body(json.dumps({"task": "auto", "prompt": "hi", "dry_run": True}), max_messages=10)
    result = service.complete(request, caller=None)
    assert client.calls == []
    assert result.decision.trace["choice"]["model"] == "small"


def test_prompt_router_answer_is_attributed_to_the_invoked_model():
    data = config_dict(
        prompt_routers={
            "pr": {"arn": "arn:aws:bedrock:us-east-1:123456789012:prompt-router/abc", "models": ["small", "medium"]}
        }
    )
    data["routes"]["auto"]["dynamic"]["default"] = {"prompt_router": "pr"}
    service, client, _ = make_service({}, data)
    original = client.converse

    def routed(**request):
        response = original(**request)
        response["trace"] = {
            "promptRouter": {
                "invokedModelId": "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.medium-v1:0"
            }
        }
        return response

    client.converse = routed
    result = service.complete(ask("auto"), caller=None)
    assert result.decision.is_prompt_router
    assert result.answered_by == "medium"
    # cost is billed at medium's prices: 10 input, 5 output tokens
    assert result.cost_usd == pytest.approx(10 / 1000 * 0.003 + 5 / 1000 * 0.015)


def test_requested_max_tokens_is_capped_by_route_then_by_the_model():
    data = config_dict()
    data["models"]["medium"]["max_output_tokens"] = 300
    service, client, _ = make_service({}, data)
    seen = []
    original = client.converse
    client.converse = lambda **request: (seen.append(request["inferenceConfig"]["maxTokens"]), original(**request))[1]
    for task, asked in (("faq", 2000), ("support", 2000), ("support", 100)):
        request = parse_route_body(json.dumps({"task": task, "prompt": "hi", "max_tokens": asked}), max_messages=10)
        service.complete(request, caller=None)
    # faq caps at its route max_tokens (500); support has none, so the model's 300 caps; 100 passes through
    assert seen == [500, 300, 100]


def test_manual_up_flag_overrides_this_instances_circuit_breaker():
    # Given a breaker opened by failures, then an operator forcing the model up
    data = config_dict()
    data["resilience"] = {"breaker_failure_rate": 1.0, "breaker_min_calls": 2}
    service, client, clock = make_service({SMALL: "ThrottlingException"}, data)
    for _ in range(2):
        service.complete(ask(), caller=None)
    assert "small" in service.current_health().unavailable
    flag_raw = json.dumps({"models": {"small": {"state": "up", "source": "manual", "reason": "vendor fixed"}}}).encode()
    service.flags = LastGoodStore("flags", lambda: flag_raw, lambda r, v: parse_failover_flags(r), source="test")
    client.behaviour = {}
    # Then the next request goes to it again, breaker or not
    assert service.complete(ask(), caller=None).answered_by == "small"


def test_an_unexpected_error_during_a_probe_does_not_block_the_model_forever():
    data = config_dict()
    data["resilience"] = {"breaker_failure_rate": 1.0, "breaker_min_calls": 1, "breaker_cooldown_s": 10}
    service, client, clock = make_service({SMALL: "ThrottlingException"}, data)
    service.complete(ask(), caller=None)  # opens the breaker
    clock.now += 10
    original = client.converse

    def explode(**_request):
        raise RuntimeError("a bug, not a model failure")

    client.converse = explode
    with pytest.raises(RuntimeError):
        service.complete(ask(), caller=None)  # this call was the probe
    client.converse = original
    client.behaviour = {}
    assert "small" not in service.current_health().unavailable
    assert service.complete(ask(), caller=None).answered_by == "small"


def test_a_request_for_more_tokens_than_the_model_emits_is_capped_not_refused():
    service, client, _ = make_service({})
    request = parse_route_body(json.dumps({"task": "large", "prompt": "hi", "max_tokens": 200_000}), max_messages=10)
    result = service.complete(request, caller=None)
    assert result.answered_by == "large"
    assert result.decision.estimated_cost_usd < 0.1 + 4096 / 1000 * 0.075  # bounded by large's 4,096 output tokens


def test_fallback_to_the_same_model_in_another_region_uses_that_regions_client():
    # Given the same model id registered twice: in the router's region, and in us-west-2 as its fallback
    data = config_dict()
    data["models"]["small"]["fallbacks"] = ["small-west"]
    data["models"]["small-west"] = {**data["models"]["small"], "region": "us-west-2", "fallbacks": []}
    clock = Clock()
    regions = []

    class RegionalClient:
        def __init__(self, region):
            self.region = region

        def converse(self, **request):
            regions.append(self.region)
            if self.region != "us-west-2":
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "busy"}}, "Converse")
            return ScriptedBedrock(clock, {}).converse(**request)

    raw = json.dumps(data).encode()
    routing = LastGoodStore("routing", lambda: raw, lambda r, v: Engine(parse_routing_config(r), v), source="test")
    service = RouterService(
        routing,
        BedrockConverse(lambda region, timeout: RegionalClient(region), clock=clock),
        health=HealthTracker(clock=clock),
        clock=clock,
        default_region="us-east-1",
    )
    # When the home region throttles
    result = service.complete(ask(), caller=None)
    # Then the answer comes from the same model id through a us-west-2 client
    assert regions == ["us-east-1", "us-west-2"]
    assert result.answered_by == "small-west"
    assert result.answered_model_id == SMALL
