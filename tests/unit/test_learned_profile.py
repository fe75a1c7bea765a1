"""The learned-scorers profile: its model, how it applies to a routing configuration, and the router's pair of
last-good stores (a bad learned document is rejected and the last good one keeps serving; a new routing document
keeps the learned scorer)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from router.adapters.config_store import ConfigEvent, LastGoodStore
from router.engine_store import EngineStore
from router.wiring import build_learned, build_routing, engine_builder
from routing_engine.config import (
    EMPTY_LEARNED,
    ConfigError,
    apply_learned,
    parse_learned_scorers,
    parse_routing_config,
)
from tests.unit.engine_fixtures import scorer_spec

ROOT = Path(__file__).resolve().parents[2]
ROUTING = json.loads((ROOT / "config" / "routing.json").read_text())


def entry(version: str = "auto-v1", threshold: float = 0.45, rule: str = "hard-question", **extra) -> dict:
    return {"rule": rule, "threshold": threshold, "scorer": scorer_spec(0.0, version), **extra}


def doc(**routes) -> bytes:
    return json.dumps({"routes": routes}).encode()


# --- the model and apply_learned -----------------------------------------------------------------------------


def test_an_entry_that_fits_sets_the_routes_scorer_and_the_rules_threshold_together():
    routing = parse_routing_config(json.dumps(ROUTING))
    effective = apply_learned(routing, parse_learned_scorers(doc(auto=entry())))
    assert effective.applied == {"auto": "auto-v1"} and effective.ignored == {}
    policy = effective.config.routes["auto"].dynamic
    assert policy.scorer == "auto-learned" and effective.config.scorer("auto-learned").version == "auto-v1"
    (rule,) = [r for r in policy.rules if r.id == "hard-question"]
    assert rule.when["complexity"].gte == 0.45 and rule.when["complexity"].gt is None
    # the routing configuration itself is untouched (the other routes too)
    assert routing.routes["auto"].dynamic.scorer == "bundled"
    assert effective.config.routes["tech_support"] == routing.routes["tech_support"]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d["routes"].pop("auto"), "route 'auto' is not in the routing configuration"),
        (lambda d: d["routes"]["auto"]["dynamic"].update(learned=False), "dynamic.learned is false"),
        (
            lambda d: d["routes"]["auto"]["dynamic"]["rules"][1].update(id="renamed"),
            "has no rule 'hard-question' any more",
        ),
    ],
)
def test_an_entry_that_no_longer_fits_is_ignored_with_the_reason(edit, reason):
    routing_doc = json.loads(json.dumps(ROUTING))
    if routing_doc["default_route"] == "auto" and reason.startswith("route 'auto' is not"):
        routing_doc.pop("default_route")
    edit(routing_doc)
    routing_doc["aliases"] = {k: v for k, v in routing_doc.get("aliases", {}).items() if v in routing_doc["routes"]}
    routing = parse_routing_config(json.dumps(routing_doc))
    effective = apply_learned(routing, parse_learned_scorers(doc(auto=entry())))
    assert effective.applied == {} and reason in effective.ignored["auto"]
    assert effective.config is routing


def test_an_entry_trained_for_another_model_pair_is_ignored():
    routing_doc = json.loads(json.dumps(ROUTING))
    routing_doc["routes"]["tech_support"]["labelling"] = {
        "sample_rate": 0.5,
        "daily_budget_usd": 5.0,
        "judge_model": "claude-opus",
    }
    routing = parse_routing_config(json.dumps(routing_doc))
    learned = parse_learned_scorers(doc(tech_support=entry(weak_model="nova-lite", strong_model="claude-sonnet")))
    effective = apply_learned(routing, learned)
    assert "the scorer was trained for nova-lite vs claude-sonnet" in effective.ignored["tech_support"]


def test_a_learned_document_whose_scorer_cannot_score_is_refused_naming_the_field():
    bad = entry()
    bad["scorer"]["dense"]["coef"] = bad["scorer"]["dense"]["coef"][:-1]
    with pytest.raises(ConfigError, match=r"routes\.auto\.scorer"):
        parse_learned_scorers(doc(auto=bad))
    with pytest.raises(ConfigError, match="threshold"):
        parse_learned_scorers(doc(auto=entry(threshold=1.5)))
    assert parse_learned_scorers(EMPTY_LEARNED).routes == {}


# --- the router's pair of stores ------------------------------------------------------------------------------


class Source:
    """A document that changes when the test says so (AppConfig's next deployment)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __call__(self) -> bytes:
        return self.raw


def pair(routing: bytes, learned: bytes):
    events: list[ConfigEvent] = []
    routing_src, learned_src = Source(routing), Source(learned)
    store = EngineStore(
        LastGoodStore("routing", routing_src, build_routing, source="appconfig", on_event=events.append),
        LastGoodStore(
            "learned-scorers",
            learned_src,
            build_learned,
            source="appconfig",
            fallback=EMPTY_LEARNED,
            on_event=events.append,
        ),
        engine_builder(),
        on_event=events.append,
    )
    return store, routing_src, learned_src, events


def scorer_version(store: EngineStore) -> str:
    scorer = store.get().value.scorer_for("auto")
    assert scorer is not None
    return scorer.version


def test_a_new_routing_document_keeps_the_learned_scorer():
    # Given a router serving the learned scorer for auto
    store, routing_src, _, _ = pair(json.dumps(ROUTING).encode(), doc(auto=entry("auto-v1")))
    assert scorer_version(store) == "auto-v1"
    # When a person deploys an edited routing document (another route's model changed)
    edited = json.loads(json.dumps(ROUTING))
    edited["routes"]["faq"]["description"] = "edited by hand"
    routing_src.raw = json.dumps(edited).encode()
    # Then the learned scorer still decides, and the version names both documents
    snap = store.get()
    assert scorer_version(store) == "auto-v1"
    assert snap.value.config.routes["faq"].description == "edited by hand"
    assert "+" in snap.version


def test_a_bad_learned_document_is_rejected_and_the_last_good_one_keeps_serving():
    store, _, learned_src, events = pair(json.dumps(ROUTING).encode(), doc(auto=entry("auto-v1")))
    assert scorer_version(store) == "auto-v1"
    # When a learned document that does not validate arrives
    learned_src.raw = b'{"routes": {"auto": {"rule": "hard-question"}}}'
    # Then it is rejected (reported once), and auto-v1 keeps deciding
    assert scorer_version(store) == "auto-v1"
    assert scorer_version(store) == "auto-v1"
    rejected = [e for e in events if e.kind == "rejected"]
    assert len(rejected) == 1 and rejected[0].store == "learned-scorers" and "routes.auto" in rejected[0].message
    # and the next good one is taken up
    learned_src.raw = doc(auto=entry("auto-v2"))
    assert scorer_version(store) == "auto-v2"


@pytest.mark.parametrize("nothing", [EMPTY_LEARNED, b""])  # b"": AppConfig's body while nothing is deployed
def test_no_learned_document_yet_serves_the_routing_document_as_written(nothing):
    store, _, _, events = pair(json.dumps(ROUTING).encode(), nothing)
    from routing_engine.scorer import bundled

    assert scorer_version(store) == bundled().version
    assert "+" not in store.get().version
    assert not [e for e in events if e.kind == "rejected"]


# --- the validator --------------------------------------------------------------------------------------------


def event(raw: bytes) -> dict:
    return {"configurationProfileId": "p1", "configurationVersion": "3", "content": base64.b64encode(raw).decode()}


def test_the_learned_profiles_validator_accepts_a_trainer_document_and_refuses_anything_else(monkeypatch):
    from config_validator.handler import InvalidRoutingConfiguration, lambda_handler

    monkeypatch.setenv("CONFIG_PROFILE", "learned-scorers")
    assert lambda_handler(event(doc(auto=entry())), None) is None
    with pytest.raises(InvalidRoutingConfiguration, match="learned-scorers document version 3 is invalid"):
        lambda_handler(event(json.dumps(ROUTING).encode()), None)  # a routing document in the wrong profile
    bad = entry()
    bad["scorer"]["feature_set"] = "nonsense"
    with pytest.raises(InvalidRoutingConfiguration, match=r"routes\.auto\.scorer"):
        lambda_handler(event(doc(auto=bad)), None)
    monkeypatch.setenv("CONFIG_PROFILE", "routing")
    with pytest.raises(InvalidRoutingConfiguration, match="routing configuration version 3 is invalid"):
        lambda_handler(event(doc(auto=entry())), None)  # and a learned document in the routing profile
