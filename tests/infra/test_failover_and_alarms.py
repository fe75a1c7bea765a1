"""Issue 4 infrastructure: flags store, alarms, failover controller, rollout monitor, dashboard."""

import json

from aws_cdk.assertions import Match

from routing_engine.config import flags_json_schema, parse_routing_config
from routing_engine.config.geography import base_model_id
from stacks.settings import REPO_ROOT
from tests.infra.conftest import IAM_APP_ALARM_CONTEXT
from tests.infra.helpers import (
    alarms_by_name,
    as_list,
    controller_function,
    render,
    resources,
    router_function,
)

CONFIG = parse_routing_config((REPO_ROOT / "config" / "routing.json").read_bytes())
MODELS = sorted(CONFIG.models)
ROUTER_KINDS = ("error-rate", "throttle-rate", "latency-p90")
BEDROCK_KINDS = ("bedrock-server-errors", "bedrock-throttles")


def _metrics(alarm: dict) -> dict[str, dict]:
    """Metric-math alarm: query id -> MetricStat.Metric."""
    return {q["Id"]: q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q}


def _expression(alarm: dict) -> str:
    (expr,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
    return expr


# --- flags store ---------------------------------------------------------------------------------


def test_flags_have_their_own_environment_profile_and_zero_bake_strategy(api_key_app):
    template = api_key_app.template
    template.has_resource_properties("AWS::AppConfig::Environment", {"Name": "dev-flags", "Monitors": Match.absent()})
    template.has_resource_properties(
        "AWS::AppConfig::DeploymentStrategy",
        {"GrowthFactor": 100, "DeploymentDurationInMinutes": 0, "FinalBakeTimeInMinutes": 0},
    )
    (profile,) = [
        p["Properties"]
        for p in resources(api_key_app.raw, "AWS::AppConfig::ConfigurationProfile").values()
        if p["Properties"]["Name"] == "failover-flags"
    ]
    assert (profile["Type"], profile["LocationUri"]) == ("AWS.Freeform", "hosted")
    assert json.loads(profile["Validators"][0]["Content"]) == flags_json_schema()
    template.has_resource_properties(
        "AWS::AppConfig::HostedConfigurationVersion", {"Content": json.dumps({"models": {}})}
    )


def test_flags_and_routing_deploy_to_different_environments(api_key_app):
    profiles = resources(api_key_app.raw, "AWS::AppConfig::ConfigurationProfile")
    name_of = {logical: p["Properties"]["Name"] for logical, p in profiles.items()}
    by_profile = {
        name_of[d["Properties"]["ConfigurationProfileId"]["Ref"]]: d["Properties"]
        for d in resources(api_key_app.raw, "AWS::AppConfig::Deployment").values()
    }
    assert sorted(by_profile) == ["failover-flags", "learned-scorers", "routing"]
    flags, routing = by_profile["failover-flags"], by_profile["routing"]
    assert flags["EnvironmentId"] != routing["EnvironmentId"]
    assert flags["DeploymentStrategyId"] != routing["DeploymentStrategyId"]
    # the learned scorers live in the routing environment (the same rollback monitor watches them)
    assert by_profile["learned-scorers"]["EnvironmentId"] == routing["EnvironmentId"]


# --- alarms --------------------------------------------------------------------------------------


def test_every_model_has_every_alarm_kind_with_default_thresholds(api_key_app):
    alarms = alarms_by_name(api_key_app.raw)
    model_alarms = {n for n in alarms if n.startswith("model-router-dev-model-")}

    expected = {f"model-router-dev-model-{m}-{k}" for m in MODELS for k in ROUTER_KINDS + BEDROCK_KINDS}
    assert model_alarms == expected
    for m, spec in CONFIG.models.items():
        assert alarms[f"model-router-dev-model-{m}-error-rate"]["Threshold"] == 0.2
        assert alarms[f"model-router-dev-model-{m}-throttle-rate"]["Threshold"] == 0.2
        assert alarms[f"model-router-dev-model-{m}-latency-p90"]["Threshold"] == spec.latency_slo_ms


def test_model_alarms_use_the_dimensions_the_router_emits(api_key_app):
    alarms = alarms_by_name(api_key_app.raw)
    for m, spec in CONFIG.models.items():
        error = alarms[f"model-router-dev-model-{m}-error-rate"]
        metrics = _metrics(error)
        assert {(v["Metric"]["MetricName"], v["Stat"]) for v in metrics.values()} == {
            ("ModelLatency", "SampleCount"),
            ("ModelErrors", "Sum"),
        }
        for stat in metrics.values():
            assert stat["Metric"]["Namespace"] == "ModelRouter"
            assert sorted(stat["Metric"]["Dimensions"], key=lambda d: d["Name"]) == [
                {"Name": "Model", "Value": m},
                {"Name": "service", "Value": "model-router"},
            ]
            assert stat["Period"] == 60
        assert _expression(error).startswith("IF(calls >= 5,")  # the minimum-traffic guard
        assert error["TreatMissingData"] == "notBreaching"
        assert (error["EvaluationPeriods"], error["DatapointsToAlarm"]) == (3, 2)
        latency = _metrics(alarms[f"model-router-dev-model-{m}-latency-p90"])
        assert latency["latency"]["Stat"] == "p90"
        bedrock = _metrics(alarms[f"model-router-dev-model-{m}-bedrock-server-errors"])
        assert {v["Metric"]["Namespace"] for v in bedrock.values()} == {"AWS/Bedrock"}
        # the profile id as called and its foundation model: which one Bedrock publishes is undocumented
        assert {d["Value"] for v in bedrock.values() for d in v["Metric"]["Dimensions"]} == {
            spec.model_id,
            base_model_id(spec.model_id),
        }


def test_alarm_thresholds_and_windows_come_from_context(iam_app):
    alarms = alarms_by_name(iam_app.raw)
    model_alarms = {n for n in alarms if n.startswith("model-router-iamtest-model-")}

    assert model_alarms == {f"model-router-iamtest-model-{m}-{k}" for m in MODELS for k in ROUTER_KINDS}
    for m in MODELS:
        error = alarms[f"model-router-iamtest-model-{m}-error-rate"]
        assert error["Threshold"] == IAM_APP_ALARM_CONTEXT["model_error_rate_threshold"]
        assert alarms[f"model-router-iamtest-model-{m}-throttle-rate"]["Threshold"] == 0.4
        assert (error["EvaluationPeriods"], error["DatapointsToAlarm"]) == (5, 3)
        assert {s["Period"] for s in _metrics(error).values()} == {120}
        assert _expression(error).startswith("IF(calls >= 7,")


def test_router_alarms(api_key_app):
    alarms = alarms_by_name(api_key_app.raw)

    five_xx = alarms["model-router-dev-api-5xx-rate"]
    assert five_xx["Threshold"] == 0.05
    names = {v["Metric"]["MetricName"] for v in _metrics(five_xx).values()}
    assert names == {"Count", "5XXError"}
    for stat in _metrics(five_xx).values():
        dims = {d["Name"]: render(d["Value"], api_key_app.raw) for d in stat["Metric"]["Dimensions"]}
        assert dims == {"ApiName": "model-router-dev", "Stage": "${AWS::ApiGateway::Stage}"}  # Ref = stage name
    assert alarms["model-router-dev-router-errors"]["MetricName"] == "Errors"
    assert alarms["model-router-dev-router-throttles"]["MetricName"] == "Throttles"
    assert alarms["model-router-dev-router-errors"]["Namespace"] == "AWS/Lambda"
    health = alarms["model-router-dev-router-health"]
    assert "ALARM(" in render(health["AlarmRule"], api_key_app.raw)


def test_every_alarm_name_is_prefixed_with_the_stage(api_key_app):
    assert all(name.startswith("model-router-dev-") for name in alarms_by_name(api_key_app.raw))


# --- routing rollout monitor ---------------------------------------------------------------------


def test_routing_environment_is_monitored_by_the_rollout_alarm(api_key_app):
    (env,) = [
        e["Properties"]
        for e in resources(api_key_app.raw, "AWS::AppConfig::Environment").values()
        if e["Properties"]["Name"] == "dev"
    ]
    (monitor,) = env["Monitors"]
    assert render(monitor["AlarmArn"]) == (
        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:model-router-dev-routing-rollout"
    )
    role_id = monitor["AlarmRoleArn"]["Fn::GetAtt"][0]
    role = api_key_app.raw["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "appconfig.amazonaws.com"}
    (statement,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "cloudwatch:DescribeAlarms"


def test_rollout_alarm_fires_on_router_health_or_rejected_routing_configuration(api_key_app):
    raw = api_key_app.raw
    alarms = alarms_by_name(raw)
    ids = {
        res["Properties"]["AlarmName"]: key
        for type_ in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
        for key, res in resources(raw, type_).items()
    }

    rule = render(alarms["model-router-dev-routing-rollout"]["AlarmRule"], raw)

    assert f"${{GetAtt:{ids['model-router-dev-router-health']}.Arn}}" in rule
    assert f"${{GetAtt:{ids['model-router-dev-routing-config-rejected']}.Arn}}" in rule
    rejected = alarms["model-router-dev-routing-config-rejected"]
    assert (rejected["Namespace"], rejected["MetricName"], rejected["Statistic"]) == (
        "ModelRouter",
        "ConfigRejected",
        "Sum",
    )
    assert sorted(rejected["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": "Store", "Value": "routing"},
        {"Name": "service", "Value": "model-router"},
    ]
    assert (rejected["Threshold"], rejected["EvaluationPeriods"], rejected["TreatMissingData"]) == (
        1,
        1,
        "notBreaching",
    )


def test_initial_routing_deployment_waits_for_the_rollout_alarm_and_the_validator_permission(api_key_app):
    raw = api_key_app.raw
    (rollout_id,) = [
        k
        for k, a in resources(raw, "AWS::CloudWatch::CompositeAlarm").items()
        if a["Properties"]["AlarmName"] == "model-router-dev-routing-rollout"
    ]
    routing_env = [
        k for k, e in resources(raw, "AWS::AppConfig::Environment").items() if e["Properties"]["Name"] == "dev"
    ]
    profiles = {k: p["Properties"]["Name"] for k, p in resources(raw, "AWS::AppConfig::ConfigurationProfile").items()}
    in_routing_env = {
        profiles[d["Properties"]["ConfigurationProfileId"]["Ref"]]: (k, d)
        for k, d in resources(raw, "AWS::AppConfig::Deployment").items()
        if d["Properties"]["EnvironmentId"]["Ref"] in routing_env
    }
    assert sorted(in_routing_env) == ["learned-scorers", "routing"]
    routing_id, deployment = in_routing_env["routing"]
    _, learned = in_routing_env["learned-scorers"]
    permissions = {
        p["Properties"]["FunctionName"]["Fn::GetAtt"][0]: k
        for k, p in resources(raw, "AWS::Lambda::Permission").items()
        if p["Properties"]["Principal"] == "appconfig.amazonaws.com"
    }
    routing_validator = next(f for f in permissions if f.startswith("RoutingConfigValidator"))
    learned_validator = next(f for f in permissions if f.startswith("LearnedScorersValidator"))
    assert rollout_id in deployment["DependsOn"]
    assert permissions[routing_validator] in deployment["DependsOn"]
    # AppConfig runs one deployment at a time per environment: the learned profile's first one waits for routing's
    assert routing_id in learned["DependsOn"] and permissions[learned_validator] in learned["DependsOn"]


def test_escape_hatch_detaches_the_rollout_monitor(variant_app):
    # Given the router is failing and an operator deploys a routing fix with the documented switch
    # (`-c routing_rollout_monitor=false`)
    app = variant_app

    # Then the routing environment has no monitor, so AppConfig cannot roll the fix back
    (env,) = [
        e["Properties"]
        for e in resources(app.raw, "AWS::AppConfig::Environment").values()
        if e["Properties"]["Name"] == "variant"
    ]
    assert "Monitors" not in env or env["Monitors"] == []
    # and everything else stays: the alarms still exist and still page
    assert "model-router-variant-routing-rollout" in alarms_by_name(app.raw)
    # and the flags environment never had one
    (flags_env,) = [
        e["Properties"]
        for e in resources(app.raw, "AWS::AppConfig::Environment").values()
        if e["Properties"]["Name"] == "variant-flags"
    ]
    assert "Monitors" not in flags_env


# --- failover controller -------------------------------------------------------------------------


def test_controller_environment(api_key_app):
    function = controller_function(api_key_app.raw)
    props = function["Properties"]
    env = props["Environment"]["Variables"]

    assert "ReservedConcurrentExecutions" not in props  # opt-in: a reservation can fail a new account's deploy
    assert env["POWERTOOLS_SERVICE_NAME"] == "failover-controller"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "ModelRouter"
    assert render(env["APPCONFIG_APPLICATION_ID"], api_key_app.raw) == "${AWS::AppConfig::Application}"
    assert render(env["APPCONFIG_FLAGS_ENVIRONMENT_ID"], api_key_app.raw) == "${AWS::AppConfig::Environment}"
    assert render(env["APPCONFIG_FLAGS_PROFILE_ID"], api_key_app.raw) == "${AWS::AppConfig::ConfigurationProfile}"
    assert (
        render(env["APPCONFIG_FLAGS_DEPLOYMENT_STRATEGY_ID"], api_key_app.raw)
        == "${AWS::AppConfig::DeploymentStrategy}"
    )
    router_env = router_function(api_key_app.raw)["Properties"]["Environment"]["Variables"]
    assert env["APPCONFIG_FLAGS_ENVIRONMENT_ID"] == router_env["APPCONFIG_FLAGS_ENVIRONMENT_ID"]
    assert env["APPCONFIG_FLAGS_PROFILE_ID"] == router_env["APPCONFIG_FLAGS_PROFILE_ID"]
    assert env["ALARM_NAME_PREFIX"] == "model-router-dev-model-"
    assert "MODEL_ALARMS" not in env  # nothing in the environment grows with the catalog


def test_every_per_model_alarm_reads_back_to_its_model_under_the_controller_prefix(api_key_app):
    from failover_controller.alarm_names import model_of_alarm

    env = controller_function(api_key_app.raw)["Properties"]["Environment"]["Variables"]
    names = [n for n in alarms_by_name(api_key_app.raw) if n.startswith(env["ALARM_NAME_PREFIX"])]

    models = {model_of_alarm(env["ALARM_NAME_PREFIX"], n) for n in names}

    assert models == set(MODELS)  # every model watched, no alarm unreadable
    assert len(names) == len(MODELS) * len(ROUTER_KINDS + BEDROCK_KINDS)


def test_reserved_concurrency_is_an_opt_in_setting(variant_app):
    assert controller_function(variant_app.raw)["Properties"]["ReservedConcurrentExecutions"] == 1


def test_controller_settings_accept_the_synthesized_environment(api_key_app):
    from failover_controller.settings import ControllerSettings

    env = dict(controller_function(api_key_app.raw)["Properties"]["Environment"]["Variables"])
    env.update(
        APPCONFIG_APPLICATION_ID="abc1234",
        APPCONFIG_FLAGS_ENVIRONMENT_ID="def5678",
        APPCONFIG_FLAGS_PROFILE_ID="ghi9012",
        APPCONFIG_FLAGS_DEPLOYMENT_STRATEGY_ID="jkl3456",
    )  # CloudFormation fills in the real ids

    settings = ControllerSettings.from_env(env)

    assert settings.alarm_prefix == "model-router-dev-model-"


def _controller_statements(raw):
    function = controller_function(raw)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    out = []
    for policy in resources(raw, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def test_controller_iam_is_least_privilege(api_key_app):
    raw = api_key_app.raw
    statements = _controller_statements(raw)
    by_action: dict[str, set[str]] = {}
    for s in statements:
        for action in as_list(s["Action"]):
            by_action.setdefault(action, set()).update(render(r, raw) for r in as_list(s["Resource"]))

    assert {a for a in by_action if a.startswith("appconfig:")} == {
        "appconfig:ListHostedConfigurationVersions",
        "appconfig:GetHostedConfigurationVersion",
        "appconfig:CreateHostedConfigurationVersion",
        "appconfig:StartDeployment",
        "appconfig:ListDeployments",
        "appconfig:GetDeployment",
    }
    for action, arns in by_action.items():
        if action.startswith("appconfig:"):
            assert "*" not in arns
            assert all(a.startswith("arn:${AWS::Partition}:appconfig:${AWS::Region}:${AWS::AccountId}:") for a in arns)
    # The write actions touch the flags profile/environment only (the one DeploymentStrategy resource is ours).
    create = by_action["appconfig:CreateHostedConfigurationVersion"]
    assert any("/configurationprofile/${AWS::AppConfig::ConfigurationProfile}" in a for a in create)
    start = by_action["appconfig:StartDeployment"]
    assert any(a.endswith(":deploymentstrategy/${AWS::AppConfig::DeploymentStrategy}") for a in start)
    assert any(a.endswith("/environment/${AWS::AppConfig::Environment}") for a in start)

    # DescribeAlarms by prefix: '*' (the request names no alarm), and nothing else of CloudWatch.
    assert by_action["cloudwatch:DescribeAlarms"] == {"*"}
    assert {a for a in by_action if a.startswith("cloudwatch:")} == {"cloudwatch:DescribeAlarms"}
    assert not any(a.startswith("bedrock:") for a in by_action)


def test_controller_write_grants_are_not_on_the_routing_profile(api_key_app):
    raw = api_key_app.raw
    flags_profile = [
        k
        for k, p in resources(raw, "AWS::AppConfig::ConfigurationProfile").items()
        if p["Properties"]["Name"] == "failover-flags"
    ][0]
    for s in _controller_statements(raw):
        if any(a.startswith("appconfig:") for a in as_list(s["Action"])):
            for r in as_list(s["Resource"]):
                refs = json.dumps(r)
                assert "RoutingConfigRoutingProfile" not in refs
                if "configurationprofile" in render(r):
                    assert flags_profile in refs


def test_alarm_state_changes_and_a_schedule_invoke_the_controller(api_key_app):
    template = api_key_app.template
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "detail": {"alarmName": [{"prefix": "model-router-dev-model-"}]},
            },
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [Match.any_value(), "Arn"]}})],
        },
    )
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
    function_id = [
        k
        for k, f in resources(api_key_app.raw, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"].startswith("failover_controller")
    ][0]
    for rule in resources(api_key_app.raw, "AWS::Events::Rule").values():
        assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}


