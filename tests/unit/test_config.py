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
from tests.unit.engine_fixtures import config_dict, labelled, scorer_spec
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
    assert "routes.auto.dynamic.rules[0].when.complexity.gte: complexity thresholds must be within [0, 1]" in rejected(
        data
    )


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
    flags = parse_failover_flags(
        json.dumps(
            {
                "models": {
                    "small": {"state": "down", "source": "alarm", "reason": "errors", "set_by": "failover-controller"},
                    "large": {
                        "state": "up",
                        "source": "manual",
                        "reason": "vendor confirmed fixed",
                        "set_by": "ops@example.com",
                    },
                }
            }
        )
    )
    assert flags.down_models() == frozenset({"small"})
    with pytest.raises(ConfigError, match="models.small.state"):
        parse_failover_flags(json.dumps({"models": {"small": {"state": "sideways", "source": "alarm"}}}))


def test_a_risk_pattern_that_cannot_compile_the_way_the_router_matches_is_rejected():
    # (?u) contradicts the ASCII matching the router uses: it must fail validation, not every request
    data = config_dict(risk_patterns=[{"id": "x", "pattern": r"(?u)\bsecret\b", "action": "reject"}])
    assert "risk_patterns.0.pattern: not a valid regular expression" in rejected(data)


def test_a_price_of_infinity_is_rejected_naming_the_field():
    raw = json.dumps(config_dict()).replace('"input_per_million": 15.0', '"input_per_million": Infinity')
    assert "models.large.price.input_per_million: inf is not a finite number" in rejected_raw(raw)


def test_a_price_per_1k_tokens_is_refused_naming_the_new_key_and_the_conversion():
    # read as per million, an old document's prices would all be a thousand times too low
    data = config_dict()
    data["models"]["small"]["price"] = {"input_per_1k": 0.0008, "output_per_million": 5.0}
    assert (
        "models.small.price: input_per_1k is no longer accepted: prices are USD per million tokens, as AWS "
        "publishes them; use input_per_million, which is input_per_1k times 1000 (here: 0.8)"
    ) in rejected(data)
    data["models"]["small"]["price"] = {"input_per_1k": 0.001, "output_per_1k": 0.005}
    message = rejected(data)
    assert "use input_per_million" in message and "use output_per_million" in message and "(here: 5)" in message


def test_prices_are_per_million_tokens():
    config = parse_routing_config(BUNDLED.read_bytes())
    # Claude Haiku 4.5 through a geographic profile: Anthropic's list price ($1 / $5), which is the global rate, +10%
    assert config.models["claude-haiku"].price.model_dump() == {
        "input_per_million": 1.1,
        "output_per_million": 5.5,
        # prompt caching: reads 0.1x, 5-minute writes 1.25x, 1-hour writes 2x the input price (issue16-18-facts §3)
        "cache_read_per_million": 0.11,
        "cache_write_per_million": 1.375,
        "cache_write_1h_per_million": 2.2,
    }


def test_a_model_that_caches_must_be_priced_for_it():
    data = config_dict()
    data["models"]["small"]["prompt_caching"] = {"min_tokens": 1024, "ttls": ["5m", "1h"]}
    message = rejected(data)
    assert "prompt_caching needs the cache prices too" in message
    assert "cache_read_per_million" in message and "cache_write_1h_per_million" in message
    data["models"]["small"]["price"] |= {"cache_read_per_million": 0.08, "cache_write_per_million": 1.0}
    data["models"]["small"]["prompt_caching"]["ttls"] = ["5m"]
    assert parse_routing_config(json.dumps(data).encode()).models["small"].prompt_caching.max_points == 4


def test_the_json_schema_shows_the_defaults():
    # the AppConfig console shows them to whoever edits the document
    definitions = routing_json_schema()["definitions"]
    assert definitions["ModelSpec"]["properties"]["quality"]["default"] == 50
    assert definitions["Resilience"]["properties"]["max_attempts"]["default"] == 3
    assert definitions["DynamicPolicy"]["properties"]["default"]["default"]["strategy"] == "cheapest_capable"
    jsonschema.Draft4Validator.check_schema(routing_json_schema())


def test_nan_and_overflowing_numbers_are_rejected_anywhere_in_the_document():
    raw = json.dumps(config_dict(version="x")).replace('"max_tokens": 500', '"max_tokens": NaN')
    assert "routes.faq.max_tokens: nan is not a finite number" in rejected_raw(raw)
    raw = json.dumps(config_dict()).replace('"max_cost_per_request_usd": 0.05', '"max_cost_per_request_usd": 1e999')
    assert "tiers.free.max_cost_per_request_usd: inf is not a finite number" in rejected_raw(raw)


def test_a_non_finite_number_is_rejected_when_the_model_is_built_in_code_too():
    from routing_engine.config import Price

    with pytest.raises(ValueError, match="finite number"):
        Price(input_per_million=float("inf"), output_per_million=0.0)


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


# --- scorers: the complexity weights delivered in the configuration -----------------------------------


