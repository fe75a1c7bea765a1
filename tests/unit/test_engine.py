"""The routing decision, static and dynamic, as a caller of the engine sees it."""

import pytest

from routing_engine.engine import Health, NoCapableModel, RiskRejected, RoutingError, UnknownRoute, estimate_cost
from tests.unit.engine_fixtures import config_dict, engine_for, features

# --- static -------------------------------------------------------------------------------------


def test_static_route_maps_task_to_its_model():
    engine = engine_for()
    decision = engine.decide("faq", features())
    assert (decision.route, decision.model, decision.mode) == ("faq", "small", "static")
    assert decision.model_id == "us.anthropic.small-v1:0"
    assert "faq" in decision.reason and "small" in decision.reason


def test_static_cost_estimate_uses_route_max_tokens_and_prices():
    engine = engine_for()
    decision = engine.decide("faq", features(tokens=1000))
    # 1000 input tokens at $0.001/1K + 500 output tokens (the route's max_tokens) at $0.005/1K
    assert decision.estimated_cost_usd == pytest.approx(0.001 + 0.0025)


def test_a_request_that_names_no_task_goes_to_the_default_route():
    assert engine_for().decide(None, features()).route == "faq"


def test_no_task_and_no_default_route_is_an_invalid_request():
    with pytest.raises(RoutingError) as err:
        engine_for(config_dict(default_route=None)).decide(None, features())
    assert (err.value.kind, err.value.code) == ("invalid_request", "task_required")


def test_an_unknown_name_is_refused_listing_the_names_that_exist_even_with_a_default_route():
    # A typo must not be served silently by the default route's model
    engine = engine_for()
    with pytest.raises(UnknownRoute) as err:
        engine.decide("gpt-4o-mimi", features())
    assert (err.value.kind, err.value.code) == ("unknown_route", "model_not_found")
    assert err.value.details == {"available": ["auto", "faq", "large", "medium", "small", "support"]}
    assert "unknown name 'gpt-4o-mimi'" in err.value.message


def test_unknown_model_route_takes_unknown_names_and_says_so():
    engine = engine_for(config_dict(unknown_model_route="support"))
    decision = engine.decide("gpt-4o-mimi", features(), explain=True)
    assert (decision.route, decision.model) == ("support", "medium")
    assert decision.reason.startswith("unknown name 'gpt-4o-mimi' routed to 'support' by unknown_model_route")
    assert decision.trace["choice"]["reason"] == decision.reason
    assert engine.decide(None, features()).route == "faq"  # no name still means the default route
    assert engine.decide("faq", features()).reason == "static route faq -> small"


def test_routable_names_are_routes_aliases_and_models():
    # as a caller learns them: the names an unknown name's refusal lists (prompt routers are targets, not names)
    engine = engine_for(config_dict(aliases={"gpt-4o-mini": "faq"}, prompt_routers={"pr": {"models": ["small"]}}))
    with pytest.raises(UnknownRoute) as err:
        engine.decide("pr", features())
    assert err.value.details["available"] == ["auto", "faq", "gpt-4o-mini", "large", "medium", "small", "support"]


def test_each_routing_error_names_its_kind_not_a_protocol_status():
    assert [cls.kind for cls in (RoutingError, UnknownRoute, RiskRejected, NoCapableModel)] == [
        "invalid_request",
        "unknown_route",
        "risk_rejected",
        "no_capable_model",
    ]
    assert not hasattr(RoutingError("x"), "status")


def test_routing_errors_carry_the_one_failure_kind_enum_the_router_maps():
    from router.failures import FailureKind as RouterKind
    from routing_engine.failures import FailureKind

    assert RouterKind is FailureKind
    assert [cls.kind for cls in (RoutingError, UnknownRoute, RiskRejected, NoCapableModel)] == [
        FailureKind.INVALID_REQUEST,
        FailureKind.UNKNOWN_ROUTE,
        FailureKind.RISK_REJECTED,
        FailureKind.NO_CAPABLE_MODEL,
    ]


