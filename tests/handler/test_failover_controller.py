"""The failover controller, seen from outside: alarms in CloudWatch, flags in AppConfig.

CloudWatch is moto (alarms moved with `set_alarm_state`). AppConfig is an in-memory
fake with the service's locking and one-deployment-at-a-time rules, because moto has
no environments or deployments; moto still checks the hosted-version round trip, and
`botocore.stub.Stubber` on real clients checks the shape of every call the controller makes.
"""

from __future__ import annotations

import importlib
import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from aws_adapters.appconfig_writer import AppConfigTarget
from failover_controller import handler
from failover_controller.alarm_names import model_alarm_name
from failover_controller.alarm_source import CloudWatchAlarmSource
from failover_controller.controller import FailoverController, ReconcileConflict, RetryPolicy
from failover_controller.flag_store import AppConfigFlagStore, FlagsDocumentInvalid, WriteConflict, encode_flags
from failover_controller.reconcile import AlarmObservation, plan
from failover_controller.settings import ControllerSettings, SettingsError
from failover_controller.wiring import build_controller
from routing_engine.config import FailoverFlags, ModelFlag, parse_failover_flags
from tests.conftest import aws_client

APP, ENV, PROFILE, STRATEGY = "app0001", "env0001", "prof001", "strat01"
PREFIX = "model-router-test-model-"  # what the stack passes as ALARM_NAME_PREFIX
CLAUDE_ERRORS = model_alarm_name(PREFIX, "claude", "error-rate")
CLAUDE_LATENCY = model_alarm_name(PREFIX, "claude", "latency-p90")
NOVA_ERRORS = model_alarm_name(PREFIX, "nova", "error-rate")
MODEL_ALARMS = {CLAUDE_ERRORS: "claude", CLAUDE_LATENCY: "claude", NOVA_ERRORS: "nova"}
ENV_VARS = {
    "APPCONFIG_APPLICATION_ID": APP,
    "APPCONFIG_FLAGS_ENVIRONMENT_ID": ENV,
    "APPCONFIG_FLAGS_PROFILE_ID": PROFILE,
    "APPCONFIG_FLAGS_DEPLOYMENT_STRATEGY_ID": STRATEGY,
    "ALARM_NAME_PREFIX": PREFIX,
}
DESCRIBE = {"AlarmNamePrefix": PREFIX, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 100}
FIXED_NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch):
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_METRICS_NAMESPACE": "ModelRouter",
        "POWERTOOLS_SERVICE_NAME": "failover-controller",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }.items():
        monkeypatch.setenv(name, value)
    # Powertools reads its settings when the module builds Logger/Metrics: rebuild them here.
    importlib.reload(handler)
    handler.metrics.clear_metrics()
    yield
    handler.metrics.clear_metrics()


# --- fakes -------------------------------------------------------------------------------------


def client_error(code: str, operation: str, status: int = 409, message: str = "") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@dataclass
class _Deployment:
    number: int
    profile: str
    version: int
    state: str


