"""The default models are ones a new customer can use: Active on Bedrock (issue 17, item 6).

Bedrock user guide, "Model lifecycle": "New customers can't use Legacy models and existing customers may lose access
to Legacy models due to inactivity", and "Model lifecycle dates on this page are specific to Amazon Bedrock and may
differ from dates published by model providers" (so Anthropic calling a model Legacy on its own API does not make it
Legacy on Bedrock). This table is the assumption the bundled catalog rests on, with where it was read and when. It is
checked against the catalog, not against AWS (no call at test time): re-check it before a release with

    aws bedrock get-foundation-model --model-identifier <model> --query modelDetails.modelLifecycle.status

and, when a model turns Legacy, change the catalog (README, "Models in the default configuration").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from routing_engine.config.geography import base_model_id

BUNDLED = Path(__file__).resolve().parents[2] / "config" / "routing.json"


@dataclass(frozen=True)
class Lifecycle:
    status: str  # Active | Legacy, as GetFoundationModel's modelLifecycle.status spells it (upper case there)
    checked: str  # when the source below was read
    source: str


CHECKED = "2026-12-07"
LIFECYCLE = {
    "anthropic.claude-haiku-4-5-20251001-v1:0": Lifecycle(
        "Active",
        CHECKED,
        "AWS model card https://docs.aws.amazon.com/bedrock/latest/userguide/model-card-anthropic-claude-haiku-4-5.html"
        " (stored copy from 2026): 'Model lifecycle: Active', 'Model EOL date: No sooner than 10/1/2026'. That floor "
        "has passed and no newer copy could be read: the first model to re-check.",
    ),
    "anthropic.claude-sonnet-4-6": Lifecycle(
        "Active",
        CHECKED,
        "Not among the Legacy/EOL models of the AWS lifecycle pages read (model-lifecycle.html, "
        "model-lifecycle-legacy.html) nor of AWS's awslabs/startups ai-model-lifecycle.md (as of 2026-07-17); its "
        "AWS model card could not be read here. Anthropic lists it Legacy on its own API (Claude Sonnet 5.5 current).",
    ),
    "anthropic.claude-opus-4-6-v1": Lifecycle(
        "Active",
        CHECKED,
        "AWS model card https://docs.aws.amazon.com/bedrock/latest/userguide/model-card-anthropic-claude-opus-4-6.html"
        ": 'Model lifecycle: Active', 'EOL no sooner than: Feb 5, 2027', 'Model EOL date: N/A'.",
    ),
    "amazon.nova-pro-v1:0": Lifecycle(
        "Active",
        CHECKED,
        "Not among the Legacy/EOL models of the AWS lifecycle pages read nor of awslabs/startups ai-model-lifecycle.md "
        "(as of 2026-07-17), which lists Nova Premier v1 and Nova Sonic v1 as Legacy but not Nova Pro.",
    ),
    "amazon.nova-lite-v1:0": Lifecycle(
        "Active",
        CHECKED,
        "As Nova Pro: not among the Legacy/EOL models of the sources read.",
    ),
}


def catalog_models() -> dict[str, str]:
    """{catalog key: foundation model} of the bundled catalog."""
    models = json.loads(BUNDLED.read_text())["models"]
    return {key: base_model_id(entry["model_id"]) for key, entry in models.items()}


def test_every_default_model_has_a_recorded_lifecycle_and_it_is_active():
    models = catalog_models()

    assert sorted(set(models.values())) == sorted(LIFECYCLE), "record the lifecycle of each catalog model here"
    assert {key: LIFECYCLE[model].status for key, model in models.items()} == dict.fromkeys(models, "Active")


def test_each_assumption_says_when_and_where_it_was_read():
    for model, lifecycle in LIFECYCLE.items():
        assert lifecycle.checked >= "2026-12-01" and len(lifecycle.source) > 40, model
