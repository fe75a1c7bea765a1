"""Issue 8, item 3: `cdk destroy` removes the hosted versions AppConfig would refuse to delete a profile with."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from stacks.constructs import appconfig_cleanup_handler as cleanup_handler
from stacks.constructs.appconfig_cleanup import HANDLER_SOURCE, INLINE_CODE_MAX_CHARS, RESOURCE_TYPE
from tests.infra.helpers import as_list, controller_function, render, resources

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/ModelRouter-dev/0a1b2c3d"
APP, PROFILE = "app0001", "prof001"


# --- at synth -----------------------------------------------------------------------------------


def _cleanups(raw) -> dict[str, dict]:
    return resources(raw, RESOURCE_TYPE)


def test_each_profile_has_a_cleanup_that_runs_before_it_is_deleted(api_key_app):
    raw = api_key_app.raw
    profiles = resources(raw, "AWS::AppConfig::ConfigurationProfile")

    cleaned = {c["Properties"]["ConfigurationProfileId"]["Ref"] for c in _cleanups(raw).values()}

    # Each custom resource refers to its profile, so CloudFormation deletes it (runs it) first.
    assert cleaned == set(profiles)
    for cleanup in _cleanups(raw).values():
        assert cleanup["Properties"]["ApplicationId"] == {
            "Ref": next(iter(resources(raw, "AWS::AppConfig::Application")))
        }
        assert cleanup["DeletionPolicy"] == "Delete"


def test_the_flags_writer_is_deleted_before_the_cleanup_runs(api_key_app):
    raw = api_key_app.raw
    controller_id = [k for k, v in raw["Resources"].items() if v is controller_function(raw)][0]

    depends_on = set(raw["Resources"][controller_id].get("DependsOn", []))

    assert set(_cleanups(raw)) <= depends_on  # so no flags version appears after the cleanup


def test_the_cleanup_function_is_inline_and_least_privilege(api_key_app):
    raw = api_key_app.raw
    (cleanup,) = [
        f for f in resources(raw, "AWS::Lambda::Function").values() if f["Properties"]["Handler"] == "index.handler"
    ]
    assert cleanup["Properties"]["Code"]["ZipFile"] == HANDLER_SOURCE.read_text()
    assert len(HANDLER_SOURCE.read_text()) <= INLINE_CODE_MAX_CHARS
    role_id = cleanup["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in resources(raw, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    by_action: dict[str, set[str]] = {}
    for s in statements:
        for action in as_list(s["Action"]):
            by_action.setdefault(action, set()).update(render(r, raw) for r in as_list(s["Resource"]))

    assert set(by_action) == {
        "appconfig:ListHostedConfigurationVersions",
        "appconfig:DeleteHostedConfigurationVersion",
        "cloudformation:DescribeStacks",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert by_action["cloudformation:DescribeStacks"] == {"${AWS::StackId}"}
    deletable = by_action["appconfig:DeleteHostedConfigurationVersion"]
    assert "*" not in deletable
    assert {a for a in deletable if a.endswith("/hostedconfigurationversion/*")} == {
        "arn:${AWS::Partition}:appconfig:${AWS::Region}:${AWS::AccountId}:application/${AWS::AppConfig::Application}"
        "/configurationprofile/${AWS::AppConfig::ConfigurationProfile}/hostedconfigurationversion/*"
    }
    profile_ids = sorted(resources(raw, "AWS::AppConfig::ConfigurationProfile"))
    version_grants = [
        json.dumps(r)
        for st in statements
        if "appconfig:DeleteHostedConfigurationVersion" in as_list(st["Action"])
        for r in as_list(st["Resource"])
        if "hostedconfigurationversion" in json.dumps(r)
    ]
    assert sorted(next(p for p in profile_ids if p in g) for g in version_grants) == profile_ids  # both, only them


# --- the handler, against the real service models (Stubber) -------------------------------------


class Context:
    def __init__(self, remaining_ms: int = 600_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _clients():
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    appconfig = boto3.client("appconfig", region_name="us-east-1")
    return cloudformation, Stubber(cloudformation), appconfig, Stubber(appconfig)


def _stack(status: str) -> dict:
    return {
        "Stacks": [
            {
                "StackName": "ModelRouter-dev",
                "StackId": STACK_ID,
                "CreationTime": "2025-06-01T00:00:00Z",
                "StackStatus": status,
            }
        ]
    }


def test_on_stack_delete_every_version_of_the_profile_is_deleted_across_pages():
    cloudformation, cf_stub, appconfig, ac_stub = _clients()
    base = {"ApplicationId": APP, "ConfigurationProfileId": PROFILE}
    cf_stub.add_response("describe_stacks", _stack("DELETE_IN_PROGRESS"), {"StackName": STACK_ID})
    ac_stub.add_response(
        "list_hosted_configuration_versions",
        {"Items": [{**base, "VersionNumber": 3}, {**base, "VersionNumber": 1}], "NextToken": "n"},
        {**base, "MaxResults": 50},
    )
    ac_stub.add_response(
        "list_hosted_configuration_versions",
        {"Items": [{**base, "VersionNumber": 2}]},
        {**base, "MaxResults": 50, "NextToken": "n"},
    )
    for number in (1, 2, 3):
        ac_stub.add_response("delete_hosted_configuration_version", {}, {**base, "VersionNumber": number})

    with cf_stub, ac_stub:
        reason = cleanup_handler.cleanup(cloudformation, appconfig, STACK_ID, APP, PROFILE, lambda: 600_000)

    ac_stub.assert_no_pending_responses()
    assert reason == "deleted 3 hosted versions"


@pytest.mark.parametrize(
    "status", ["UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_IN_PROGRESS"]
)
def test_a_delete_outside_stack_deletion_keeps_every_version(status):
    # A renamed construct or an update cleanup sends Delete too: a live profile must keep its versions.
    cloudformation, cf_stub, appconfig, ac_stub = _clients()
    cf_stub.add_response("describe_stacks", _stack(status), {"StackName": STACK_ID})

    with cf_stub, ac_stub:  # ac_stub has no responses: any AppConfig call would fail the test
        reason = cleanup_handler.cleanup(cloudformation, appconfig, STACK_ID, APP, PROFILE, lambda: 600_000)

    assert "kept" in reason


def test_a_profile_that_is_already_gone_is_success():
    cloudformation, cf_stub, appconfig, ac_stub = _clients()
    cf_stub.add_response("describe_stacks", _stack("ROLLBACK_IN_PROGRESS"), {"StackName": STACK_ID})
    ac_stub.add_client_error(
        "list_hosted_configuration_versions", service_error_code="ResourceNotFoundException", http_status_code=404
    )

    with cf_stub, ac_stub:
        reason = cleanup_handler.cleanup(cloudformation, appconfig, STACK_ID, APP, PROFILE, lambda: 600_000)

    assert reason == "profile already deleted"


def _event(request_type: str) -> dict:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/x",
        "StackId": STACK_ID,
        "RequestId": "req-1",
        "LogicalResourceId": "Cleanup",
        "PhysicalResourceId": f"{APP}/{PROFILE}/hosted-versions",
        "ResourceType": RESOURCE_TYPE,
        "ResourceProperties": {"ServiceToken": "arn", "ApplicationId": APP, "ConfigurationProfileId": PROFILE},
    }


def test_the_handler_always_answers_cloudformation_even_when_the_cleanup_fails(monkeypatch):
    sent = []
    monkeypatch.setattr(
        cleanup_handler, "send", lambda event, status, reason, physical: sent.append((status, reason, physical))
    )
    monkeypatch.setattr(cleanup_handler, "cleanup", lambda *a: (_ for _ in ()).throw(RuntimeError("AccessDenied")))
    monkeypatch.setattr(cleanup_handler.boto3, "client", lambda *a, **k: object())

    cleanup_handler.handler(_event("Delete"), Context())
    cleanup_handler.handler(_event("Create"), Context())

    assert sent[0] == ("FAILED", "RuntimeError: AccessDenied", f"{APP}/{PROFILE}/hosted-versions")
    assert sent[1][0] == "SUCCESS"  # create and update do nothing


def test_the_response_is_the_put_cloudformation_expects(monkeypatch):
    captured = {}

    class Response:
        def close(self):
            pass

    def urlopen(request, **_timeout):
        captured.update(
            method=request.get_method(),
            url=request.full_url,
            body=json.loads(request.data),
            headers=dict(request.header_items()),
        )
        return Response()

    monkeypatch.setattr(cleanup_handler.urllib.request, "urlopen", urlopen)

    cleanup_handler.send(_event("Delete"), "SUCCESS", "deleted 2 hosted versions", "phys")

    assert captured["method"] == "PUT" and captured["url"] == _event("Delete")["ResponseURL"]
    assert captured["body"] == {
        "Status": "SUCCESS",
        "Reason": "deleted 2 hosted versions",
        "PhysicalResourceId": "phys",
        "StackId": STACK_ID,
        "RequestId": "req-1",
        "LogicalResourceId": "Cleanup",
    }
    assert captured["headers"]["Content-type"] == ""  # the presigned URL is signed without a content type


def test_a_failed_first_create_does_not_keep_the_hosted_versions(api_key_app):
    # Retain holds during a create rollback, and a kept version blocks deleting its profile (ROLLBACK_FAILED)
    versions = resources(api_key_app.raw, "AWS::AppConfig::HostedConfigurationVersion")
    assert versions and all(v.get("DeletionPolicy") == "RetainExceptOnCreate" for v in versions.values())


def test_the_controllers_permissions_outlive_the_cleanup_too(api_key_app):
    raw = api_key_app.raw
    cleanups = set(resources(raw, "Custom::AppConfigHostedVersionsCleanup"))
    controller_policies = [
        k for k, v in resources(raw, "AWS::IAM::Policy").items() if k.startswith("FailoverController")
    ]
    assert controller_policies
    for key in controller_policies:
        assert cleanups <= set(raw["Resources"][key].get("DependsOn", [])), key
