"""The one AppConfig writer (aws_adapters.appconfig_writer): its requests, checked by botocore's Stubber against
the real AppConfig service model."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from aws_adapters.appconfig_writer import AppConfigTarget, AppConfigWriter, error_code

APP, ENV, PROFILE, STRATEGY = "app1234", "env1234", "prof123", "strat12"
BASE = {"ApplicationId": APP, "ConfigurationProfileId": PROFILE}


@pytest.fixture
def stubbed():
    client = boto3.client("appconfig", region_name="us-east-1")
    writer = AppConfigWriter(client, AppConfigTarget(APP, ENV, PROFILE, STRATEGY))
    with Stubber(client) as stub:
        yield writer, stub
        stub.assert_no_pending_responses()


def test_a_version_is_created_with_a_header_safe_description_a_label_and_the_version_lock(stubbed):
    writer, stub = stubbed
    # Given a description that is not ASCII and too long for a header, a label, and the version it is based on
    stub.add_response(
        "create_hosted_configuration_version",
        {**BASE, "VersionNumber": 8},
        {
            **BASE,
            "Content": b"{}",
            "ContentType": "application/json",
            "Description": "r?sum? " + "x" * 1017,
            "LatestVersionNumber": 7,
            "VersionLabel": "tech_support-2026",
        },
    )
    # When the version is created, then the request carries all of them, made safe, and its number comes back
    number = writer.create_version(
        b"{}", description="r\u00e9sum\u00e9 " + "x" * 2000, label="tech_support-2026", latest_version=7
    )
    assert number == 8


def test_an_all_digit_label_is_left_out_and_no_lock_is_sent_without_a_base_version(stubbed):
    writer, stub = stubbed
    stub.add_response(
        "create_hosted_configuration_version",
        {**BASE, "VersionNumber": 1},
        {**BASE, "Content": b"{}", "ContentType": "application/json", "Description": "first"},
    )
    assert writer.create_version(b"{}", description="first", label="2026") == 1


def test_a_deployment_is_started_with_the_strategy_and_a_refusal_is_a_client_error(stubbed):
    writer, stub = stubbed
    expected = {
        "ApplicationId": APP,
        "EnvironmentId": ENV,
        "DeploymentStrategyId": STRATEGY,
        "ConfigurationProfileId": PROFILE,
        "ConfigurationVersion": "8",
        "Description": "why",
    }
    stub.add_response("start_deployment", {"DeploymentNumber": 3, "State": "DEPLOYING"}, expected)
    stub.add_client_error(
        "start_deployment", service_error_code="ConflictException", http_status_code=409, expected_params=expected
    )
    assert writer.start_deployment(8, description="why") == 3
    with pytest.raises(ClientError) as refused:
        writer.start_deployment(8, description="why")
    assert error_code(refused.value) == "ConflictException"