class FakeAppConfig:
    """The slice of the `appconfig` client the controller uses, with AppConfig's rules:
    a stale LatestVersionNumber is refused, and one deployment runs at a time per environment.
    Deployments complete at once (all-at-once, no bake) unless `hold_deployments` is set."""

    def __init__(self) -> None:
        self.versions: dict[int, bytes] = {}
        self.deployments: list[_Deployment] = []
        self.hold_deployments = False
        self.conflicts_on_deploy = 0  # the next N start_deployment calls find one in progress
        self.before_create = None  # a callable run just before a write lands: a racing operator
        self.calls: list[str] = []

    # operator's side
    def operator_put(self, flags: FailoverFlags | bytes, *, deploy: bool = True) -> int:
        number = max(self.versions, default=0) + 1
        self.versions[number] = flags if isinstance(flags, bytes) else encode_flags(flags)
        if deploy:
            self.deployments.append(_Deployment(len(self.deployments) + 1, PROFILE, number, "COMPLETE"))
        return number

    def latest(self) -> FailoverFlags:
        return parse_failover_flags(self.versions[max(self.versions)])

    def live(self) -> FailoverFlags:
        done = [d for d in self.deployments if d.state == "COMPLETE"]
        return parse_failover_flags(self.versions[done[-1].version]) if done else FailoverFlags()

    def finish_deployments(self) -> None:
        for d in self.deployments:
            if d.state == "DEPLOYING":
                d.state = "COMPLETE"

    # client API
    def list_hosted_configuration_versions(
        self, *, ApplicationId, ConfigurationProfileId, MaxResults=50, NextToken=None
    ):
        self.calls.append("list_hosted_configuration_versions")
        numbers = sorted(self.versions, reverse=True)
        start = int(NextToken or 0)
        page = numbers[start : start + MaxResults]
        out: dict[str, Any] = {
            "Items": [
                {
                    "ApplicationId": ApplicationId,
                    "ConfigurationProfileId": ConfigurationProfileId,
                    "VersionNumber": n,
                    "ContentType": "application/json",
                }
                for n in page
            ]
        }
        if start + MaxResults < len(numbers):
            out["NextToken"] = str(start + MaxResults)
        return out

    def get_hosted_configuration_version(self, *, ApplicationId, ConfigurationProfileId, VersionNumber):
        self.calls.append("get_hosted_configuration_version")
        body = self.versions[VersionNumber]
        return {
            "VersionNumber": VersionNumber,
            "ContentType": "application/json",
            "Content": StreamingBody(io.BytesIO(body), len(body)),
        }

    def create_hosted_configuration_version(
        self, *, ApplicationId, ConfigurationProfileId, Content, ContentType, Description="", LatestVersionNumber=None
    ):
        self.calls.append("create_hosted_configuration_version")
        if self.before_create is not None:
            racer, self.before_create = self.before_create, None
            racer()
        if LatestVersionNumber is not None and LatestVersionNumber != max(self.versions, default=0):
            raise client_error("ConflictException", "CreateHostedConfigurationVersion")
        number = max(self.versions, default=0) + 1
        self.versions[number] = Content
        return {"VersionNumber": number, "ContentType": ContentType}

    def list_deployments(self, *, ApplicationId, EnvironmentId, MaxResults=50, NextToken=None):
        self.calls.append("list_deployments")
        items = [
            {
                "DeploymentNumber": d.number,
                "ConfigurationProfileId": d.profile,
                "ConfigurationVersion": str(d.version),
                "State": d.state,
            }
            for d in reversed(self.deployments)
        ]
        return {"Items": items[:MaxResults]}

    def start_deployment(
        self,
        *,
        ApplicationId,
        EnvironmentId,
        DeploymentStrategyId,
        ConfigurationProfileId,
        ConfigurationVersion,
        Description="",
    ):
        self.calls.append("start_deployment")
        if self.conflicts_on_deploy:
            self.conflicts_on_deploy -= 1
            raise client_error("ConflictException", "StartDeployment", message="Deployment #7 is in progress")
        if any(d.state == "DEPLOYING" for d in self.deployments):
            raise client_error("ConflictException", "StartDeployment", message="A deployment is in progress")
        deployment = _Deployment(
            len(self.deployments) + 1,
            ConfigurationProfileId,
            int(ConfigurationVersion),
            "DEPLOYING" if self.hold_deployments else "COMPLETE",
        )
        self.deployments.append(deployment)
        return {"DeploymentNumber": deployment.number, "State": deployment.state}


class RecordingMetrics:
    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def _log(self, level: str, message: str, extra: dict | None = None) -> None:
        self.lines.append((level, message, extra or {}))

    def info(self, message, extra=None):
        self._log("INFO", message, extra)

    def warning(self, message, extra=None):
        self._log("WARNING", message, extra)

    def error(self, message, extra=None):
        self._log("ERROR", message, extra)


class FakeContext:
    function_name = "failover-controller"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:failover-controller"
    aws_request_id = "5f2e1c7a-0000-4000-8000-000000000001"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class World:
    cloudwatch: Any
    appconfig: FakeAppConfig
    metrics: RecordingMetrics = field(default_factory=RecordingMetrics)
    logger: RecordingLogger = field(default_factory=RecordingLogger)
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Any = None  # something that happens while the controller waits

    def _sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        if self.on_sleep is not None:
            self.on_sleep()

    def controller(self, retry: RetryPolicy = RetryPolicy()) -> FailoverController:
        return FailoverController(
            ControllerSettings.from_env(ENV_VARS),
            CloudWatchAlarmSource(self.cloudwatch),
            flag_store(self.appconfig),
            logger=self.logger,
            metrics=self.metrics,
            retry=retry,
            clock=lambda: FIXED_NOW,
            sleep=self._sleep,
            rng=random.Random(7),
        )

    def set_alarm(self, name: str, state: str, reason: str = "") -> None:
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason or f"moved to {state}")


def flag_store(client: Any) -> AppConfigFlagStore:
    return AppConfigFlagStore(client, AppConfigTarget(APP, ENV, PROFILE, STRATEGY))


def put_alarms(cloudwatch: Any, names) -> None:
    for name in names:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/Bedrock",
            MetricName="InvocationServerErrors",
            Dimensions=[{"Name": "ModelId", "Value": name}],
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=5,
            ComparisonOperator="GreaterThanThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="healthy")


@pytest.fixture
def world():
    with mock_aws():
        cloudwatch = aws_client("cloudwatch")
        put_alarms(cloudwatch, MODEL_ALARMS)
        yield World(cloudwatch=cloudwatch, appconfig=FakeAppConfig())


