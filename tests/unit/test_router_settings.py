"""`RouterSettings.from_env`: the router's one reading of its environment."""

from __future__ import annotations

import subprocess
import sys

import pytest

from router.settings import AppConfigIds, RouterSettings, SettingsError

LAMBDA_ENV = {
    "AWS_REGION": "eu-west-1",
    "AWS_LAMBDA_FUNCTION_NAME": "model-router-dev-Router",
    "APPCONFIG_APPLICATION_ID": "app0001",
    "APPCONFIG_ENVIRONMENT_ID": "env0001",
    "APPCONFIG_PROFILE_ID": "prof001",
    "APPCONFIG_FLAGS_ENVIRONMENT_ID": "env0002",
    "APPCONFIG_FLAGS_PROFILE_ID": "prof002",
    "CONFIG_MAX_AGE_SECONDS": "30",
    "FLAGS_MAX_AGE_SECONDS": "5",
    "SPEND_TABLE_NAME": "spend",
    "ROUTER_MAX_REQUEST_SECONDS": "900",
    "LABEL_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/labels",
}


def test_the_stacks_environment_reads_as_appconfig_stores_and_limits():
    # Given the environment the stack sets, when it is read
    settings = RouterSettings.from_env(LAMBDA_ENV)
    # Then both AppConfig stores, the caches, the limits and the queues are named
    assert settings.in_lambda and settings.region == "eu-west-1"
    assert settings.routing == AppConfigIds("app0001", "env0001", "prof001")
    assert settings.flags == AppConfigIds("app0001", "env0002", "prof002")
    assert (settings.config_max_age_s, settings.flags_max_age_s) == (30, 5)
    assert (settings.spend_table_name, settings.max_request_s) == ("spend", 900.0)
    assert settings.label_queue_url == LAMBDA_ENV["LABEL_QUEUE_URL"] and settings.label_sample_seed is None
    assert settings.config_file is None and settings.budget_cache_s is None


@pytest.mark.parametrize("missing", ["APPCONFIG_APPLICATION_ID", "APPCONFIG_ENVIRONMENT_ID", "APPCONFIG_PROFILE_ID"])
def test_without_a_config_file_each_appconfig_id_is_required_by_name(missing):
    env = {k: v for k, v in LAMBDA_ENV.items() if k != missing}
    with pytest.raises(SettingsError, match=f"environment variable {missing} is required"):
        RouterSettings.from_env(env)


def test_local_files_need_no_appconfig_and_empty_values_count_as_unset():
    # Given local mode's environment: files, no AppConfig, and a variable set to nothing
    settings = RouterSettings.from_env(
        {"ROUTER_CONFIG_FILE": "config/routing.json", "ROUTER_FLAGS_FILE": "flags.json", "PROMPT_ROUTER_ARN": ""}
    )
    # Then the files are the sources, and defaults stand in for the rest
    assert (settings.config_file, settings.flags_file) == ("config/routing.json", "flags.json")
    assert settings.routing is None and settings.flags is None and settings.prompt_router_arn is None
    assert not settings.in_lambda and settings.config_max_age_s == 45 and settings.flags_max_age_s == 10


def test_a_label_sample_seed_must_be_an_integer_when_there_is_a_label_queue():
    env = {"ROUTER_CONFIG_FILE": "c.json", "LABEL_QUEUE_URL": "https://sqs/q"}
    assert RouterSettings.from_env({**env, "LABEL_SAMPLE_SEED": "-7"}).label_sample_seed == -7
    with pytest.raises(SettingsError, match="LABEL_SAMPLE_SEED must be an integer"):
        RouterSettings.from_env({**env, "LABEL_SAMPLE_SEED": "seven"})


def test_importing_the_settings_loads_no_web_framework_and_no_sdk():
    # The CDK app imports the env names from here: it must stay a standard-library module
    code = "import sys, router.settings; print(sorted(m for m in ('starlette', 'boto3', 'botocore', 'pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