def test_model_key_can_be_called_directly():
    decision = engine_for().decide("large", features())
    assert (decision.mode, decision.model) == ("direct", "large")


def test_alias_resolves_to_its_route():
    data = config_dict(aliases={"gpt-4o-mini": "faq"})
    assert engine_for(data).decide("gpt-4o-mini", features()).route == "faq"


def test_static_route_refuses_a_model_the_tier_may_not_use():
    data = config_dict()
    data["routes"]["faq"]["model"] = "large"
    with pytest.raises(NoCapableModel) as err:
        engine_for(data).decide("faq", features(), tier="free")
    assert "not allowed for tier free" in err.value.message


def test_static_decision_ignores_complexity():
    engine = engine_for()
    assert not engine.needs_complexity("faq")
    assert engine.needs_complexity("auto")


# --- dynamic ------------------------------------------------------------------------------------


def test_dynamic_default_picks_cheapest_capable():
    decision = engine_for().decide("auto", features(complexity=0.2))
    assert decision.model == "small"
    assert decision.rule is None and "cheapest_capable" in decision.reason


def test_dynamic_rule_on_complexity_picks_strongest_within_budget():
    decision = engine_for().decide("auto", features(complexity=0.9))
    assert (decision.model, decision.rule) == ("large", "hard")


def test_tier_limits_which_models_dynamic_may_choose():
    decision = engine_for().decide("auto", features(complexity=0.9), tier="free")
    assert decision.model == "medium"  # large is not allowed for free


def test_caller_tier_comes_from_the_callers_map():
    engine = engine_for()
    assert engine.tier_of("key-free") == "free"
    assert engine.tier_of("someone-else") == "standard"
    assert engine.tier_of(None) == "standard"


def test_images_filter_out_text_only_models():
    decision = engine_for().decide("auto", features(images=True), explain=True)
    assert decision.model == "medium"
    assert decision.trace["filtered"]["small"] == "does not accept images"


def test_context_window_filters_small_models():
    decision = engine_for().decide("auto", features(tokens=50_000), explain=True)
    assert decision.model == "medium"
    assert "context window 10000" in decision.trace["filtered"]["small"]


def test_cost_ceiling_filters_expensive_models_and_request_can_lower_it():
    engine = engine_for()
    # With the caller's own ceiling of $0.02, large (>= $0.075 for 1K output tokens) is out.
    decision = engine.decide("auto", features(complexity=0.9, tokens=100), max_cost_usd=0.02, explain=True)
    assert decision.model == "medium"
    assert "over the ceiling" in decision.trace["filtered"]["large"]
    assert decision.estimated_cost_usd <= 0.02


def test_request_cannot_raise_the_tier_ceiling():
    engine = engine_for()
    assert engine.cost_ceiling("free", 5.0) == 0.05
    assert engine.cost_ceiling("free", 0.001) == 0.001


def test_unhealthy_model_is_skipped_with_its_reason_in_the_trace():
    health = Health(unavailable={"large": "failover flag down (alarm: errors)"})
    decision = engine_for().decide("auto", features(complexity=0.9), health=health, explain=True)
    assert decision.model == "medium"
    assert decision.trace["filtered"]["large"].startswith("failover flag down")


def test_no_capable_model_gives_a_clear_4xx_listing_reasons():
    engine = engine_for()
    with pytest.raises(NoCapableModel) as err:
        engine.decide("auto", features(documents=True), tier="free")
    assert err.value.kind == "no_capable_model"
    assert "does not accept documents" in err.value.message
    assert set(err.value.details["filtered"]) == {"small", "medium", "large"}


def test_rule_target_unavailable_falls_through_to_next_rule():
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["rules"].insert(
        0, {"id": "pin-large", "when": {"complexity": {"gte": 0.5}}, "target": {"model": "large"}}
    )
    decision = engine_for(data).decide("auto", features(complexity=0.9), tier="free", explain=True)
    assert decision.rule == "hard"
    assert decision.trace["rules"][0] == {
        "id": "pin-large",
        "matched": True,
        "result": "skipped",
        "why": "target large is not a capable candidate",
    }