def manual(state: str) -> ModelFlag:
    return ModelFlag(
        state=state,
        source="manual",
        reason="provider incident INC-42",
        set_by="alice",
        updated_at="2025-06-01T09:00:00Z",
    )


def alarm_event(alarm: str, state: str, previous: str = "OK") -> dict:
    """An EventBridge `CloudWatch Alarm State Change` event as CloudWatch sends it."""
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2025-06-01T11:59:30Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"],
        "detail": {
            "alarmName": alarm,
            "state": {
                "value": state,
                "reason": "Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0).",
                "reasonData": '{"version":"1.0"}',
                "timestamp": "2025-06-01T11:59:30.000+0000",
            },
            "previousState": {
                "value": previous,
                "reason": "Threshold Crossed",
                "timestamp": "2025-06-01T11:50:30.000+0000",
            },
            "configuration": {
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/Bedrock",
                                "name": "InvocationServerErrors",
                                "dimensions": {"ModelId": "anthropic.claude"},
                            },
                            "period": 60,
                            "stat": "Sum",
                        },
                        "returnData": True,
                    }
                ]
            },
        },
    }


SCHEDULED_EVENT = {
    "version": "0",
    "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2025-06-01T12:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/failover-controller-every-minute"],
    "detail": {},
}


# --- end to end through lambda_handler ---------------------------------------------------------


def test_an_alarm_event_takes_the_model_down_and_the_schedule_brings_it_back(world, monkeypatch, capsys, caplog):
    # Given the handler wired with injected clients
    monkeypatch.setattr(
        handler,
        "controller",
        build_controller(
            ENV_VARS,
            logger=handler.logger,
            metrics=handler.metrics,
            cloudwatch_client=world.cloudwatch,
            appconfig_client=world.appconfig,
        ),
    )
    world.appconfig.operator_put(FailoverFlags(models={"llama": manual("down")}))

    # When claude's error alarm fires and EventBridge delivers the state change
    world.set_alarm(
        CLAUDE_ERRORS, "ALARM", "Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0)."
    )
    result = handler.lambda_handler(alarm_event(CLAUDE_ERRORS, "ALARM"), FakeContext())

    # Then the routers are served flags with claude down, and the operator's flag is intact
    live = world.appconfig.live()
    assert live.down_models() == {"claude", "llama"}
    assert live.models["claude"].source == "alarm" and CLAUDE_ERRORS in live.models["claude"].reason
    assert live.models["llama"] == manual("down")
    assert result["changed"] is True
    reconciled = [r for r in caplog.records if r.getMessage() == "failover flags reconciled"]
    assert reconciled[0].set_down == ["claude"] and reconciled[0].trigger == f"alarm:{CLAUDE_ERRORS}:ALARM"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert (
        emf
        and emf[0]["FlagsSet"] in (1.0, [1.0])
        and emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ModelRouter"
    )

    # When the alarm recovers and only the 1-minute schedule runs (its event was lost)
    world.set_alarm(CLAUDE_ERRORS, "OK")
    handler.lambda_handler(SCHEDULED_EVENT, FakeContext())

    # Then claude is back in service
    assert world.appconfig.live().down_models() == {"llama"}


def test_the_controller_ignores_what_a_stale_event_claims(world, monkeypatch):
    monkeypatch.setattr(
        handler,
        "controller",
        build_controller(
            ENV_VARS,
            logger=handler.logger,
            metrics=handler.metrics,
            cloudwatch_client=world.cloudwatch,
            appconfig_client=world.appconfig,
        ),
    )
    # Given nova's alarm is OK now, When a late "ALARM" event for it arrives
    handler.lambda_handler(alarm_event(NOVA_ERRORS, "ALARM"), FakeContext())

    # Then nothing is taken down
    assert world.appconfig.live().down_models() == frozenset()


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"ALARM_NAME_PREFIX": None}, "ALARM_NAME_PREFIX is not set"),
        ({"ALARM_NAME_PREFIX": "model-router-test-model"}, "ALARM_NAME_PREFIX='model-router-test-model' is not"),
        ({"ALARM_NAME_PREFIX": "model router test-"}, "ALARM_NAME_PREFIX="),
        ({"APPCONFIG_FLAGS_ENVIRONMENT_ID": None}, "APPCONFIG_FLAGS_ENVIRONMENT_ID is not set"),
        ({"APPCONFIG_FLAGS_PROFILE_ID": "arn:aws:appconfig:us-east-1:1:application/x"}, "APPCONFIG_FLAGS_PROFILE_ID="),
    ],
)
def test_a_misconfigured_function_fails_with_a_clear_error(monkeypatch, caplog, overrides, named):
    env = {**ENV_VARS, **overrides}
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler, "controller", None)

    with pytest.raises(SettingsError, match=named):
        handler.lambda_handler(SCHEDULED_EVENT, FakeContext())

    errors = [r for r in caplog.records if r.getMessage() == "failover controller misconfigured"]
    assert errors and errors[0].levelname == "ERROR" and named in errors[0].error