def with_scorer(name: str = "tuned-1", spec: dict | None = None, route: str = "auto") -> dict:
    data = config_dict(scorers={name: spec if spec is not None else scorer_spec(0.0)})
    data["routes"][route]["dynamic"]["scorer"] = name
    return data


def test_a_route_may_name_a_scorer_of_the_configuration():
    # Given a scorer spec under `scorers` and a route that names it, when the document is parsed,
    # then the scorer is compiled once, with the document, under its configured name and version
    config = parse_routing_config(json.dumps(with_scorer(spec=scorer_spec(0.0, version="retrained-7"))))
    scorer = config.scorer(config.routes["auto"].dynamic.scorer)
    assert (scorer.name, scorer.version) == ("tuned-1", "retrained-7")
    assert config.scorer("tuned-1") is scorer


def test_routes_use_the_bundled_scorer_unless_they_name_another():
    config = parse_routing_config(json.dumps(config_dict()))
    assert config.routes["auto"].dynamic.scorer == "bundled"
    assert config.scorer("bundled").name == "bundled"


def test_a_route_naming_an_unknown_scorer_is_rejected():
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["scorer"] = "ghost"
    assert "routes.auto.dynamic.scorer: unknown scorer 'ghost' (known: bundled)" in rejected(data)


def test_a_broken_scorer_spec_is_rejected_naming_the_field_inside_the_spec():
    # Given a spec with one coefficient too few (the scorer itself finds it, not only the JSON Schema)
    spec = scorer_spec(0.0)
    spec["dense"]["coef"] = spec["dense"]["coef"][:-1]
    message = rejected(with_scorer("my-scorer", spec))
    assert message.startswith("scorers.my-scorer.dense.coef: must be a list of")


def test_a_scorer_trained_for_another_feature_set_is_rejected():
    spec = scorer_spec(0.0)
    spec["feature_set"] = "v1"
    assert "scorers.tuned-1.feature_set: 'v1' is not a feature set this code computes (v3)" in rejected(
        with_scorer(spec=spec)
    )


def test_a_bucket_outside_the_hash_range_is_rejected_naming_the_pair():
    spec = scorer_spec(0.0)
    spec["hashed"]["coef"] = [[3, 0.5], [300_000, 0.1]]
    assert "scorers.tuned-1.hashed.coef[1]: bucket 300000 is out of range" in rejected(with_scorer(spec=spec))


