"""A bad routing configuration is rejected before it reaches traffic, with a message naming the field."""

import json
from pathlib import Path

import jsonschema
import pytest

from routing_engine.config import (
    ConfigError,
    parse_failover_flags,
    parse_routing_config,
    routing_json_schema,
)
from tests.unit.engine_fixtures import config_dict
from tools import config_schema

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "config" / "routing.json"


def rejected(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_routing_config(json.dumps(data))
    return str(err.value)


def test_bundled_configuration_is_valid_and_maps_the_known_tasks():
    config = parse_routing_config(BUNDLED.read_bytes())
    static = {name: route.model for name, route in config.routes.items()}
    assert static["faq"] == "claude-haiku"
    assert static["tech_support"] == "claude-sonnet"
    assert static["creative"] == "claude-opus"
    assert config.models[static["analytics"]].model_id.startswith("us.amazon.")


def test_schema_files_in_the_repository_match_the_pydantic_model():
    # Given the generated schema files, when regenerated from the model, then nothing changes.
    assert config_schema.main(["--check"]) == 0, "run: python -m tools.config_schema"


def test_bundled_configuration_validates_against_the_appconfig_json_schema():
    schema = json.loads((ROOT / "config" / "routing.schema.json").read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(json.loads(BUNDLED.read_text()))


def test_json_schema_rejects_a_wrong_type_before_deployment():
    data = json.loads(BUNDLED.read_text())
    data["routes"]["faq"]["max_tokens"] = "lots"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(routing_json_schema()).validate(data)


def test_json_schema_fits_appconfig_validator_limit():
    assert len(json.dumps(routing_json_schema(), separators=(",", ":"))) < 32_768


def test_unknown_model_in_a_route_names_the_field():
    data = config_dict()
    data["routes"]["faq"]["model"] = "gpt-9"
    assert "routes.faq.model: unknown model 'gpt-9'" in rejected(data)


def test_unknown_model_in_a_rule_target_names_the_rule():
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["rules"][1]["target"] = {"model": "ghost"}
    assert "routes.auto.dynamic.rules[1].target.model: unknown model 'ghost'" in rejected(data)


def test_complexity_threshold_out_of_range_is_rejected():
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["rules"][0]["when"] = {"complexity": {"gte": 7}}
    assert "routes.auto.dynamic.rules[0].when.complexity.gte: complexity thresholds must be within [0, 1]" in rejected(data)


def test_rule_with_an_empty_range_can_never_match():
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["rules"][0]["when"] = {"estimated_tokens": {"gt": 1000, "lt": 10}}
    assert "routes.auto.dynamic.rules[0].when.estimated_tokens: can never match" in rejected(data)


def test_rule_after_an_unconditional_rule_can_never_match():
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["rules"].insert(0, {"id": "all", "target": {"model": "small"}})
    assert "routes.auto.dynamic.rules[1]: can never match, rule 'all' before it matches every request" in rejected(data)


def test_boolean_feature_compared_to_a_number_is_rejected():
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["rules"][1]["when"] = {"has_images": {"gt": 1}}
    assert "when.has_images: 'has_images' is true or false" in rejected(data)


def test_target_needs_exactly_one_kind():
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["default"] = {"model": "small", "strategy": "cheapest_capable"}
    assert "exactly one of model, strategy, prompt_router" in rejected(data)


def test_dynamic_mode_needs_a_policy():
    data = config_dict()
    data["routes"]["faq"]["mode"] = "dynamic"
    assert "routes.faq.dynamic: mode 'dynamic' needs a dynamic policy" in rejected(data)


def test_model_cannot_fall_back_to_itself():
    data = config_dict()
    data["models"]["small"]["fallbacks"] = ["small"]
    assert "models.small.fallbacks[0]: a model cannot fall back to itself" in rejected(data)


def test_bad_regex_in_risk_pattern_names_it():
    data = config_dict(risk_patterns=[{"id": "x", "pattern": "([", "action": "reject"}])
    assert "risk_patterns.0.pattern" in rejected(data)


def test_unknown_tier_for_a_caller_is_rejected():
    data = config_dict(callers={"abc123": "platinum"})
    assert "callers.abc123: unknown tier 'platinum'" in rejected(data)


def test_alias_must_point_at_a_route_or_model():
    data = config_dict(aliases={"gpt": "nowhere"})
    assert "aliases.gpt: 'nowhere' is neither a route nor a model" in rejected(data)


def test_typo_in_a_field_name_is_rejected_not_ignored():
    data = config_dict()
    data["routes"]["faq"]["max_token"] = 10
    assert "routes.faq.max_token: Extra inputs are not permitted" in rejected(data)


def test_not_json_is_rejected():
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_routing_config(b"{nope")


def test_failover_flags_document():
    flags = parse_failover_flags(json.dumps({"models": {
        "small": {"state": "down", "source": "alarm", "reason": "errors", "set_by": "failover-controller"},
        "large": {"state": "up", "source": "manual", "reason": "vendor confirmed fixed", "set_by": "ops@example.com"},
    }}))
    assert flags.down_models() == frozenset({"small"})
    with pytest.raises(ConfigError, match="models.small.state"):
        parse_failover_flags(json.dumps({"models": {"small": {"state": "sideways", "source": "alarm"}}}))


def test_a_risk_pattern_that_cannot_compile_the_way_the_router_matches_is_rejected():
    # (?u) contradicts the ASCII matching the router uses: it must fail validation, not every request
    data = config_dict(risk_patterns=[{"id": "x", "pattern": r"(?u)\bsecret\b", "action": "reject"}])
    assert "risk_patterns.0.pattern: not a valid regular expression" in rejected(data)


def test_a_price_of_infinity_is_rejected_naming_the_field():
    raw = json.dumps(config_dict()).replace('"input_per_1k": 0.015', '"input_per_1k": Infinity')
    assert "models.large.price.input_per_1k: inf is not a finite number" in rejected_raw(raw)


def test_nan_and_overflowing_numbers_are_rejected_anywhere_in_the_document():
    raw = json.dumps(config_dict(version="x")).replace('"max_tokens": 500', '"max_tokens": NaN')
    assert "routes.faq.max_tokens: nan is not a finite number" in rejected_raw(raw)
    raw = json.dumps(config_dict()).replace('"max_cost_per_request_usd": 0.05', '"max_cost_per_request_usd": 1e999')
    assert "tiers.free.max_cost_per_request_usd: inf is not a finite number" in rejected_raw(raw)


def test_a_non_finite_number_is_rejected_when_the_model_is_built_in_code_too():
    from routing_engine.config import Price
    with pytest.raises(ValueError, match="finite number"):
        Price(input_per_1k=float("inf"), output_per_1k=0.0)


def test_a_duplicate_key_is_rejected_naming_its_path():
    # json keeps the last of two equal keys silently: `faq` would route to whichever came last
    raw = json.dumps(config_dict()).replace('"faq": {"model": "small",', '"faq": {"model": "large", "model": "small",')
    assert "routes.faq.model: duplicate key" in rejected_raw(raw)
    top = json.dumps(config_dict())[:-1] + ', "default_route": "support"}'
    assert "default_route: duplicate key" in rejected_raw(top)


def test_unknown_model_route_must_name_a_route():
    assert "unknown_model_route: unknown route 'nowhere'" in rejected(config_dict(unknown_model_route="nowhere"))


def rejected_raw(raw: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse_routing_config(raw)
    return str(err.value)
