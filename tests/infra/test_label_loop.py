"""Issue 9, item 5: the label loop's infrastructure (queue, DLQ, labels table, labeller, trainer, schedule).

Every IAM assertion is on the exact set a role carries: adding an action or a resource to any of these
roles must fail a test here, so a widened grant is a decision someone writes down.
"""

from __future__ import annotations

import json

import pytest

from labeller.settings import WORST_SAMPLE_S
from routing_engine.config import parse_routing_config
from stacks.bedrock_iam import MARKETPLACE_SUBSCRIBE_ACTIONS, MARKETPLACE_VIEW_ACTIONS, merge_grants, model_grant
from stacks.constructs.label_loop import (
    BATCH_SIZE,
    LABELLER_HANDLER,
    LABELLER_TIMEOUT,
    MAX_RECEIVE_COUNT,
    TRAINER_HANDLER,
    VISIBILITY_TIMEOUT_FACTOR,
)
from stacks.settings import REPO_ROOT
from tests.infra.conftest import synthesize
from tests.infra.helpers import (
    alarms_by_name,
    as_list,
    function_with_handler,
    grants_by_action,
    render,
    resources,
    role_id_of,
    role_statements,
    router_function,
)

MARKETPLACE_FIRST_USE = {*MARKETPLACE_SUBSCRIBE_ACTIONS, *MARKETPLACE_VIEW_ACTIONS}
ARN = "arn:${AWS::Partition}:appconfig:${AWS::Region}:${AWS::AccountId}:"
TOKENS = {"region": "${AWS::Region}", "account": "${AWS::AccountId}", "partition": "${AWS::Partition}"}
LOGS_AND_XRAY = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
SQS_CONSUME = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
}