# --- reconcile against the fake AppConfig and moto CloudWatch ----------------------------------


def test_no_change_writes_nothing_and_deploys_nothing(world):
    world.set_alarm(NOVA_ERRORS, "ALARM")
    controller = world.controller()
    controller.reconcile(lambda: 60_000)
    versions, deployments = dict(world.appconfig.versions), list(world.appconfig.deployments)

    outcome = controller.reconcile(lambda: 60_000)

    assert not outcome.changes
    assert world.appconfig.versions == versions and world.appconfig.deployments == deployments


def test_an_undeployed_latest_version_is_deployed(world):
    # Given an operator saved a version in the console but did not deploy it
    version = world.appconfig.operator_put(FailoverFlags(models={"nova": manual("up")}), deploy=False)

    outcome = world.controller().reconcile(lambda: 60_000)

    assert not outcome.changes
    assert world.appconfig.deployments[-1].version == version
    assert world.appconfig.live().models["nova"] == manual("up")


def test_a_conflicting_deployment_is_retried_and_ends_converged(world):
    # Given another deployment holds the flags environment for the first two tries
    world.appconfig.conflicts_on_deploy = 2
    world.set_alarm(CLAUDE_LATENCY, "ALARM")

    outcome = world.controller().reconcile(lambda: 60_000)

    assert world.appconfig.live().down_models() == {"claude"}
    assert len(world.appconfig.versions) == 1  # written once; the retries only deployed it
    assert world.metrics.counts["ConflictsRetried"] == 2
    assert world.metrics.counts["FlagsSet"] == 1
    assert outcome.attempts == 3 and len(world.sleeps) == 2


def test_a_running_deployment_of_an_older_version_is_waited_for(world):
    # Given an operator's deployment is still running when claude goes down
    world.appconfig.operator_put(FailoverFlags())
    world.appconfig.hold_deployments = True
    world.appconfig.start_deployment(
        ApplicationId=APP,
        EnvironmentId=ENV,
        DeploymentStrategyId=STRATEGY,
        ConfigurationProfileId=PROFILE,
        ConfigurationVersion="1",
    )
    world.appconfig.hold_deployments = False
    world.on_sleep = world.appconfig.finish_deployments  # it completes while the controller waits
    world.set_alarm(CLAUDE_ERRORS, "ALARM")

    world.controller().reconcile(lambda: 60_000)

    assert world.sleeps  # it had to wait
    assert world.appconfig.live().down_models() == {"claude"}


def test_a_concurrent_console_edit_is_kept_not_overwritten(world):
    # Given the stack's seed version, and an operator who saves a manual override
    # between the controller's read and its write
    world.appconfig.operator_put(FailoverFlags())
    world.set_alarm(NOVA_ERRORS, "ALARM")
    world.appconfig.before_create = lambda: world.appconfig.operator_put(
        FailoverFlags(models={"claude": manual("down")})
    )

    world.controller().reconcile(lambda: 60_000)

    live = world.appconfig.live()
    assert live.models["claude"] == manual("down")
    assert live.models["nova"].source == "alarm"
    assert world.metrics.counts["ConflictsRetried"] == 1


def test_a_conflict_that_never_clears_raises_so_the_event_is_retried(world):
    world.appconfig.conflicts_on_deploy = 10_000
    world.set_alarm(CLAUDE_ERRORS, "ALARM")

    with pytest.raises(ReconcileConflict):
        world.controller(RetryPolicy(max_attempts=4)).reconcile(lambda: 60_000)

    assert len(world.sleeps) == 3
    assert world.metrics.counts["ReconcileFailures"] == 1
    assert world.logger.lines[-1][0] == "ERROR"


def test_retries_stop_when_the_lambda_is_about_to_time_out(world):
    world.appconfig.conflicts_on_deploy = 10_000
    world.set_alarm(CLAUDE_ERRORS, "ALARM")

    with pytest.raises(ReconcileConflict):
        world.controller(RetryPolicy(max_attempts=50)).reconcile(lambda: 4_000)

    assert world.sleeps == []  # no time left for another attempt after a pause


def test_an_unparseable_flags_document_is_never_overwritten(world):
    # Given an operator saved broken JSON in the console
    broken = b'{"models": {"claude": {"state": "dwon", "source": "manual"}}}'
    world.appconfig.operator_put(broken)
    world.set_alarm(NOVA_ERRORS, "ALARM")

    with pytest.raises(FlagsDocumentInvalid, match="version 1"):
        world.controller().reconcile(lambda: 60_000)

    assert world.appconfig.versions == {1: broken}
    assert world.metrics.counts["FlagsDocumentInvalid"] == 1 and world.metrics.counts["ReconcileFailures"] == 1


