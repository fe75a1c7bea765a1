"""Local mode's simulated latencies: their own file, read at start-up, never part of the routing catalog."""

from __future__ import annotations

import json

import pytest

from local.latency import DEFAULT_FILE, DEFAULT_MS, LatencyFileError, SimulatedLatency
from local.server import ROOT


def test_a_model_the_file_does_not_name_answers_at_the_default():
    latency = SimulatedLatency.parse('{"default_ms": 500, "models": {"fast": 100}}')
    assert (latency.of("fast"), latency.of("other")) == (100, 500)
    assert SimulatedLatency.parse("{}").of("any") == DEFAULT_MS


def test_the_bundled_file_names_every_model_of_the_bundled_catalog():
    catalog = json.loads((ROOT / "config" / "routing.json").read_text())["models"]
    assert set(SimulatedLatency.load(DEFAULT_FILE).models) == set(catalog)


def test_the_routing_catalog_has_no_simulated_latency():
    from routing_engine.config import routing_json_schema

    assert "simulated_latency_ms" not in json.dumps(routing_json_schema())


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("[]", "the document must be a JSON object"),
        ('{"model": {}}', "model: unknown field"),
        ('{"models": []}', "models: must be an object"),
        ('{"models": {"m": "fast"}}', "models.m: must be a number of milliseconds"),
        ('{"models": {"m": true}}', "models.m: must be a number of milliseconds"),
        ('{"default_ms": 60001}', "default_ms: must be within [0, 60000] ms"),
        ("{", "not valid JSON"),
    ],
)
def test_a_bad_file_is_refused_naming_the_field(raw, problem):
    with pytest.raises(LatencyFileError) as caught:
        SimulatedLatency.parse(raw)
    assert problem in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(LatencyFileError, match="cannot read .*absent.json"):
        SimulatedLatency.load(tmp_path / "absent.json")