def test_failed_reconciles_land_in_an_encrypted_queue(api_key_app):
    template = api_key_app.template
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [Match.any_value(), "Arn"]}}},
        },
    )
    template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    alarms = alarms_by_name(api_key_app.raw)
    assert {"model-router-dev-controller-failures", "model-router-dev-controller-failed-events"} <= set(alarms)


# --- dashboard -----------------------------------------------------------------------------------


def test_dashboard_shows_every_route_model_metric_and_alarm(api_key_app):
    (dashboard,) = resources(api_key_app.raw, "AWS::CloudWatch::Dashboard").values()
    body = render(dashboard["Properties"]["DashboardBody"], api_key_app.raw)

    assert dashboard["Properties"]["DashboardName"] == "model-router-dev"
    for route in CONFIG.routes:
        assert f'"Route","{route}"' in body
    for model in MODELS:
        assert f'"Model","{model}"' in body
    for metric in (
        "Requests",
        "RequestLatency",
        "ModelLatency",
        "ModelErrors",
        "ModelThrottles",
        "RequestErrors",
        "Fallbacks",
        "EstimatedCostUSD",
        "InputTokens",
        "OutputTokens",
        "CacheReadInputTokens",
        "CacheWriteInputTokens",
        "ConfigRejected",
        "ShadowAgreement",
        "5XXError",
        "TimeToFirstToken",
        "ModelAccessDenied",
        "ClientDisconnects",
    ):
        assert metric in body, metric
    for stat in ("p50", "p90", "p99"):
        assert f'"stat":"{stat}"' in body
    assert '"type":"alarm"' in body
    assert body.count("${GetAtt:") >= len(alarms_by_name(api_key_app.raw))  # every alarm's ARN
    assert "failover flags reconciled" in body  # the controller's log of flag changes