def test_an_alarm_flag_of_a_model_removed_from_the_catalog_is_retired_and_manual_flags_stay(world):
    # Given flags for models whose alarms the stack deleted (they left the catalog): one automatic, one manual
    gone = ModelFlag(
        state="down",
        source="alarm",
        reason=f'alarms in ALARM: ["{PREFIX}llama-error-rate"]',
        set_by="failover-controller",
        updated_at="2025-05-01T00:00:00Z",
    )
    world.appconfig.operator_put(FailoverFlags(models={"llama": gone, "mistral": manual("down")}))

    outcome = world.controller().reconcile(lambda: 60_000)

    live = world.appconfig.live()
    assert "llama" not in live.models  # no alarm will ever clear it: the controller does
    assert live.models["mistral"] == manual("down")  # a human's flag is theirs to remove
    assert outcome.changes.retired == ("llama",)
    assert world.metrics.counts["FlagsRetired"] == 1


def test_nothing_is_retired_when_no_watched_alarm_is_found():
    # Given a prefix that matches nothing (a wiring mistake, or the stack being deleted)
    with mock_aws():
        cloudwatch = aws_client("cloudwatch")
        world = World(cloudwatch=cloudwatch, appconfig=FakeAppConfig())
        automatic = ModelFlag(state="down", source="alarm", reason="alarms in ALARM: []", set_by="failover-controller")
        world.appconfig.operator_put(FailoverFlags(models={"claude": automatic}))

        outcome = world.controller().reconcile(lambda: 60_000)

    assert not outcome.changes and world.appconfig.latest().models["claude"] == automatic
    assert world.metrics.counts["WatchedAlarmsMissing"] == 1


def test_alarms_under_the_prefix_that_are_not_per_model_alarms_are_ignored(world):
    # Given an alarm someone created under the prefix with a kind the stack never makes
    put_alarms(world.cloudwatch, [f"{PREFIX}claude-custom"])
    world.set_alarm(f"{PREFIX}claude-custom", "ALARM")

    outcome = world.controller().reconcile(lambda: 60_000)

    assert not outcome.changes and world.appconfig.live().down_models() == frozenset()
    reconciled = [extra for level, msg, extra in world.logger.lines if msg == "failover flags reconciled"]
    assert reconciled[-1]["unrecognised_alarms"] == [f"{PREFIX}claude-custom"]


def test_concurrent_controller_runs_converge_without_reserved_concurrency(world):
    # Given two controller invocations at once (an alarm event and the schedule: nothing serialises
    # them now that reserved concurrency is opt-in), the second finishing between the first's read and write
    world.appconfig.operator_put(FailoverFlags())
    world.set_alarm(CLAUDE_ERRORS, "ALARM")
    world.set_alarm(NOVA_ERRORS, "ALARM")
    first, second = world.controller(), world.controller()
    world.appconfig.before_create = lambda: second.reconcile(lambda: 60_000)

    outcome = first.reconcile(lambda: 60_000)

    # Then the first one's stale write is refused, it re-reads, finds the flags right and writes nothing
    live = world.appconfig.live()
    assert live.down_models() == {"claude", "nova"}
    assert world.appconfig.latest() == live
    assert len(world.appconfig.versions) == 2  # the seed and one controller write, not two
    assert outcome.attempts == 2 and not outcome.changes
    assert world.metrics.counts["ConflictsRetried"] == 1


# --- property: any delivery order of events converges ------------------------------------------

ALARMS = sorted(MODEL_ALARMS)
MODELS = sorted(set(MODEL_ALARMS.values()))
STATES = ["OK", "ALARM", "INSUFFICIENT_DATA"]