def _queues(raw) -> tuple[str, str]:
    """(label queue id, its dead-letter queue id)."""
    (queue_id,) = [k for k, q in resources(raw, "AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]]
    dlq_id = raw["Resources"][queue_id]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    return queue_id, dlq_id


def _labels_table(raw) -> str:
    (table_id,) = [
        k for k, t in resources(raw, "AWS::DynamoDB::Table").items() if len(t["Properties"]["KeySchema"]) == 2
    ]
    return table_id


def _statements_of(raw, handler):
    return role_statements(raw, role_id_of(function_with_handler(raw, handler)))


def _leading_keys(statements, action) -> set[str]:
    """The partition-key prefixes `action` is allowed on; every statement granting it must carry the condition."""
    out: set[str] = set()
    for statement in statements:
        if action in as_list(statement["Action"]):
            (condition,) = statement["Condition"].values()
            assert list(statement["Condition"]) == ["ForAllValues:StringLike"] and list(condition) == [
                "dynamodb:LeadingKeys"
            ]
            out.update(condition["dynamodb:LeadingKeys"])
    return out


# --- queue and dead-letter queue --------------------------------------------------------------------------


def test_the_label_queue_and_its_dlq_are_encrypted_and_refuse_plain_http(api_key_app):
    raw = api_key_app.raw
    queue_id, dlq_id = _queues(raw)

    for qid in (queue_id, dlq_id):
        assert raw["Resources"][qid]["Properties"]["SqsManagedSseEnabled"] is True
        (policy,) = [
            p for p in resources(raw, "AWS::SQS::QueuePolicy").values() if p["Properties"]["Queues"] == [{"Ref": qid}]
        ]
        (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny" and deny["Action"] == "sqs:*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_a_sample_failing_five_times_moves_to_a_dlq_that_keeps_it_longer_than_the_queue(api_key_app):
    raw = api_key_app.raw
    queue_id, dlq_id = _queues(raw)
    queue, dlq = raw["Resources"][queue_id]["Properties"], raw["Resources"][dlq_id]["Properties"]

    assert queue["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT >= 5
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600  # SQS's maximum: time for a person to look
    # Prompt text waits at most a day for the labeller; a DLQ must outlive its source (enqueue time is kept).
    assert queue["MessageRetentionPeriod"] == 24 * 3600 < dlq["MessageRetentionPeriod"]
    assert queue["MaximumMessageSize"] == 1_048_576  # what the router's MAX_SAMPLE_BYTES assumes


def test_the_queue_hides_a_batch_six_times_as_long_as_the_labeller_may_run(api_key_app):
    raw = api_key_app.raw
    queue_id, _ = _queues(raw)
    labeller = function_with_handler(raw, LABELLER_HANDLER)["Properties"]

    visibility = raw["Resources"][queue_id]["Properties"]["VisibilityTimeout"]

    # Lambda developer guide: visibility timeout at least six times the function timeout
    assert visibility >= VISIBILITY_TIMEOUT_FACTOR * labeller["Timeout"]
    assert VISIBILITY_TIMEOUT_FACTOR >= 6
    assert visibility <= 12 * 3600  # SQS's maximum visibility timeout


# --- labeller ----------------------------------------------------------------------------------------------


def test_the_labeller_takes_small_batches_reports_failures_per_message_and_is_bounded(api_key_app):
    raw = api_key_app.raw
    queue_id, _ = _queues(raw)
    labeller_id = [
        k for k, f in resources(raw, "AWS::Lambda::Function").items() if f["Properties"]["Handler"] == LABELLER_HANDLER
    ][0]

    (mapping,) = resources(raw, "AWS::Lambda::EventSourceMapping").values()

    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert props["FunctionName"] == {"Ref": labeller_id}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == BATCH_SIZE <= 10
    assert props["ScalingConfig"] == {"MaximumConcurrency": 2}  # context default: Lambda's minimum


def test_max_concurrency_comes_from_context(variant_app):
    (mapping,) = resources(variant_app.raw, "AWS::Lambda::EventSourceMapping").values()

    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 5}


def test_labeller_function_and_environment(api_key_app):
    raw = api_key_app.raw
    props = function_with_handler(raw, LABELLER_HANDLER)["Properties"]
    env = props["Environment"]["Variables"]

    assert (props["Runtime"], props["Architectures"], props["Timeout"], props["MemorySize"]) == (
        "python3.13",
        ["arm64"],
        LABELLER_TIMEOUT.to_seconds(),
        512,
    )
    assert WORST_SAMPLE_S < LABELLER_TIMEOUT.to_seconds() <= 900  # three calls, every attempt, fit; Lambda's max
    assert env["LABELS_TABLE_NAME"] == {"Ref": _labels_table(raw)}
    assert env["POWERTOOLS_SERVICE_NAME"] == "labeller"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "ModelRouter"
    assert "LABEL_QUEUE_URL" not in env and not any(k.startswith("APPCONFIG") for k in env)


def test_labeller_iam_is_exactly_consume_the_queue_write_labels_and_budgets_and_converse(api_key_app):
    raw = api_key_app.raw
    queue_id, _ = _queues(raw)
    table_arn = f"${{GetAtt:{_labels_table(raw)}.Arn}}"
    statements = _statements_of(raw, LABELLER_HANDLER)
    by_action = grants_by_action(raw, statements)
    config = parse_routing_config((REPO_ROOT / "config" / "routing.json").read_bytes())
    expected = merge_grants(
        model_grant(m.model_id, **{**TOKENS, **({"region": m.region} if m.region else {})})
        for m in config.models.values()
    )

    assert set(by_action) == LOGS_AND_XRAY | SQS_CONSUME | {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "bedrock:InvokeModel",
        *MARKETPLACE_FIRST_USE,  # the subscription a third-party model's first call makes (test_fresh_account)
    }
    for action in SQS_CONSUME:
        assert by_action[action] == {f"${{GetAtt:{queue_id}.Arn}}"}
    # The table, by partition prefix only: labels looked up (a redelivered sample) and written, the day's budget
    # read and added to; never a report, never a scan.
    for action, prefixes in (
        ("dynamodb:PutItem", {"label#*"}),
        ("dynamodb:GetItem", {"label#*", "budget#*"}),
        ("dynamodb:UpdateItem", {"budget#*"}),
    ):
        assert by_action[action] == {table_arn}
        assert _leading_keys(statements, action) == prefixes, action
    # Converse (InvokeModel) on the catalog's models and nothing else; no streaming.
    assert by_action["bedrock:InvokeModel"] == set(expected.resources) | set(expected.via_profile)
    for statement in statements:
        if any(":bedrock:*:" in render(r) for r in as_list(statement["Resource"])):
            assert {
                render(c) for c in as_list(statement["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"])
            } == set(expected.profiles)
    assert all(by_action[a] == {"*"} for a in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"))
    assert all("*" not in rs for a, rs in by_action.items() if not a.startswith(("xray:", "aws-marketplace:")))


# --- labels table --------------------------------------------------------------------------------------------


def test_the_labels_table_is_keyed_on_demand_encrypted_recoverable_and_expires_items(api_key_app):
    raw = api_key_app.raw
    table = raw["Resources"][_labels_table(raw)]
    props = table["Properties"]

    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Delete"  # like the spend table: derived data that expires
    assert "GlobalSecondaryIndexes" not in props


# --- trainer -------------------------------------------------------------------------------------------------


def test_trainer_function_and_environment_name_the_routing_profile_and_its_gradual_strategy(api_key_app):
    raw = api_key_app.raw
    props = function_with_handler(raw, TRAINER_HANDLER)["Properties"]
    env = props["Environment"]["Variables"]
    router_env = router_function(raw)["Properties"]["Environment"]["Variables"]
    (routing_strategy,) = [
        k
        for k, s in resources(raw, "AWS::AppConfig::DeploymentStrategy").items()
        if s["Properties"]["Name"].endswith("-routing")
    ]

    assert 300 <= props["Timeout"] <= 900 and props["MemorySize"] == 1024
    assert env["LABELS_TABLE_NAME"] == {"Ref": _labels_table(raw)}
    assert env["APPCONFIG_APPLICATION_ID"] == router_env["APPCONFIG_APPLICATION_ID"]
    assert env["APPCONFIG_ENVIRONMENT_ID"] == router_env["APPCONFIG_ENVIRONMENT_ID"]  # routing, not flags
    assert env["APPCONFIG_PROFILE_ID"] == router_env["APPCONFIG_PROFILE_ID"]
    assert env["APPCONFIG_LEARNED_PROFILE_ID"] == router_env["APPCONFIG_LEARNED_PROFILE_ID"]
    assert env["APPCONFIG_DEPLOYMENT_STRATEGY_ID"] == {"Ref": routing_strategy}
    assert env["POWERTOOLS_SERVICE_NAME"] == "scorer-trainer"


def test_trainer_iam_is_exactly_read_labels_write_reports_and_propose_or_deploy_routing(api_key_app):
    raw = api_key_app.raw
    statements = _statements_of(raw, TRAINER_HANDLER)
    by_action = grants_by_action(raw, statements)
    app = f"{ARN}application/${{AWS::AppConfig::Application}}"
    env = f"{app}/environment/${{AWS::AppConfig::Environment}}"
    profile = f"{app}/configurationprofile/${{AWS::AppConfig::ConfigurationProfile}}"
    table_arn = f"${{GetAtt:{_labels_table(raw)}.Arn}}"

    assert set(by_action) == LOGS_AND_XRAY | {
        "dynamodb:Query",
        "dynamodb:PutItem",
        "appconfig:StartConfigurationSession",
        "appconfig:GetLatestConfiguration",
        "appconfig:CreateHostedConfigurationVersion",
        "appconfig:StartDeployment",
    }
    for action, prefixes in (("dynamodb:Query", {"label#*"}), ("dynamodb:PutItem", {"report#*"})):
        assert by_action[action] == {table_arn}
        assert _leading_keys(statements, action) == prefixes, action
    for action in ("appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"):
        assert by_action[action] == {
            f"{app}/environment/${{AWS::AppConfig::Environment}}/configuration/${{AWS::AppConfig::ConfigurationProfile}}"
        }
    assert by_action["appconfig:CreateHostedConfigurationVersion"] == {
        app,
        profile,
        f"{profile}/hostedconfigurationversion/*",
    }
    assert by_action["appconfig:StartDeployment"] == {
        app,
        env,
        profile,
        f"{ARN}deploymentstrategy/${{AWS::AppConfig::DeploymentStrategy}}",
        f"{env}/deployment/*",
    }
    assert not any(a.startswith(("bedrock:", "sqs:", "cloudwatch:")) for a in by_action)


def test_trainer_appconfig_grants_write_only_the_learned_profile_and_never_the_flags(api_key_app):
    raw = api_key_app.raw
    profiles = {
        r["Properties"]["Name"]: k
        for k, r in raw["Resources"].items()
        if r["Type"] == "AWS::AppConfig::ConfigurationProfile"
    }
    routing_env = {
        k
        for k, r in raw["Resources"].items()
        if (r["Type"] == "AWS::AppConfig::Environment" and r["Properties"]["Name"] == "dev")
        or (r["Type"] == "AWS::AppConfig::DeploymentStrategy" and r["Properties"]["Name"].endswith("-routing"))
    }
    flags_ids = {
        k
        for k, r in raw["Resources"].items()
        if r["Type"].startswith("AWS::AppConfig::")
        and r["Type"] != "AWS::AppConfig::Application"
        and k not in routing_env
        and k not in (profiles["routing"], profiles["learned-scorers"])
    }

    for statement in _statements_of(raw, TRAINER_HANDLER):
        actions = as_list(statement["Action"])
        if not any(a.startswith("appconfig:") for a in actions):
            continue
        refs = json.dumps(statement["Resource"])
        assert not any(f'"{k}"' in refs for k in flags_ids), refs
        assert f'"{profiles["learned-scorers"]}"' in refs
        if any(a in ("appconfig:CreateHostedConfigurationVersion", "appconfig:StartDeployment") for a in actions):
            # the trainer proposes and deploys learned scorers; the hand-edited routing document is never written
            assert f'"{profiles["routing"]}"' not in refs, refs
        else:  # reads: what serves, both profiles
            assert f'"{profiles["routing"]}"' in refs, refs


def test_the_trainer_runs_daily_from_scheduler_through_a_role_that_may_only_invoke_it(api_key_app):
    raw = api_key_app.raw
    trainer_id = [
        k for k, f in resources(raw, "AWS::Lambda::Function").items() if f["Properties"]["Handler"] == TRAINER_HANDLER
    ][0]

    (schedule,) = resources(raw, "AWS::Scheduler::Schedule").values()

    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "cron(30 1 * * ? *)"  # after the UTC day whose labels it trains on
    assert props["ScheduleExpressionTimezone"] == "UTC" and props["State"] == "ENABLED"
    assert props["Target"]["Arn"] == {"Fn::GetAtt": [trainer_id, "Arn"]}
    role_id = props["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role = raw["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert grants_by_action(raw, role_statements(raw, role_id)) == {
        "lambda:InvokeFunction": {f"${{GetAtt:{trainer_id}.Arn}}"}
    }  # unqualified: no `:*`


def test_the_schedule_comes_from_context(variant_app):
    (schedule,) = resources(variant_app.raw, "AWS::Scheduler::Schedule").values()

    assert schedule["Properties"]["ScheduleExpression"] == "rate(6 hours)"


def test_the_trainer_is_deleted_before_the_learned_profile_versions_are_cleaned_up(api_key_app):
    # The trainer creates hosted versions of the learned-scorers profile: like the failover controller, it (and
    # its grants) must be gone before the cleanup lists the versions to delete.
    raw = api_key_app.raw
    cleanup = {
        k
        for k, r in raw["Resources"].items()
        if r["Type"] == "Custom::AppConfigHostedVersionsCleanup"
        and "LearnedScorersProfile" in json.dumps(r["Properties"]["ConfigurationProfileId"])
    }
    trainer_id = [
        k for k, f in resources(raw, "AWS::Lambda::Function").items() if f["Properties"]["Handler"] == TRAINER_HANDLER
    ][0]
    trainer_policy = [
        k
        for k, p in resources(raw, "AWS::IAM::Policy").items()
        if any(
            "appconfig:CreateHostedConfigurationVersion" in as_list(s["Action"])
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        )
        and p["Properties"]["Roles"] == [{"Ref": role_id_of(raw["Resources"][trainer_id])}]
    ]

    assert len(cleanup) == 1 and len(trainer_policy) == 1
    for resource_id in (trainer_id, role_id_of(raw["Resources"][trainer_id]), *trainer_policy):
        assert cleanup <= set(as_list(raw["Resources"][resource_id].get("DependsOn", []))), resource_id


# --- the router's side ---------------------------------------------------------------------------------------


def test_the_router_knows_the_queue_and_may_only_send_to_it(api_key_app):
    raw = api_key_app.raw
    queue_id, _ = _queues(raw)
    router = router_function(raw)
    statements = role_statements(raw, role_id_of(router))

    assert router["Properties"]["Environment"]["Variables"]["LABEL_QUEUE_URL"] == {"Ref": queue_id}
    sqs = {a: rs for a, rs in grants_by_action(raw, statements).items() if a.startswith("sqs:")}
    assert sqs == {"sqs:SendMessage": {f"${{GetAtt:{queue_id}.Arn}}"}}
    labels_table = _labels_table(raw)
    assert not any(labels_table in json.dumps(s["Resource"]) for s in statements)  # no label data for the router


# --- alarms and dashboard ------------------------------------------------------------------------------------


def test_dead_letters_and_crashes_of_the_label_loop_raise_alarms(api_key_app):
    raw = api_key_app.raw
    _, dlq_id = _queues(raw)
    alarms = alarms_by_name(raw)

    dlq = alarms["model-router-dev-label-dlq"]
    assert (dlq["Namespace"], dlq["MetricName"], dlq["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    assert (dlq["ComparisonOperator"], dlq["Threshold"]) == ("GreaterThanThreshold", 0)
    for name, handler in (("labeller-errors", LABELLER_HANDLER), ("scorer-trainer-errors", TRAINER_HANDLER)):
        alarm = alarms[f"model-router-dev-{name}"]
        function_id = [
            k for k, f in resources(raw, "AWS::Lambda::Function").items() if f["Properties"]["Handler"] == handler
        ][0]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
        assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"
    assert alarms["model-router-dev-scorer-trainer-errors"]["Period"] == 86400  # it runs once a day


def test_samples_ageing_towards_expiry_raise_an_alarm_before_the_queue_deletes_them(api_key_app):
    # Given the sample queue (expired messages are deleted, never dead-lettered)
    raw = api_key_app.raw
    queue_id, _ = _queues(raw)
    retention = resources(raw, "AWS::SQS::Queue")[queue_id]["Properties"]["MessageRetentionPeriod"]
    # Then an alarm watches the age of the oldest sample and fires while half the retention is left
    backlog = alarms_by_name(raw)["model-router-dev-label-backlog"]
    assert (backlog["Namespace"], backlog["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert backlog["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    assert 0 < backlog["Threshold"] <= retention / 2


def test_the_dashboard_shows_labels_win_rates_spend_training_and_the_scorer_serving_each_route(api_key_app):
    raw = api_key_app.raw
    (dashboard,) = resources(raw, "AWS::CloudWatch::Dashboard").values()
    body = render(dashboard["Properties"]["DashboardBody"], raw)

    for schema, metric, stat in (
        ("ModelRouter,Outcome,service", "LabelSamples", "Sum"),
        ("ModelRouter,Route,service", "LabelsStored", "Sum"),
        ("ModelRouter,Reason,Route,service", "LabelsSkipped", "Sum"),
        ("ModelRouter,Pair,Route,service", "StrongWinRate", "Average"),
        ("ModelRouter,Route,service", "LabelSpendUSD", "Sum"),
        ("ModelRouter,Outcome,Route,service", "ScorerTrainingRuns", "Sum"),
    ):
        assert f"SEARCH('{{{schema}}} MetricName=\\\"{metric}\\\"', '{stat}'" in body, metric
    assert "MetricName=\\\"LabelSpendUSD\\\"', 'Sum', 86400)" in body  # spend per UTC day, like the budget
    assert "stats count(*) as requests by route, scorer_version" in body
    assert "ispresent(scorer_version)" in body
    assert "${PROP('Dim.Route')} ${PROP('Dim.Pair')}" in body  # one labelled series per route and pair
    for name in ("label-dlq", "label-backlog", "labeller-errors", "scorer-trainer-errors"):  # alarm status widget
        alarm_id = [
            k
            for k, a in resources(raw, "AWS::CloudWatch::Alarm").items()
            if a["Properties"]["AlarmName"] == f"model-router-dev-{name}"
        ][0]
        assert f"${{GetAtt:{alarm_id}.Arn}}" in body


def test_the_labeller_never_gets_the_prompt_routers_grant(iam_app):
    # Given a stack whose router may call a prompt router (context prompt_router), the labeller calls only models
    by_action = grants_by_action(iam_app.raw, _statements_of(iam_app.raw, LABELLER_HANDLER))

    assert by_action["bedrock:InvokeModel"]
    assert not any("prompt-router" in r for r in by_action["bedrock:InvokeModel"])
    assert not any(a.startswith("bedrock:") and a != "bedrock:InvokeModel" for a in by_action)


@pytest.fixture(scope="module")
def labelled_app(synth_root, tmp_path_factory):
    """The bundled configuration with the dynamic route `auto` opted in to labelling (3.5 USD a day)."""
    config = json.loads((REPO_ROOT / "config" / "routing.json").read_text())
    dynamic = config["routes"]["auto"]["dynamic"]
    dynamic["rules"][1]["target"] = {"model": "claude-sonnet"}  # the labelled rule targets the strong model
    dynamic["default"] = {"model": "claude-haiku"}
    config["routes"]["auto"]["labelling"] = {"sample_rate": 0.05, "daily_budget_usd": 3.5, "judge_model": "claude-opus"}
    path = tmp_path_factory.mktemp("labelled") / "routing.json"
    path.write_text(json.dumps(config))
    return synthesize(synth_root, stage="labelled", routing_config_file=str(path))


def test_the_spend_widget_draws_each_labelled_routes_daily_budget(labelled_app, api_key_app):
    def spend_widget(app):
        (dashboard,) = resources(app.raw, "AWS::CloudWatch::Dashboard").values()
        body = json.loads(render(dashboard["Properties"]["DashboardBody"], app.raw))
        (widget,) = [w for w in body["widgets"] if w["properties"].get("title", "").startswith("Label spend")]
        return widget["properties"]

    labelled = spend_widget(labelled_app)

    assert labelled["annotations"]["horizontal"] == [{"value": 3.5, "label": "auto daily budget", "yAxis": "left"}]
    assert labelled["period"] == 86400
    assert "annotations" not in spend_widget(api_key_app)  # no route opts in: nothing to draw