def test_a_scorer_spec_of_the_wrong_type_is_rejected_by_the_schema_too():
    spec = scorer_spec(0.0)
    spec["intercept"] = "high"
    data = with_scorer(spec=spec)
    assert "scorers.tuned-1.intercept: Input should be a valid number" in rejected(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(routing_json_schema()).validate(data)


def test_the_bundled_scorer_name_cannot_be_redefined():
    data = config_dict(scorers={"bundled": scorer_spec(5.0)})
    assert "scorers.bundled: the name 'bundled' is reserved" in rejected(data)


def test_a_configuration_with_a_scorer_validates_against_the_appconfig_json_schema():
    data = with_scorer()
    jsonschema.Draft4Validator(routing_json_schema()).validate(data)
    data["scorers"]["tuned-1"]["dense"]["extra"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(routing_json_schema()).validate(data)


# --- labelling: the label loop of a route ---------------------------------------------------------------


def test_labelling_defaults_come_from_the_policy():
    # Given a labelled route with only the required fields, when parsed, then the weak model is the default
    # target's, the strong model the one the first complexity rule targets, and that rule is the one trained
    config = parse_routing_config(json.dumps(labelled()))
    lab = config.labelling_of("tuned")
    assert (lab.weak_model, lab.strong_model, lab.rule) == ("small", "large", "hard")
    assert (lab.sample_rate, lab.daily_budget_usd, lab.judge_model) == (0.05, 2.0, "large")
    assert (lab.auto_deploy, lab.min_labels, lab.target_strong_share) == (False, 200, None)
    assert config.labelling_of("faq") is None


def test_a_static_route_cannot_be_labelled():
    data = config_dict()
    data["routes"]["faq"]["labelling"] = {"sample_rate": 0.1, "daily_budget_usd": 1, "judge_model": "large"}
    assert "routes.faq.labelling: only a dynamic or shadow route can be labelled" in rejected(data)


def test_a_shadow_route_can_be_labelled():
    data = labelled()
    data["routes"]["tuned"]["mode"] = "shadow"
    assert parse_routing_config(json.dumps(data)).labelling_of("tuned").strong_model == "large"


def test_the_judge_must_be_a_catalog_model():
    assert "routes.tuned.labelling.judge_model: unknown model 'oracle'" in rejected(labelled(judge_model="oracle"))


def test_the_judge_is_required():
    data = labelled()
    del data["routes"]["tuned"]["labelling"]["judge_model"]
    assert "routes.tuned.labelling.judge_model: Field required" in rejected(data)


def test_weak_and_strong_must_differ():
    assert "routes.tuned.labelling: the weak and the strong model are both 'large'" in rejected(
        labelled(weak_model="large")
    )


def test_the_strong_model_must_be_the_one_the_labelled_rule_targets():
    assert "routes.tuned.labelling.strong_model: 'medium' is not the model rule 'hard' targets ('large')" in rejected(
        labelled(strong_model="medium")
    )


def test_a_named_rule_must_exist_and_have_a_complexity_floor():
    assert (
        "routes.tuned.labelling.rule: no rule 'nope' in routes.tuned.dynamic.rules (known: images, hard)"
        in rejected(labelled(rule="nope"))
    )
    assert "routes.tuned.labelling.rule: rule 'images' has no complexity gte or gt condition" in rejected(
        labelled(rule="images")
    )


def test_a_policy_without_a_complexity_threshold_cannot_be_labelled():
    data = labelled()
    data["routes"]["tuned"]["dynamic"]["rules"].pop()  # only the images rule is left
    assert (
        "routes.tuned.labelling.rule: no rule of routes.tuned.dynamic has a complexity gte or gt condition"
        in rejected(data)
    )


def test_a_complexity_ceiling_is_no_threshold_to_train():
    data = labelled()
    data["routes"]["tuned"]["dynamic"]["rules"][1]["when"] = {"complexity": {"lt": 0.3}}
    assert "has a complexity gte or gt condition" in rejected(data)


def test_the_labelled_rule_may_only_bound_complexity_from_below():
    # Given a labelled rule that also caps complexity, or also tests the prompt's size
    banded = labelled()
    banded["routes"]["tuned"]["dynamic"]["rules"][1]["when"] = {"complexity": {"gte": 0.6, "lt": 0.9}}
    sized = labelled()
    sized["routes"]["tuned"]["dynamic"]["rules"][1]["when"] = {
        "complexity": {"gte": 0.6},
        "estimated_tokens": {"lte": 2000},
    }
    # Then both are refused before traffic: training calibrates one lower bound and nothing else
    assert "routes.tuned.labelling.rule: rule 'hard' also bounds complexity with lt" in rejected(banded)
    assert "routes.tuned.labelling.rule: rule 'hard' also tests estimated_tokens" in rejected(sized)


def test_the_weak_model_must_be_the_one_the_route_defaults_to():
    assert (
        "routes.tuned.labelling.weak_model: 'medium' is not the model of routes.tuned.dynamic.default ('small')"
    ) in rejected(labelled(weak_model="medium"))


def test_the_labelled_rule_must_target_a_model_not_a_strategy():
    data = labelled()
    data["routes"]["tuned"]["dynamic"]["rules"][1]["target"] = {"strategy": "strongest_within_budget"}
    assert (
        "routes.tuned.labelling.rule: rule 'hard' targets strategy strongest_within_budget; labels compare two "
        "fixed models"
    ) in rejected(data)


def test_the_weak_model_is_required_when_the_default_is_a_strategy():
    data = labelled()
    data["routes"]["tuned"]["dynamic"]["default"] = {"strategy": "cheapest_capable"}
    assert (
        "routes.tuned.labelling.weak_model: required here: the policy's default target is strategy "
        "cheapest_capable" in rejected(data)
    )
    data["routes"]["tuned"]["labelling"]["weak_model"] = "small"
    assert parse_routing_config(json.dumps(data)).labelling_of("tuned").weak_model == "small"


def test_labelled_models_must_be_candidates_of_the_route():
    data = labelled(weak_model="medium")
    data["routes"]["tuned"]["dynamic"]["candidates"] = ["small", "large"]
    assert "routes.tuned.labelling.weak_model: 'medium' is not one of routes.tuned.dynamic.candidates" in rejected(data)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sample_rate", 0, "routes.tuned.labelling.sample_rate: Input should be greater than 0"),
        ("sample_rate", 1.5, "routes.tuned.labelling.sample_rate: Input should be less than or equal to 1"),
        ("daily_budget_usd", 0, "routes.tuned.labelling.daily_budget_usd: Input should be greater than 0"),
        ("min_labels", 5, "routes.tuned.labelling.min_labels: Input should be greater than or equal to 20"),
        ("target_strong_share", 1, "routes.tuned.labelling.target_strong_share: Input should be less than 1"),
        ("auto_deploy", "yes please", "routes.tuned.labelling.auto_deploy: Input should be a valid boolean"),
        ("sampling", 0.1, "routes.tuned.labelling.sampling: Extra inputs are not permitted"),
    ],
)
def test_labelling_numbers_out_of_range_are_rejected(field, value, message):
    assert message in rejected(labelled(**{field: value}))


def test_a_labelled_configuration_validates_against_the_appconfig_json_schema():
    data = labelled(target_strong_share=0.3, auto_deploy=True, min_labels=50)
    parse_routing_config(json.dumps(data))
    jsonschema.Draft4Validator(routing_json_schema()).validate(data)
    data["routes"]["tuned"]["labelling"]["sample_rate"] = 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(routing_json_schema()).validate(data)