alarm_change = st.tuples(st.just("alarm"), st.sampled_from(ALARMS), st.sampled_from(STATES))
operator_edit = st.tuples(st.just("operator"), st.sampled_from(MODELS), st.sampled_from(["down", "up", "clear"]))
# An invocation carries some earlier event (stale, duplicated or out of order) or the schedule's.
invocation = st.tuples(st.just("invoke"), st.integers(min_value=-1, max_value=50), st.integers(0, 2))


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.one_of(alarm_change, alarm_change, invocation, operator_edit), max_size=25),
    finale=st.lists(invocation, min_size=1, max_size=3),
)
def test_shuffled_duplicated_and_dropped_events_converge_on_the_final_alarm_states(steps, finale):
    with mock_aws():
        cloudwatch = aws_client("cloudwatch")
        put_alarms(cloudwatch, ALARMS)
        world = World(cloudwatch=cloudwatch, appconfig=FakeAppConfig())
        world.appconfig.operator_put(FailoverFlags(models={"llama": manual("down")}))  # an unwatched model
        controller = world.controller()

        states = dict.fromkeys(ALARMS, "OK")
        manual_flags: dict[str, ModelFlag] = {}
        alarm_down: dict[str, bool] = dict.fromkeys(MODELS, False)  # the spec, tracked step by step
        events: list[dict] = []
        for step in [*steps, *finale]:
            kind, what, how = step
            if kind == "alarm":
                world.set_alarm(what, how)
                states[what] = how
                events.append(alarm_event(what, how))
            elif kind == "operator":
                flags = world.appconfig.latest().models.copy()
                if how == "clear":
                    flags.pop(what, None)
                    manual_flags.pop(what, None)
                else:
                    flags[what] = manual_flags[what] = manual(how)
                world.appconfig.operator_put(FailoverFlags(models=flags))
                alarm_down[what] = False  # the operator replaced or removed whatever was there
            else:
                event = events[what % len(events)] if events and what >= 0 else SCHEDULED_EVENT
                world.appconfig.conflicts_on_deploy = how  # sometimes the environment is busy
                controller.handle(event, FakeContext())
                for model in MODELS:
                    mine = [states[a] for a, m in MODEL_ALARMS.items() if m == model]
                    if model in manual_flags:
                        continue
                    if "ALARM" in mine:
                        alarm_down[model] = True
                    elif all(s == "OK" for s in mine):
                        alarm_down[model] = False

        live = world.appconfig.live()
        assert world.appconfig.latest() == live  # what the controller wrote is what routers get
        assert live.models["llama"] == manual("down")
        for model in MODELS:
            flag = live.models.get(model)
            if model in manual_flags:
                assert flag == manual_flags[model]
            elif alarm_down[model]:
                assert flag is not None and (flag.state, flag.source) == ("down", "alarm")
                firing = [a for a, m in MODEL_ALARMS.items() if m == model and states[a] == "ALARM"]
                assert all(name in flag.reason for name in firing)
            else:
                assert flag is None
        # Final alarm states decide every model that has a definite answer.
        for model in MODELS:
            mine = [states[a] for a, m in MODEL_ALARMS.items() if m == model]
            if model not in manual_flags and "ALARM" in mine:
                assert model in live.down_models()
            if model not in manual_flags and all(s == "OK" for s in mine):
                assert model not in live.models


# --- moto AppConfig: the hosted version round trip ---------------------------------------------


def test_written_flags_read_back_from_the_hosted_store():
    with mock_aws():
        client = aws_client("appconfig")
        app = client.create_application(Name="model-router")["Id"]
        profile = client.create_configuration_profile(ApplicationId=app, Name="failover-flags", LocationUri="hosted")[
            "Id"
        ]
        store = AppConfigFlagStore(client, AppConfigTarget(app, ENV, profile, STRATEGY))
        flags = FailoverFlags(models={"claude": manual("down")})

        version = store.write(flags, based_on=None, description="failover-controller: down claude")

        stored = client.get_hosted_configuration_version(
            ApplicationId=app, ConfigurationProfileId=profile, VersionNumber=version
        )
        assert stored["ContentType"] == "application/json"
        assert parse_failover_flags(stored["Content"].read()) == flags


# --- Stubber: the exact requests, checked against the real service models ----------------------


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = aws_client(service)
    return client, Stubber(client)


def metric_alarm(name: str, state: str, reason: str = "Threshold Crossed") -> dict:
    return {
        "AlarmName": name,
        "StateValue": state,
        "StateReason": reason,
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
    }


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def stubbed_controller(cloudwatch: Any, appconfig: Any, metrics: RecordingMetrics | None = None) -> FailoverController:
    return FailoverController(
        ControllerSettings.from_env(ENV_VARS),
        CloudWatchAlarmSource(cloudwatch),
        flag_store(appconfig),
        logger=RecordingLogger(),
        metrics=metrics or RecordingMetrics(),
        clock=lambda: FIXED_NOW,
        sleep=lambda _: None,
        rng=random.Random(1),
    )


def test_discovery_reads_every_page_of_the_prefix_query():
    cloudwatch, stub = stubbed("cloudwatch")
    names = [model_alarm_name(PREFIX, f"model-{i:03d}", "error-rate") for i in range(150)]
    stub.add_response(
        "describe_alarms", {"MetricAlarms": [metric_alarm(n, "OK") for n in names[:100]], "NextToken": "t1"}, DESCRIBE
    )
    stub.add_response(
        "describe_alarms",
        {
            "MetricAlarms": [metric_alarm(n, "OK") for n in names[100:120]],
            "CompositeAlarms": [metric_alarm(names[120], "ALARM", "children in ALARM")],
        },
        {**DESCRIBE, "NextToken": "t1"},
    )

    with stub:
        observed = CloudWatchAlarmSource(cloudwatch).discover(PREFIX)

    stub.assert_no_pending_responses()
    assert len(observed) == 121 and observed[names[120]].state == "ALARM"


