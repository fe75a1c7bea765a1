"""The route's scorer: a scorer delivered in the configuration decides the complexity feature of the routes that
name it, the decision says which weights scored it, and static routes never pay for it."""

from __future__ import annotations

import pytest

from routing_engine.features import extract_features
from routing_engine.scorer import bundled
from tests.unit.engine_fixtures import config_dict, engine_for, features, labelled, scorer_spec, text_messages

PROMPT = text_messages("Prove that there are infinitely many primes of the form 4k + 3.")


def engine_with(scorers: dict, route_scorer: str | None, mode: str = "dynamic"):
    data = config_dict(scorers=scorers)
    data["routes"]["auto"]["mode"] = mode
    if route_scorer is not None:
        data["routes"]["auto"]["dynamic"]["scorer"] = route_scorer
    return engine_for(data)


def decide(engine, name: str = "auto", messages=PROMPT, **kw):
    f = extract_features(messages, risk=engine.risk)
    if engine.needs_complexity(name) or kw.get("explain"):
        f = engine.with_complexity(name, f, messages)
    return engine.decide(name, f, **kw)


def test_the_routes_scorer_decides_and_a_retrained_one_flips_the_choice():
    # Given two scorers in the configuration: one that scores every prompt 0.95, one that scores it 0.05
    scorers = {"eager": scorer_spec(3.0, version="eager-1"), "shy": scorer_spec(-3.0, version="shy-1")}
    # When `auto` (hard rule: complexity >= 0.7 -> strongest within budget) names the eager one
    eager = decide(engine_with(scorers, "eager"))
    # then the prompt is hard and goes to the strongest model, and the decision names the weights
    assert (eager.rule, eager.model) == ("hard", "large")
    assert (eager.scorer, eager.scorer_version) == ("eager", "eager-1")
    # and when the same configuration's route names the shy one instead, the same prompt goes to the cheapest
    shy = decide(engine_with(scorers, "shy"))
    assert (shy.rule, shy.model) == (None, "small")
    assert (shy.scorer, shy.scorer_version) == ("shy", "shy-1")


def test_the_complexity_is_the_scorers_score_of_the_request():
    engine = engine_with({"eager": scorer_spec(3.0)}, "eager")
    f = engine.with_complexity("auto", extract_features(PROMPT), PROMPT)
    assert f.complexity == pytest.approx(1 / (1 + 2.718281828459045**-3.0))
    assert (f.scorer, f.scorer_version) == ("eager", "test-1")


def test_a_route_that_names_no_scorer_is_scored_by_the_bundled_weights():
    engine = engine_for()
    assert engine.scorer_for("auto") is bundled()
    f = engine.with_complexity("auto", extract_features(PROMPT), PROMPT)
    assert f.complexity == pytest.approx(extract_features(PROMPT, with_complexity=True).complexity)
    d = engine.decide("auto", f)
    assert (d.scorer, d.scorer_version) == ("bundled", bundled().version)


def test_static_routes_have_no_scorer_and_never_compute_complexity():
    engine = engine_with({"eager": scorer_spec(3.0)}, "eager")
    assert engine.scorer_for("faq") is None and engine.scorer_for("nowhere") is None
    assert not engine.needs_complexity("faq")
    d = decide(engine, "faq")
    assert (d.scorer, d.scorer_version) == (None, None)


def test_a_dry_run_of_a_static_route_is_scored_by_the_bundled_weights():
    # A dry run shows a complexity for any route; a static route names no scorer, so the bundled one answers
    engine = engine_with({"eager": scorer_spec(3.0)}, "eager")
    d = decide(engine, "faq", explain=True)
    assert d.trace["scorer"] == {"name": "bundled", "version": bundled().version}


def test_the_decision_trace_names_the_scorer():
    d = decide(engine_with({"eager": scorer_spec(3.0, version="eager-9")}, "eager"), explain=True)
    assert d.trace["scorer"] == {"name": "eager", "version": "eager-9"}
    assert d.trace["features"]["complexity"] == pytest.approx(0.9526, abs=1e-4)


def test_features_given_without_a_scorer_leave_the_decision_unattributed():
    # A caller that supplies its own complexity (tests, replay of an old log) gets no scorer named on its behalf
    d = engine_for().decide("auto", features(complexity=0.9), explain=True)
    assert (d.scorer, d.scorer_version) == (None, None) and "scorer" not in d.trace


def test_a_shadow_route_scores_with_its_policys_scorer():
    # Given `auto` in shadow mode (serves `small`, reports what dynamic routing would do) naming the eager scorer
    engine = engine_with({"eager": scorer_spec(3.0, version="eager-2")}, "eager", mode="shadow")
    assert engine.needs_complexity("auto")
    d = decide(engine, explain=True)
    # then the served model is the static one, the shadow choice is the eager scorer's, and both name it
    assert d.model == "small" and d.shadow["model"] == "large" and d.shadow["rule"] == "hard"
    assert d.scorer_version == "eager-2"
    assert d.shadow["trace"]["scorer"] == {"name": "eager", "version": "eager-2"}


def test_the_shadow_cost_estimate_is_the_worst_case_and_cost_at_prices_actual_tokens():
    engine = engine_with({"eager": scorer_spec(3.0)}, "eager", mode="shadow")
    d = decide(engine)
    # worst case: the estimated input and every allowed output token (the default 1024) at large's prices
    tokens = extract_features(PROMPT).estimated_tokens
    assert d.shadow["estimated_cost_usd"] == pytest.approx(tokens / 1000 * 0.015 + 1024 / 1000 * 0.075)
    # like with like: the served answer's 120 input and 80 output tokens at large's prices
    assert engine.cost_at(d.shadow["model"], 120, 80) == pytest.approx(0.12 * 0.015 + 0.08 * 0.075)
    assert engine.cost_at("unknown-model", 1, 1) is None


def test_labelling_for_resolves_the_defaults():
    engine = engine_for(labelled())
    lab = engine.labelling_for("tuned")
    assert (lab.weak_model, lab.strong_model, lab.rule, lab.judge_model) == ("small", "large", "hard", "large")
    assert engine.labelling_for("auto") is None and engine.labelling_for("nowhere") is None


def test_an_unknown_name_is_scored_by_the_route_unknown_model_route_sends_it_to():
    data = config_dict(scorers={"eager": scorer_spec(3.0)}, unknown_model_route="auto")
    data["routes"]["auto"]["dynamic"]["scorer"] = "eager"
    engine = engine_for(data)
    d = decide(engine, "gpt-something")
    assert (d.route, d.rule, d.scorer) == ("auto", "hard", "eager")


def test_scorers_are_compiled_once_per_configuration_not_per_request():
    engine = engine_with({"eager": scorer_spec(3.0)}, "eager")
    first = engine.scorer_for("auto")
    decide(engine)
    decide(engine)
    assert engine.scorer_for("auto") is first is engine.config.scorer("eager")