def test_when_breakers_leave_nothing_the_error_says_when_each_model_may_be_tried_again():
    health = Health(
        unavailable={"small": "circuit open: cooling down for 12s more", "medium": "circuit open: probe in flight"},
        retry_after_s={"small": 12.0, "medium": 0.0, "large": 30.0},
    )
    with pytest.raises(NoCapableModel) as err:
        engine_for().decide("auto", features(complexity=0.2), tier="free", health=health)
    # large is filtered by the tier, not its breaker, so its wait is not the reason this request failed
    assert err.value.details["retry_after_s"] == {"small": 12.0, "medium": 0.0}


def test_prefer_within_slo_avoids_slow_models():
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["default"] = {"strategy": "cheapest_capable", "prefer_within_slo": True}
    # this instance's latency steers only a route that decides each turn (conversation affinity ignores it)
    data["routes"]["auto"]["conversation_affinity"] = False
    health = Health(latency_ms={"small": 9000.0, "medium": 1000.0})
    decision = engine_for(data).decide("auto", features(complexity=0.2), health=health)
    assert decision.model == "medium"
    assert "within latency SLO" in decision.reason


def test_dry_run_trace_explains_every_rule_and_the_choice():
    decision = engine_for().decide("auto", features(complexity=0.9), explain=True)
    trace = decision.trace
    assert trace["features"]["complexity"] == 0.9
    assert [r["id"] for r in trace["rules"]] == ["hard"]  # first match wins; later rules are not evaluated
    assert trace["choice"]["model"] == "large"
    assert trace["choice"]["estimated_cost_usd"] == pytest.approx(decision.estimated_cost_usd)
    assert trace["fallbacks"]  # what would be tried next


# --- shadow -------------------------------------------------------------------------------------


def test_shadow_serves_static_and_reports_dynamic_choice():
    data = config_dict()
    data["routes"]["support"]["mode"] = "shadow"
    data["routes"]["support"]["dynamic"] = data["routes"]["auto"]["dynamic"]
    decision = engine_for(data).decide("support", features(complexity=0.9))
    assert (decision.model, decision.mode) == ("medium", "shadow")
    assert decision.shadow["model"] == "large"
    assert decision.shadow["agrees"] is False
    assert decision.shadow["estimated_cost_usd"] > decision.estimated_cost_usd


def test_shadow_never_fails_the_request_when_dynamic_cannot_decide():
    data = config_dict()
    data["routes"]["support"]["mode"] = "shadow"
    data["routes"]["support"]["dynamic"] = {"candidates": ["small"], "default": {"model": "small"}}
    decision = engine_for(data).decide("support", features(images=True))
    assert decision.model == "medium"
    assert decision.shadow == {"model": None, "agrees": False, "error": "no_capable_model"}


# --- risk ---------------------------------------------------------------------------------------


def _risky_config():
    return config_dict(
        risk_patterns=[
            {"id": "ssn", "pattern": r"\b\d{3}-\d{2}-\d{4}\b", "action": "force_model", "model": "large"},
            {"id": "secret", "pattern": "top secret", "action": "reject"},
        ]
    )


def test_risk_pattern_forces_designated_model_even_on_static_routes():
    engine = engine_for(_risky_config())
    assert engine.risk.match(["my ssn is 123-45-6789"]) == (("ssn",), False)
    decision = engine.decide("faq", features(risk=("ssn",)))
    assert (decision.model, decision.rule) == ("large", "risk")


def test_risk_pattern_can_reject():
    engine = engine_for(_risky_config())
    hits, _ = engine.risk.match(["This is TOP SECRET"])
    with pytest.raises(RiskRejected) as err:
        engine.decide("auto", features(risk=hits))
    assert err.value.kind == "risk_rejected" and "secret" in err.value.message


# --- fallbacks and prompt routers ----------------------------------------------------------------