def test_read_takes_the_highest_version_across_pages_and_parses_it():
    appconfig, stub = stubbed("appconfig")
    doc = encode_flags(FailoverFlags(models={"nova": manual("up")}))
    base = {"ApplicationId": APP, "ConfigurationProfileId": PROFILE}
    stub.add_response(
        "list_hosted_configuration_versions",
        {"Items": [{**base, "VersionNumber": 3}, {**base, "VersionNumber": 9}], "NextToken": "p2"},
        {**base, "MaxResults": 50},
    )
    stub.add_response(
        "list_hosted_configuration_versions",
        {"Items": [{**base, "VersionNumber": 5}]},
        {**base, "MaxResults": 50, "NextToken": "p2"},
    )
    stub.add_response(
        "get_hosted_configuration_version",
        {**base, "VersionNumber": 9, "ContentType": "application/json", "Content": body(doc)},
        {**base, "VersionNumber": 9},
    )

    with stub:
        snapshot = flag_store(appconfig).read()

    assert snapshot.version == 9 and snapshot.flags.models["nova"] == manual("up")


def test_a_change_is_written_with_the_version_lock_then_deployed():
    cloudwatch, cw_stub = stubbed("cloudwatch")
    appconfig, ac_stub = stubbed("appconfig")
    base = {"ApplicationId": APP, "ConfigurationProfileId": PROFILE}
    current = FailoverFlags(models={"llama": manual("down")})
    cw_stub.add_response(
        "describe_alarms",
        {
            "MetricAlarms": [
                metric_alarm(CLAUDE_ERRORS, "ALARM"),
                metric_alarm(CLAUDE_LATENCY, "OK"),
                metric_alarm(NOVA_ERRORS, "OK"),
            ]
        },
        DESCRIBE,
    )
    ac_stub.add_response(
        "list_hosted_configuration_versions", {"Items": [{**base, "VersionNumber": 4}]}, {**base, "MaxResults": 50}
    )
    ac_stub.add_response(
        "get_hosted_configuration_version",
        {**base, "VersionNumber": 4, "ContentType": "application/json", "Content": body(encode_flags(current))},
        {**base, "VersionNumber": 4},
    )
    ac_stub.add_response(
        "create_hosted_configuration_version",
        {**base, "VersionNumber": 5},
        {
            **base,
            "Content": ANY,
            "ContentType": "application/json",
            "LatestVersionNumber": 4,
            "Description": "failover-controller: down claude",
        },
    )
    ac_stub.add_response(
        "start_deployment",
        {
            "ApplicationId": APP,
            "EnvironmentId": ENV,
            "DeploymentNumber": 12,
            "ConfigurationVersion": "5",
            "State": "DEPLOYING",
        },
        {
            "ApplicationId": APP,
            "EnvironmentId": ENV,
            "DeploymentStrategyId": STRATEGY,
            "ConfigurationProfileId": PROFILE,
            "ConfigurationVersion": "5",
            "Description": ANY,
        },
    )

    with cw_stub, ac_stub:
        outcome = stubbed_controller(cloudwatch, appconfig).reconcile(lambda: 60_000)

    ac_stub.assert_no_pending_responses()
    assert (outcome.version, outcome.deployment) == (5, 12)


def test_no_change_checks_the_deployments_and_writes_nothing():
    cloudwatch, cw_stub = stubbed("cloudwatch")
    appconfig, ac_stub = stubbed("appconfig")
    base = {"ApplicationId": APP, "ConfigurationProfileId": PROFILE}
    cw_stub.add_response("describe_alarms", {"MetricAlarms": [metric_alarm(a, "OK") for a in ALARMS]}, DESCRIBE)
    ac_stub.add_response(
        "list_hosted_configuration_versions", {"Items": [{**base, "VersionNumber": 2}]}, {**base, "MaxResults": 50}
    )
    ac_stub.add_response(
        "get_hosted_configuration_version",
        {**base, "VersionNumber": 2, "ContentType": "application/json", "Content": body(b'{"models": {}}')},
        {**base, "VersionNumber": 2},
    )
    ac_stub.add_response(
        "list_deployments",
        {
            "Items": [
                {
                    "DeploymentNumber": 3,
                    "ConfigurationProfileId": PROFILE,
                    "ConfigurationVersion": "2",
                    "State": "COMPLETE",
                }
            ]
        },
        {"ApplicationId": APP, "EnvironmentId": ENV, "MaxResults": 25},
    )

    with cw_stub, ac_stub:
        outcome = stubbed_controller(cloudwatch, appconfig).reconcile(lambda: 60_000)

    ac_stub.assert_no_pending_responses()  # and no create/start_deployment was made: Stubber would refuse it
    assert not outcome.changes and outcome.deployment is None


