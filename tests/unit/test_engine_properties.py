"""Properties of the dynamic decision that must hold for every input (hypothesis)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing_engine.config import parse_routing_config
from routing_engine.engine import Engine, Health, NoCapableModel, RiskRejected
from routing_engine.features import RequestFeatures
from tests.unit.engine_fixtures import BASE

ROOT = Path(__file__).resolve().parents[2]
ENGINES = [
    Engine(parse_routing_config(json.dumps(BASE)), "fixture", prompt_router_arn=None),
    Engine(
        parse_routing_config((ROOT / "config" / "routing.json").read_bytes()),
        "bundled",
        prompt_router_arn="arn:aws:bedrock:us-east-1:123456789012:prompt-router/x",
    ),
]

features_st = st.builds(
    RequestFeatures,
    estimated_tokens=st.integers(0, 400_000),
    message_count=st.integers(1, 20),
    has_images=st.booleans(),
    has_documents=st.booleans(),
    uses_tools=st.booleans(),
    risk=st.just(()),
    complexity=st.floats(0, 1),
)


@st.composite
def scenario(draw):
    engine = draw(st.sampled_from(ENGINES))
    models = sorted(engine.config.models)
    dynamic_routes = sorted(n for n, r in engine.config.routes.items() if r.mode == "dynamic")
    return (
        engine,
        draw(st.sampled_from(dynamic_routes)),
        draw(features_st),
        draw(st.sampled_from(sorted(engine.config.tiers))),
        draw(st.one_of(st.none(), st.floats(1e-6, 2.0))),
        Health(
            unavailable=dict.fromkeys(draw(st.sets(st.sampled_from(models))), "flagged down"),
            latency_ms={m: draw(st.floats(0, 30_000)) for m in models},
        ),
    )


def _chosen_models(engine: Engine, decision) -> list[str]:
    if decision.is_prompt_router:
        return list(engine.config.prompt_routers[decision.model].models)
    return [decision.model]


PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(scenario())
def test_same_input_and_configuration_give_the_same_decision(case):
    engine, route, features, tier, ceiling, health = case
    outcomes = []
    for _ in range(2):
        try:
            d = engine.decide(route, features, tier=tier, max_cost_usd=ceiling, health=health, explain=True)
            outcomes.append((d.model, d.rule, d.reason, d.estimated_cost_usd, json.dumps(d.trace, sort_keys=True)))
        except (NoCapableModel, RiskRejected) as exc:
            outcomes.append((type(exc).__name__, exc.message))
    assert outcomes[0] == outcomes[1]


@PROPERTY_SETTINGS
@given(scenario())
def test_never_chooses_a_filtered_or_unhealthy_model_while_a_valid_one_exists(case):
    engine, route, features, tier, ceiling, health = case
    pool = engine.config.routes[route].dynamic.candidates or tuple(engine.config.models)
    out_tokens = engine.output_tokens(engine.config.routes[route], None)
    valid, _ = engine.filter_candidates(pool, features, tier, engine.cost_ceiling(tier, ceiling), out_tokens, health)
    try:
        decision = engine.decide(route, features, tier=tier, max_cost_usd=ceiling, health=health)
    except NoCapableModel:
        assert valid == []  # a 4xx only when truly nothing can serve
        return
    for model in _chosen_models(engine, decision):
        assert model in valid
        assert model not in health.unavailable


@PROPERTY_SETTINGS
@given(scenario())
def test_never_exceeds_the_cost_ceiling(case):
    engine, route, features, tier, ceiling, health = case
    limit = engine.cost_ceiling(tier, ceiling)
    try:
        decision = engine.decide(route, features, tier=tier, max_cost_usd=ceiling, health=health)
    except NoCapableModel:
        return
    if limit is not None:
        assert decision.estimated_cost_usd <= limit + 1e-12
        fallbacks = engine.fallbacks(decision, features, tier, ceiling, health)
        for model in fallbacks:
            assert model not in health.unavailable


@PROPERTY_SETTINGS
@given(scenario(), features_st)
def test_a_held_conversation_is_decided_alike_whatever_latency_this_instance_has_seen(case, task):
    """Two instances differ in the latency they have measured; a route that holds conversations (the default for
    dynamic routes) decides a continuation the same on both, so a tool loop sent to either stays on one model."""
    engine, route, features, tier, ceiling, health = case
    assert engine.holds_conversations(route)
    other_instance = Health(unavailable=health.unavailable)  # same health, no latency seen yet
    outcomes = []
    for seen in (health, other_instance):
        try:
            d = engine.decide(
                route, features, tier=tier, max_cost_usd=ceiling, health=seen, continuation=True, task=task
            )
            outcomes.append((d.model, d.rule, d.reason, d.conversation))
        except (NoCapableModel, RiskRejected) as exc:
            outcomes.append((type(exc).__name__, exc.message))
    assert outcomes[0] == outcomes[1]