def test_fallbacks_use_configured_chain_then_filter_incapable():
    engine = engine_for()
    decision = engine.decide("faq", features())
    assert engine.fallbacks(decision, features(), "standard", None) == ("medium",)


def test_fallbacks_derived_by_closeness_in_quality_when_none_configured():
    engine = engine_for()
    decision = engine.decide("support", features())  # medium, quality 70: large (95) is closer than small (40)
    assert engine.fallbacks(decision, features(), "standard", None) == ("large", "small")


def test_fallbacks_skip_unhealthy_and_tier_forbidden_models():
    engine = engine_for()
    decision = engine.decide("support", features(), tier="free")
    health = Health(unavailable={"small": "circuit open"})
    assert engine.fallbacks(decision, features(), "free", None, health) == ()


def test_prompt_router_target_and_attribution():
    data = config_dict(prompt_routers={"pr": {"models": ["small", "medium"]}})
    data["routes"]["auto"]["dynamic"]["default"] = {"prompt_router": "pr"}
    arn = "arn:aws:bedrock:us-east-1:123456789012:prompt-router/abc"
    engine = engine_for(data, prompt_router_arn=arn)
    decision = engine.decide("auto", features(complexity=0.2))
    assert decision.is_prompt_router and decision.model_id == arn
    # The invoked model is reported as a full ARN of an inference profile or foundation model.
    assert engine.model_key_for("arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.medium-v1:0") == "medium"
    assert engine.model_key_for("arn:aws:bedrock:us-east-1::foundation-model/anthropic.small-v1:0") == "small"


def test_prompt_router_without_arn_is_skipped_not_called():
    data = config_dict(prompt_routers={"pr": {"models": ["small", "medium"]}})
    data["routes"]["auto"]["dynamic"]["default"] = {"prompt_router": "pr"}
    decision = engine_for(data).decide("auto", features(complexity=0.2))
    assert not decision.is_prompt_router
    assert "default target unavailable" in decision.reason


def test_estimate_cost_is_linear_in_tokens():
    spec = engine_for().config.models["medium"]
    assert estimate_cost(spec, 2000, 1000) == pytest.approx(2 * 0.003 + 0.015)


def test_risk_scan_of_a_huge_prompt_reads_head_and_tail_and_says_so():
    engine = engine_for(_risky_config())
    filler = "lorem ipsum " * 10_000  # 120 KB
    assert engine.risk.match([filler + " 123-45-6789"]) == (("ssn",), True)  # in the tail window
    assert engine.risk.match(["123-45-6789 " + filler]) == (("ssn",), True)  # in the head window
    assert engine.risk.match([filler[:60_000] + " 123-45-6789 " + filler[:60_000]]) == ((), True)


def test_risk_scan_window_is_configurable():
    data = _risky_config()
    data["limits"] = {"risk_scan_chars": 1_000_000}
    engine = engine_for(data)
    filler = "lorem ipsum " * 10_000
    assert engine.risk.match([filler[:60_000] + " 123-45-6789 " + filler[:60_000]]) == (("ssn",), False)


def test_risk_patterns_that_must_match_a_digit_are_skipped_for_digitless_text_without_changing_results():
    from routing_engine.config import RiskPattern
    from routing_engine.features import RiskMatcher

    patterns = [
        RiskPattern(id="ssn", pattern=r"\b\d{3}-\d{2}-\d{4}\b", action="reject"),
        RiskPattern(id="card", pattern=r"\b(?:\d[ -]?){15}\d\b", action="reject"),
        RiskPattern(id="word", pattern=r"top secret|classified", action="reject"),
        RiskPattern(id="maybe-digit", pattern=r"id:?\d*", action="reject"),
    ]
    matcher = RiskMatcher.compile(patterns)
    assert matcher.needs_digit == (True, True, False, False)
    assert matcher.match(["nothing numeric here, but it is top secret"]) == (("word",), False)
    assert matcher.match(["ssn 123-45-6789 and card 4111 1111 1111 1111"]) == (("ssn", "card"), False)
    assert matcher.match(["my id is unknown"]) == (("maybe-digit",), False)