def test_a_stubbed_conflict_on_start_deployment_is_retried_from_a_fresh_read():
    cloudwatch, cw_stub = stubbed("cloudwatch")
    appconfig, ac_stub = stubbed("appconfig")
    base = {"ApplicationId": APP, "ConfigurationProfileId": PROFILE}
    nova_firing = {"MetricAlarms": [metric_alarm(NOVA_ERRORS, "ALARM")] + [metric_alarm(a, "OK") for a in ALARMS[:2]]}
    seed = encode_flags(FailoverFlags())
    written = encode_flags(
        plan(
            FailoverFlags(),
            MODEL_ALARMS,
            {NOVA_ERRORS: AlarmObservation(NOVA_ERRORS, "ALARM", "Threshold Crossed")},
            "2025-06-01T12:00:00Z",
        ).desired
    )
    deploy_v2 = {
        "ApplicationId": APP,
        "EnvironmentId": ENV,
        "DeploymentStrategyId": STRATEGY,
        "ConfigurationProfileId": PROFILE,
        "ConfigurationVersion": "2",
        "Description": ANY,
    }
    # attempt 1: read, write version 2, deployment refused
    cw_stub.add_response("describe_alarms", nova_firing)
    ac_stub.add_response("list_hosted_configuration_versions", {"Items": [{**base, "VersionNumber": 1}]})
    ac_stub.add_response("get_hosted_configuration_version", {**base, "VersionNumber": 1, "Content": body(seed)})
    ac_stub.add_response(
        "create_hosted_configuration_version",
        {**base, "VersionNumber": 2},
        {**base, "Content": written, "ContentType": "application/json", "LatestVersionNumber": 1, "Description": ANY},
    )
    ac_stub.add_client_error(
        "start_deployment",
        service_error_code="ConflictException",
        http_status_code=409,
        service_message="Deployment #3 is in progress",
        expected_params=deploy_v2,
    )
    # attempt 2: re-read alarms and flags, find version 2 already right, only deploy it
    cw_stub.add_response("describe_alarms", nova_firing)
    ac_stub.add_response(
        "list_hosted_configuration_versions", {"Items": [{**base, "VersionNumber": 2}, {**base, "VersionNumber": 1}]}
    )
    ac_stub.add_response("get_hosted_configuration_version", {**base, "VersionNumber": 2, "Content": body(written)})
    ac_stub.add_response(
        "list_deployments",
        {
            "Items": [
                {
                    "DeploymentNumber": 3,
                    "ConfigurationProfileId": PROFILE,
                    "ConfigurationVersion": "1",
                    "State": "COMPLETE",
                }
            ]
        },
    )
    ac_stub.add_response("start_deployment", {"DeploymentNumber": 4, "ConfigurationVersion": "2"}, deploy_v2)
    metrics = RecordingMetrics()

    with cw_stub, ac_stub:
        outcome = stubbed_controller(cloudwatch, appconfig, metrics).reconcile(lambda: 60_000)

    cw_stub.assert_no_pending_responses()
    ac_stub.assert_no_pending_responses()
    assert (outcome.version, outcome.deployment, outcome.attempts) == (2, 4, 2)
    assert metrics.counts["ConflictsRetried"] == 1 and metrics.counts["FlagsSet"] == 1


def test_a_bad_request_after_someone_else_wrote_counts_as_a_conflict():
    appconfig, stub = stubbed("appconfig")
    base = {"ApplicationId": APP, "ConfigurationProfileId": PROFILE}
    stub.add_client_error(
        "create_hosted_configuration_version",
        service_error_code="BadRequestException",
        http_status_code=400,
        service_message="LatestVersionNumber does not match",
    )
    stub.add_response("list_hosted_configuration_versions", {"Items": [{**base, "VersionNumber": 8}]})

    with stub, pytest.raises(WriteConflict):
        flag_store(appconfig).write(FailoverFlags(), based_on=7, description="x")


def test_a_bad_request_for_any_other_reason_is_not_retried():
    appconfig, stub = stubbed("appconfig")
    base = {"ApplicationId": APP, "ConfigurationProfileId": PROFILE}
    stub.add_client_error(
        "create_hosted_configuration_version",
        service_error_code="BadRequestException",
        http_status_code=400,
        service_message="Configuration failed JSON Schema validation",
    )
    stub.add_response("list_hosted_configuration_versions", {"Items": [{**base, "VersionNumber": 7}]})

    with stub, pytest.raises(ClientError, match="BadRequestException"):
        flag_store(appconfig).write(FailoverFlags(), based_on=7, description="x")
