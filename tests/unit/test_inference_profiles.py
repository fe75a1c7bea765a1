"""Which inference profile a catalog entry calls, from which Region, at which price (issue 17, items 3 and 4)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from routing_engine.config import ConfigError, parse_routing_config, resolve_routing_document, routing_json_schema
from routing_engine.config import geography as geo

BUNDLED = Path(__file__).resolve().parents[2] / "config" / "routing.json"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"
CLAUDE_PRICES = {
    "geographic": {"input_per_million": 1.1, "output_per_million": 5.5},
    "global": {"input_per_million": 1.0, "output_per_million": 5.0},
}


def catalog(region: str | None = None) -> dict:
    """The bundled catalog parsed for `region`: {key: (model_id, input price)}."""
    config = parse_routing_config(BUNDLED.read_bytes(), region=region)
    return {key: (spec.model_id, spec.price.input_per_million) for key, spec in config.models.items()}


def one_model(deploy_region: str | None = None, *, resolve: bool = True, **entry):
    """A one-model document whose model `m` is `entry`, parsed for `deploy_region`; its ModelSpec."""
    data = {"models": {"m": entry}, "routes": {"faq": {"model": "m"}}}
    return parse_routing_config(json.dumps(data), region=deploy_region, resolve=resolve).models["m"]


def refused(deploy_region: str | None = None, **entry) -> str:
    with pytest.raises(ConfigError) as err:
        one_model(deploy_region, **entry)
    return str(err.value)


# --- the bundled catalog follows the Region -------------------------------------------------------------------


def test_without_a_region_the_catalog_calls_the_us_profiles_as_before():
    # local mode and the tests have no Region: the default geography
    assert catalog() == {
        "claude-haiku": (f"us.{HAIKU}", 1.1),
        "claude-sonnet": ("us.anthropic.claude-sonnet-4-6", 3.3),
        "claude-opus": ("us.anthropic.claude-opus-4-6-v1", 5.5),
        "nova-pro": (f"us.{NOVA_PRO}", 0.8),
        "nova-lite": ("us.amazon.nova-lite-v1:0", 0.06),
    }


def test_in_ireland_every_model_calls_its_eu_profile():
    assert {key: model_id for key, (model_id, _) in catalog("eu-west-1").items()} == {
        "claude-haiku": f"eu.{HAIKU}",
        "claude-sonnet": "eu.anthropic.claude-sonnet-4-6",
        "claude-opus": "eu.anthropic.claude-opus-4-6-v1",
        "nova-pro": f"eu.{NOVA_PRO}",
        "nova-lite": "eu.amazon.nova-lite-v1:0",
    }


@pytest.mark.parametrize(
    ("region", "claude", "nova"),
    [("ap-northeast-1", "jp", "apac"), ("ap-southeast-2", "au", "apac"), ("us-west-2", "us", "us")],
)
def test_the_narrowest_geography_the_model_offers_wins(region, claude, nova):
    # Tokyo may call jp and apac profiles: Claude offers jp (data stays in Japan), Nova only apac
    models = catalog(region)
    assert models["claude-haiku"][0] == f"{claude}.{HAIKU}"
    assert models["nova-pro"][0] == f"{nova}.{NOVA_PRO}"


def test_a_region_no_profile_of_a_model_serves_is_refused_naming_the_fix():
    with pytest.raises(ConfigError) as err:
        catalog("ap-south-1")  # Mumbai: apac only, which Haiku 4.5 and Sonnet 4.6 do not offer (per the table)

    message = str(err.value)
    assert message.startswith(
        f"models.claude-haiku: {HAIKU} offers no geographic inference profile that serves ap-south-1 (it offers jp, "
        "au, us, eu, global; ap-south-1 may call apac): set inference_profile to 'global'"
    )
    assert "models.claude-sonnet:" in message and "models.claude-opus" not in message  # Opus 4.6 offers apac


def test_a_region_the_table_does_not_know_needs_a_pinned_profile_or_global():
    assert refused("sa-east-1", model_id=NOVA_PRO, inference_profile="geographic", price=CLAUDE_PRICES["global"]) == (
        "models.m: no geographic inference profile is known for Region sa-east-1: pin model_id to the profile you "
        "call from sa-east-1 (and drop inference_profile), or use inference_profile 'global'"
    )


def test_global_calls_the_global_profile_at_the_global_price():
    spec = one_model("eu-west-1", model_id=HAIKU, inference_profile="global", prices=CLAUDE_PRICES)

    assert (spec.model_id, spec.price.input_per_million, spec.price.output_per_million) == (
        f"global.{HAIKU}",
        1.0,
        5.0,
    )


def test_geographic_costs_what_the_geographic_profile_costs():
    # Bedrock user guide, "Global cross-Region inference": global "offers approximately 10% savings on both input
    # and output token pricing compared to geographic cross-Region inference"
    spec = one_model("eu-west-1", model_id=HAIKU, inference_profile="geographic", prices=CLAUDE_PRICES)

    assert (spec.price.input_per_million, spec.price.output_per_million) == (1.1, 5.5)


def test_a_model_without_a_global_profile_cannot_be_made_global():
    assert "amazon.nova-pro-v1:0 has no global inference profile (it offers us, eu, apac)" in refused(
        model_id=NOVA_PRO, inference_profile="global", price={"input_per_million": 1, "output_per_million": 1}
    )


# --- pinned ids and resolved documents ------------------------------------------------------------------------


def test_a_pinned_profile_the_region_cannot_call_is_refused():
    message = refused("eu-west-1", model_id=f"us.{NOVA_PRO}", price={"input_per_million": 1, "output_per_million": 1})

    assert message == (
        f"models.m: us.{NOVA_PRO} is a 'us' inference profile, which cannot be called from eu-west-1 (it may call eu "
        f"and global profiles): set model_id to '{NOVA_PRO}' with inference_profile 'geographic' (the stack picks the "
        "profile for its Region) or 'global'"
    )


def test_a_pinned_profile_is_called_as_written_where_the_table_cannot_tell():
    price = {"input_per_million": 1, "output_per_million": 1}
    assert one_model(model_id=f"us.{NOVA_PRO}", price=price).model_id == f"us.{NOVA_PRO}"  # no Region
    assert one_model("ca-central-1", model_id=f"us.{NOVA_PRO}", price=price).model_id == f"us.{NOVA_PRO}"  # unknown


def test_a_model_called_in_its_own_region_resolves_for_that_region():
    spec = one_model("eu-west-1", model_id=NOVA_PRO, inference_profile="geographic", region="us-east-1", price=_one())

    assert spec.model_id == f"us.{NOVA_PRO}"


def test_a_resolved_id_must_match_its_kind():
    assert "model_id global.x.y is not a geographic inference profile" in refused(
        model_id="global.x.y", inference_profile="geographic", price=_one()
    )


def test_a_routers_document_must_name_its_profiles():
    message = refused_unresolved(model_id=NOVA_PRO, inference_profile="geographic", price=_one())

    assert "model_id amazon.nova-pro-v1:0 names no inference profile" in message


def test_resolving_the_bundled_catalog_writes_the_profiles_and_keeps_the_rest():
    raw = BUNDLED.read_bytes()

    deployed, config = resolve_routing_document(raw, region="eu-west-1")

    before, after = json.loads(raw), json.loads(deployed)
    jsonschema.Draft4Validator(routing_json_schema()).validate(after)
    assert after["models"]["claude-opus"]["model_id"] == "eu.anthropic.claude-opus-4-6-v1"
    for key in before["models"]:
        before["models"][key].pop("model_id"), after["models"][key].pop("model_id")
    assert after == before
    assert config.models["claude-opus"].model_id == "eu.anthropic.claude-opus-4-6-v1"
    # what the AppConfig validator and the routers read: no Region, nothing left to resolve
    assert parse_routing_config(deployed, resolve=False).models["nova-lite"].model_id == "eu.amazon.nova-lite-v1:0"


def test_a_document_with_nothing_to_resolve_keeps_its_bytes():
    raw, _ = resolve_routing_document(BUNDLED.read_bytes(), region="eu-west-1")

    again, _ = resolve_routing_document(raw, region="eu-west-1")

    assert again is raw


# --- prices per kind ------------------------------------------------------------------------------------------


def test_prices_must_include_the_kind_called():
    assert refused(model_id=f"us.{NOVA_PRO}", prices={"global": _one()}) == (
        f"models.m: prices has no 'geographic' entry, the kind us.{NOVA_PRO} is billed as (given: global)"
    )


def test_price_and_prices_are_exclusive():
    assert "give price (whatever is called) or prices" in refused(
        model_id=f"us.{NOVA_PRO}", price=_one(), prices={"geographic": _one()}
    )


def test_an_arn_takes_one_price():
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
    assert "an ARN model_id takes one `price`" in refused(model_id=arn, prices={"geographic": _one()})


def test_the_json_schema_accepts_price_or_prices_and_only_known_kinds():
    schema = routing_json_schema()
    data = json.loads(BUNDLED.read_text())
    jsonschema.Draft4Validator(schema).validate(data)
    data["models"]["nova-pro"]["prices"]["cheap"] = _one()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(data)
    del data["models"]["nova-pro"]["prices"]
    with pytest.raises(jsonschema.ValidationError):  # neither price nor prices
        jsonschema.Draft4Validator(schema).validate(data)


# --- the checked-in table -------------------------------------------------------------------------------------


def test_the_table_names_only_known_prefixes_and_every_region_prefers_its_narrowest_geography():
    for base, prefixes in geo.MODEL_PROFILES.items():
        assert prefixes <= set(geo.PROFILE_PREFIXES), base
        assert geo.is_foundation_model_id(base), base
    assert set(geo.GEOGRAPHY_PREFERENCE) == set(geo.GEOGRAPHY_REGIONS)
    assert geo.geographies_of("ap-northeast-1") == ("jp", "apac")
    assert geo.geographies_of("ap-southeast-2") == ("au", "apac")
    assert geo.geographies_of("eu-west-1") == ("eu",)
    assert geo.geographies_of("sa-east-1") == ()


def test_every_bundled_model_is_in_the_table():
    # a model the table does not know is called in the Region's first geography, unchecked: the stack warns
    for key, entry in json.loads(BUNDLED.read_text())["models"].items():
        assert geo.known_model(entry["model_id"]), key


def _one() -> dict:
    return {"input_per_million": 1, "output_per_million": 1}


def refused_unresolved(**entry) -> str:
    with pytest.raises(ConfigError) as err:
        one_model("eu-west-1", resolve=False, **entry)
    return str(err.value)
