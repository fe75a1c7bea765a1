"""CDK context validation: defaults, coercion of `-c key=value` strings, clear errors."""

import pytest

from stacks.settings import Settings, SettingsError, settings_from_context


def test_defaults_when_context_is_empty():
    settings = settings_from_context({})

    assert settings == Settings()
    assert (settings.stage, settings.auth_mode, settings.config_cache_seconds) == ("dev", "api_key", 45)
    assert settings.account is None and settings.region is None  # env-agnostic


def test_cdk_json_context_is_valid_and_matches_the_defaults(cdk_context):
    assert settings_from_context(cdk_context) == Settings()


def test_command_line_strings_are_coerced():
    settings = settings_from_context(
        {"throttle_rate_limit": "10", "throttle_burst_limit": "20", "lambda_memory_mb": "512"}
    )

    assert (settings.throttle_rate_limit, settings.throttle_burst_limit, settings.lambda_memory_mb) == (10, 20, 512)


def test_feature_flags_and_cli_keys_are_ignored():
    settings_from_context({"@aws-cdk/core:stackRelativeExports": True, "aws:cdk:enable-path-metadata": True})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("auth_mode", "cognito", "auth_mode"),
        ("throttle_rate_limit", -1, "throttle_rate_limit"),
        ("config_cache_seconds", 301, "config_cache_seconds"),
        ("log_retention_days", 10, "must be one of 1, 3, 5"),
        ("stream_timeout_seconds", 901, "stream_timeout_seconds"),
        ("controller_reserved_concurrency", 0, "controller_reserved_concurrency"),
        ("lwa_layer_version", "latest", "lwa_layer_version"),
        ("region", "us-gov-west-1", "commercial regions only"),
        ("region", "cn-north-1", "commercial regions only"),
        ("stage", "Prod_1", "stage"),
        ("deployment_growth_type", "CANARY", "deployment_growth_type"),
        ("powertools_version", "latest", "powertools_version"),
        ("region", "mars-1", "region"),
        ("alarm_period_seconds", 90, "multiple of 60"),
        ("model_error_rate_threshold", 1.5, "model_error_rate_threshold"),
        ("flags_cache_seconds", 0, "flags_cache_seconds"),
        ("alarm_datapoints_to_alarm", 4, "at most alarm_evaluation_periods"),
        ("labeller_max_concurrency", 1, "labeller_max_concurrency"),  # Lambda's event source minimum is 2
        ("labeller_max_concurrency", 1001, "labeller_max_concurrency"),
        ("trainer_schedule", "daily", "must be cron"),
        ("trainer_schedule", "cron(30 1 * * ?)", "six fields"),
        ("trainer_schedule", "cron(30 1 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("trainer_schedule", "rate(1 days)", "singular"),
        ("trainer_schedule", "rate(0 hours)", "must be cron"),
    ],
)
def test_bad_values_name_the_key(key, value, expected):
    with pytest.raises(SettingsError, match=expected) as info:
        settings_from_context({key: value})

    assert f"'{key}'" in str(info.value)


def test_burst_smaller_than_rate_is_refused():
    with pytest.raises(SettingsError, match="throttle_burst_limit.*at least throttle_rate_limit"):
        settings_from_context({"throttle_rate_limit": 100, "throttle_burst_limit": 10})


def test_unknown_key_is_refused_with_the_known_ones():
    with pytest.raises(
        SettingsError, match="unknown CDK context key.*throtle_rate_limit.*known: .*throttle_rate_limit"
    ):
        settings_from_context({"throtle_rate_limit": 5})


@pytest.mark.parametrize(
    "expression", ["cron(30 1 * * ? *)", "cron(0 */6 ? * MON-FRI *)", "rate(1 day)", "rate(12 hours)"]
)
def test_eventbridge_scheduler_expressions_are_accepted(expression):
    assert settings_from_context({"trainer_schedule": expression}).trainer_schedule == expression
