"""The scorer trainer Lambda: deployed configuration in, a report per labelled route, proposals and deployments out.

It reads the deployed routing document and the deployed learned-scorers document, and writes (proposes, deploys)
the learned-scorers profile only: the hand-edited routing document is never written (issue 14, item 5).

Behaviour runs against an in-memory AppConfig (moto has no appconfigdata, environments or deployments) and the
labels table on moto's DynamoDB through the labeller's own LabelStore. The AWS calls' exact shapes are checked
with botocore's Stubber (appconfigdata, StartDeployment) and moto (CreateHostedConfigurationVersion).
"""

from __future__ import annotations

import copy
import importlib
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws

from aws_adapters.appconfig_writer import AppConfigTarget
from labeller.store import LabelStore, MemoryLabelStore
from routing_engine.config import apply_learned, parse_learned_scorers, parse_routing_config
from scorer_trainer import handler, training
from scorer_trainer.appconfig_store import AppConfigRoutingStore
from scorer_trainer.job import TrainerJob
from tests.conftest import aws_client
from tests.unit.label_fixtures import ROUTE, labelled_config, make_labels

APP, ENV, PROFILE, STRATEGY = "app1234", "env5678", "prof901", "strat12"
LEARNED = "learn23"  # the learned-scorers profile, in the same environment
TABLE = "labels-test"
NOW = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
LABELS = 1000  # rule-following labels: the out-of-fold gain's interval clears 0 well before this
ENV_VARS = {
    "LABELS_TABLE_NAME": TABLE,
    "APPCONFIG_APPLICATION_ID": APP,
    "APPCONFIG_ENVIRONMENT_ID": ENV,
    "APPCONFIG_PROFILE_ID": PROFILE,
    "APPCONFIG_DEPLOYMENT_STRATEGY_ID": STRATEGY,
    "APPCONFIG_LEARNED_PROFILE_ID": LEARNED,
}


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch):
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_METRICS_NAMESPACE": "ModelRouter",
        "POWERTOOLS_SERVICE_NAME": "scorer-trainer",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }.items():
        monkeypatch.setenv(name, value)
    importlib.reload(handler)  # Powertools reads its settings when Logger/Metrics are built
    yield
    handler.metrics.clear_metrics()
    handler.job = None


# --- fakes -------------------------------------------------------------------------------------


def conflict(operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "ConflictException", "Message": "a deployment is in progress"},
            "ResponseMetadata": {"HTTPStatusCode": 409},
        },
        operation,
    )


@dataclass
class FakeAppConfig:
    """appconfigdata + appconfig in memory: what is deployed (routing, learned scorers), hosted versions of the
    learned-scorers profile, deployments."""

    deployed: bytes
    learned: bytes | None = None  # None: nothing deployed to learned-scorers yet
    hosted: dict[int, dict] = field(default_factory=dict)
    deployments: list[dict] = field(default_factory=list)
    busy: bool = False  # StartDeployment refused with ConflictException
    fail_create: tuple[int, ...] = ()  # these CreateHostedConfigurationVersion calls (1 = the first) are throttled
    deploy_error: Exception | None = None  # StartDeployment raises this
    create_calls: int = 0

    def start_configuration_session(self, **kwargs):
        assert (kwargs["ApplicationIdentifier"], kwargs["EnvironmentIdentifier"]) == (APP, ENV)
        assert kwargs["ConfigurationProfileIdentifier"] in (PROFILE, LEARNED)
        return {"InitialConfigurationToken": f"token-{kwargs['ConfigurationProfileIdentifier']}"}

    def get_latest_configuration(self, ConfigurationToken):
        body = self.deployed if ConfigurationToken == f"token-{PROFILE}" else (self.learned or b"")
        return {
            "Configuration": StreamingBody(io.BytesIO(body), len(body)),
            "ContentType": "application/json",
            "NextPollConfigurationToken": "token-2",
        }

    def create_hosted_configuration_version(self, **kwargs):
        assert kwargs["ConfigurationProfileId"] == LEARNED, "the trainer writes the learned-scorers profile only"
        self.create_calls += 1
        if self.create_calls in self.fail_create:
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 429},
                },
                "CreateHostedConfigurationVersion",
            )
        number = len(self.hosted) + 1
        self.hosted[number] = kwargs
        return {"VersionNumber": number}

    def start_deployment(self, **kwargs):
        if self.busy:
            raise conflict("StartDeployment")
        if self.deploy_error is not None:
            raise self.deploy_error
        self.deployments.append(kwargs)
        return {"DeploymentNumber": len(self.deployments)}

    def content(self, number: int) -> dict:
        return json.loads(self.hosted[number]["Content"])

    def scorer_of(self, number: int, route: str) -> str | None:
        """The version of the route's learned scorer in hosted version `number`, or None."""
        entry = self.content(number)["routes"].get(route)
        return None if entry is None else entry["scorer"]["version"]


class Recorder:
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str]] = []
        self.lines: list[tuple[str, str, dict]] = []

    def __call__(self, route: str, outcome: str) -> None:
        self.outcomes.append((route, outcome))

    def info(self, message, extra=None):
        self.lines.append(("INFO", message, extra or {}))

    def warning(self, message, extra=None):
        self.lines.append(("WARNING", message, extra or {}))

    def error(self, message, extra=None):
        self.lines.append(("ERROR", message, extra or {}))


class FakeContext:
    function_name = "scorer-trainer"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:scorer-trainer"
    aws_request_id = "5f2e1c7a-0000-4000-8000-000000000002"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


@pytest.fixture
def dynamodb():
    with mock_aws():
        client = aws_client("dynamodb")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        yield client


def label_store(client) -> LabelStore:
    return LabelStore(TABLE, client, clock=lambda: NOW)


def store_labels(store: LabelStore, labels: list[dict]) -> None:
    for label in labels:
        assert store.put_label(label)


def job_for(fake: FakeAppConfig, store: LabelStore, recorder: Recorder) -> TrainerJob:
    def profile(profile_id: str) -> AppConfigRoutingStore:
        return AppConfigRoutingStore(
            data_client=fake, control_client=fake, target=AppConfigTarget(APP, ENV, profile_id, STRATEGY)
        )

    return TrainerJob(
        profile(PROFILE),
        store,
        learned_store=profile(LEARNED),
        clock=lambda: NOW,
        on_outcome=recorder,
        logger=recorder,
    )


def config_bytes(doc: dict) -> bytes:
    return json.dumps(doc, indent=2).encode()


def two_labelled_routes(auto_first: bool) -> dict:
    """tech_support and a copy of it, 'support_b', both labelled; one of them deploys automatically."""
    doc = labelled_config(target_strong_share=0.2, auto_deploy=auto_first)
    doc["routes"]["support_b"] = copy.deepcopy(doc["routes"][ROUTE])
    doc["routes"]["support_b"]["labelling"]["auto_deploy"] = not auto_first
    return doc


# --- behaviour ---------------------------------------------------------------------------------


def test_a_better_scorer_is_proposed_as_a_hosted_version_and_not_deployed(dynamodb):
    # Given a deployed configuration labelling tech_support (no auto deploy) and labels that follow a rule
    fake = FakeAppConfig(config_bytes(labelled_config(target_strong_share=0.2)))
    store = label_store(dynamodb)
    store_labels(store, make_labels(LABELS))
    recorder = Recorder()
    # When the trainer runs
    result = job_for(fake, store, recorder).run()
    # Then one hosted version of the learned-scorers profile holds the proposal, it validates, nothing was deployed
    assert list(fake.hosted) == [1] and fake.deployments == []
    proposal = fake.hosted[1]
    learned = parse_learned_scorers(proposal["Content"])
    entry = learned.routes[ROUTE]
    assert proposal["VersionLabel"] == entry.version
    # and with the deployed routing document it makes the route use the learned scorer at its calibrated threshold
    routing = parse_routing_config(fake.deployed)
    effective = apply_learned(routing, learned)
    assert effective.applied == {ROUTE: entry.version} and effective.ignored == {}
    assert effective.config.routes[ROUTE].dynamic.scorer == "tech_support-learned"
    rule = next(r for r in effective.config.routes[ROUTE].dynamic.rules if r.id == entry.rule)
    assert rule.when["complexity"].gte == entry.threshold
    assert proposal["VersionLabel"].startswith("tech_support-20261201T0630-n")
    assert "out-of-fold APGR" in proposal["Description"] and len(proposal["Description"]) <= 1024
    # and the report is stored, counted and returned
    report = store.reports(ROUTE)[0]
    assert report["outcome"] == "proposed" and report["proposal"]["hosted_version"] == 1
    assert report["difference"]["ci"][0] > 0
    assert recorder.outcomes == [(ROUTE, "proposed")]
    assert result["routes"][ROUTE]["outcome"] == "proposed"


def test_auto_deploy_deploys_the_proposal_with_the_gradual_strategy():
    fake = FakeAppConfig(config_bytes(labelled_config(target_strong_share=0.2, auto_deploy=True)))
    store = MemoryLabelStore()
    store_labels(store, make_labels(LABELS))
    recorder = Recorder()
    job_for(fake, store, recorder).run()
    assert fake.deployments == [
        {
            "ApplicationId": APP,
            "EnvironmentId": ENV,
            "DeploymentStrategyId": STRATEGY,
            "ConfigurationProfileId": LEARNED,
            "ConfigurationVersion": "1",
            "Description": fake.hosted[1]["Description"],
        }
    ]
    assert store.reports(ROUTE)[0]["outcome"] == "deployed"
    assert recorder.outcomes == [(ROUTE, "deployed")]


def test_a_deployment_already_in_progress_leaves_the_proposal_for_later():
    fake = FakeAppConfig(config_bytes(labelled_config(target_strong_share=0.2, auto_deploy=True)), busy=True)
    store = MemoryLabelStore()
    store_labels(store, make_labels(LABELS))
    recorder = Recorder()
    job_for(fake, store, recorder).run()
    report = store.reports(ROUTE)[0]
    assert report["outcome"] == "proposed" and "not deployed" in report["reason"]
    assert list(fake.hosted) == [1] and fake.deployments == []


def test_too_few_labels_propose_nothing_and_say_so():
    fake = FakeAppConfig(config_bytes(labelled_config(min_labels=200)))
    store = MemoryLabelStore()
    store_labels(store, make_labels(120))
    recorder = Recorder()
    job_for(fake, store, recorder).run()
    assert fake.hosted == {} and fake.deployments == []
    report = store.reports(ROUTE)[0]
    assert report["outcome"] == "too_few" and report["labels"]["usable"] == 120
    assert recorder.outcomes == [(ROUTE, "too_few")]


def test_two_better_routes_never_overwrite_each_other():
    # Given two labelled routes, tech_support deploying automatically and support_b for review
    fake = FakeAppConfig(config_bytes(two_labelled_routes(auto_first=True)))
    store = MemoryLabelStore()
    store_labels(store, make_labels(LABELS) + make_labels(LABELS, seed=2, route="support_b"))
    job_for(fake, store, Recorder()).run()
    # Then version 1 (deployed) changes tech_support only; version 2 (for review) holds both changes
    assert sorted(fake.content(1)["routes"]) == [ROUTE]
    assert sorted(fake.content(2)["routes"]) == ["support_b", ROUTE]
    assert fake.scorer_of(2, ROUTE) == fake.scorer_of(1, ROUTE)
    assert [d["ConfigurationVersion"] for d in fake.deployments] == ["1"]
    assert store.reports(ROUTE)[0]["outcome"] == "deployed"
    assert store.reports("support_b")[0]["outcome"] == "proposed"


def test_one_route_failing_does_not_stop_the_others():
    fake = FakeAppConfig(config_bytes(two_labelled_routes(auto_first=False)))
    store = MemoryLabelStore()
    store_labels(store, make_labels(LABELS))
    real_labels = store.labels

    def labels(route, **kwargs):
        if route == "support_b":
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "Query"
            )
        return real_labels(route, **kwargs)

    store.labels = labels  # type: ignore[method-assign]
    recorder = Recorder()
    job_for(fake, store, recorder).run()
    assert sorted(recorder.outcomes) == [("support_b", "failed"), (ROUTE, "proposed")]
    assert "ProvisionedThroughputExceeded" in store.reports("support_b")[0]["reason"]
    assert any(level == "ERROR" and extra.get("route") == "support_b" for level, _, extra in recorder.lines)


@pytest.mark.parametrize("failing", ["auto", "review"])
def test_a_failed_hosted_version_fails_its_routes_and_the_other_group_still_proceeds(failing):
    # Given two better routes, tech_support deploying automatically and support_b for review, and AppConfig
    # throttling CreateHostedConfigurationVersion for one of the two groups
    fake = FakeAppConfig(
        config_bytes(two_labelled_routes(auto_first=True)), fail_create=(1,) if failing == "auto" else (2,)
    )
    store = MemoryLabelStore()
    store_labels(store, make_labels(LABELS) + make_labels(LABELS, seed=2, route="support_b"))
    recorder = Recorder()
    # When the trainer runs
    result = job_for(fake, store, recorder).run()
    # Then the failed group's route is reported failed with the reason, and the other group went ahead
    failed, ok = (ROUTE, "support_b") if failing == "auto" else ("support_b", ROUTE)
    failed_report, ok_report = store.reports(failed)[0], store.reports(ok)[0]
    assert failed_report["outcome"] == "failed"
    assert "the proposal was not created: ClientError" in failed_report["reason"]
    assert "ThrottlingException" in failed_report["reason"]
    assert failed_report["difference"]["ci"][0] > 0  # the training result is kept in the report
    assert list(fake.hosted) == [1]
    if failing == "auto":  # the review version is made on top of the deployed document, without tech_support
        assert ok_report["outcome"] == "proposed" and ok_report["proposal"]["hosted_version"] == 1
        assert ROUTE not in fake.content(1)["routes"]
        assert fake.deployments == []
    else:
        assert ok_report["outcome"] == "deployed" and ok_report["proposal"]["hosted_version"] == 1
        assert [d["ConfigurationVersion"] for d in fake.deployments] == ["1"]
    assert fake.scorer_of(1, ok) is not None
    # and every route's report is stored and counted once
    assert sorted(recorder.outcomes) == sorted([(failed, "failed"), (ok, ok_report["outcome"])])
    assert {r: item["outcome"] for r, item in result["routes"].items()} == {failed: "failed", ok: ok_report["outcome"]}
    assert any(level == "ERROR" and message == "learned scorers not proposed" for level, message, _ in recorder.lines)


def test_a_deployment_that_fails_leaves_the_proposal_and_the_review_group_goes_on():
    # Given StartDeployment failing with something other than AppConfig's refusal (no connection)
    fake = FakeAppConfig(
        config_bytes(two_labelled_routes(auto_first=True)),
        deploy_error=EndpointConnectionError(endpoint_url="https://appconfig.us-east-1.amazonaws.com"),
    )
    store = MemoryLabelStore()
    store_labels(store, make_labels(LABELS) + make_labels(LABELS, seed=2, route="support_b"))
    recorder = Recorder()
    # When the trainer runs
    job_for(fake, store, recorder).run()
    # Then the auto group's version stays, proposed and not deployed, and the review version is made on top of it
    auto = store.reports(ROUTE)[0]
    assert auto["outcome"] == "proposed" and auto["proposal"]["hosted_version"] == 1
    assert (
        "proposed as hosted version 1, not deployed: StartDeployment failed (EndpointConnectionError" in auto["reason"]
    )
    assert store.reports("support_b")[0]["outcome"] == "proposed"
    assert fake.scorer_of(2, ROUTE) == fake.scorer_of(1, ROUTE) is not None
    assert sorted(recorder.outcomes) == [("support_b", "proposed"), (ROUTE, "proposed")]


def test_a_proposal_over_the_hosted_limit_is_not_sent_and_says_why(monkeypatch):
    # Given a better route whose proposal would be over AppConfig's hosted limit (lowered here to 1,000 bytes)
    monkeypatch.setattr(training, "APPCONFIG_HOSTED_MAX_BYTES", 1000)
    fake = FakeAppConfig(config_bytes(labelled_config(target_strong_share=0.2, auto_deploy=True)))
    store = MemoryLabelStore()
    store_labels(store, make_labels(LABELS))
    recorder = Recorder()
    # When the trainer runs
    job_for(fake, store, recorder).run()
    # Then nothing is sent to AppConfig, and the report says why
    assert fake.hosted == {} and fake.deployments == []
    report = store.reports(ROUTE)[0]
    assert report["outcome"] == "not_better"
    assert "proposal invalid: the proposed learned-scorers document is" in report["reason"]
    assert "over AppConfig's hosted limit of 1,000 bytes" in report["reason"]
    assert recorder.outcomes == [(ROUTE, "not_better")]


def test_a_proposal_is_written_compactly():
    fake = FakeAppConfig(config_bytes(labelled_config(target_strong_share=0.2)))
    store = MemoryLabelStore()
    store_labels(store, make_labels(LABELS))
    job_for(fake, store, Recorder()).run()
    content = fake.hosted[1]["Content"]
    assert (
        b"\n" not in content
        and content == json.dumps(json.loads(content), ensure_ascii=False, separators=(",", ":")).encode()
    )


def test_the_lambda_handler_counts_each_route_run(dynamodb, capsys):
    # Given the handler wired from its environment, with AppConfig in memory and the labels table on moto
    fake = FakeAppConfig(config_bytes(labelled_config(min_labels=200)))
    store_labels(label_store(dynamodb), make_labels(50))
    handler.job = handler.build_job(ENV_VARS, data_client=fake, control_client=fake, dynamodb_client=dynamodb)
    # When the schedule invokes it
    out = handler.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, FakeContext())
    # Then it says what happened per route, and emits ScorerTrainingRuns{Route, Outcome}
    assert out == {"routes": {ROUTE: "too_few"}, "proposals": []}
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    runs = [d for d in docs if "ScorerTrainingRuns" in d]
    assert len(runs) == 1
    assert (runs[0]["Route"], runs[0]["Outcome"], runs[0]["ScorerTrainingRuns"]) == (ROUTE, "too_few", [1.0])
    dims = runs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert set(dims) == {"service", "Route", "Outcome"}


def test_a_missing_environment_variable_is_named():
    with pytest.raises(RuntimeError, match="APPCONFIG_DEPLOYMENT_STRATEGY_ID"):
        handler.build_job({k: v for k, v in ENV_VARS.items() if k != "APPCONFIG_DEPLOYMENT_STRATEGY_ID"})


# --- the AWS calls' shapes ---------------------------------------------------------------------


def test_read_deployed_uses_a_configuration_session():
    data = boto3.client("appconfigdata", region_name="us-east-1")
    content = config_bytes(labelled_config())
    with Stubber(data) as stub:
        stub.add_response(
            "start_configuration_session",
            {"InitialConfigurationToken": "t" * 20},
            {
                "ApplicationIdentifier": APP,
                "EnvironmentIdentifier": ENV,
                "ConfigurationProfileIdentifier": PROFILE,
                "RequiredMinimumPollIntervalInSeconds": ANY,
            },
        )
        stub.add_response(
            "get_latest_configuration",
            {
                "Configuration": StreamingBody(io.BytesIO(content), len(content)),
                "ContentType": "application/json",
                "VersionLabel": "v7",
                "NextPollConfigurationToken": "n",
            },
            {"ConfigurationToken": "t" * 20},
        )
        store = AppConfigRoutingStore(
            data_client=data,
            control_client=None,
            target=AppConfigTarget(APP, ENV, PROFILE, STRATEGY),
        )
        deployed = store.read_deployed()
        stub.assert_no_pending_responses()
    assert deployed.content == content and deployed.version_label == "v7"


def test_start_deployment_request_shape_and_conflict():
    control = boto3.client("appconfig", region_name="us-east-1")
    store = AppConfigRoutingStore(
        data_client=None,
        control_client=control,
        target=AppConfigTarget(APP, ENV, PROFILE, STRATEGY),
    )
    expected = {
        "ApplicationId": APP,
        "EnvironmentId": ENV,
        "DeploymentStrategyId": STRATEGY,
        "ConfigurationProfileId": PROFILE,
        "ConfigurationVersion": "4",
        "Description": "why",
    }
    from scorer_trainer.appconfig_store import DeploymentRefused

    with Stubber(control) as stub:
        stub.add_response("start_deployment", {"DeploymentNumber": 3, "State": "DEPLOYING"}, expected)
        stub.add_client_error(
            "start_deployment", service_error_code="ConflictException", http_status_code=409, expected_params=expected
        )
        # AppConfig runs the profile's validators at StartDeployment: a refusal is a BadRequestException
        stub.add_client_error(
            "start_deployment",
            service_error_code="BadRequestException",
            http_status_code=400,
            service_message="validator refused",
            expected_params=expected,
        )
        assert store.deploy(4, description="why") == 3
        with pytest.raises(DeploymentRefused, match="in progress"):
            store.deploy(4, description="why")
        with pytest.raises(DeploymentRefused, match="BadRequestException"):  # the proposal stays, the run goes on
            store.deploy(4, description="why")
        stub.assert_no_pending_responses()


def test_a_proposal_is_a_hosted_version_in_moto():
    with mock_aws():
        control = aws_client("appconfig")
        app = control.create_application(Name="model-router")["Id"]
        profile = control.create_configuration_profile(ApplicationId=app, Name="routing", LocationUri="hosted")["Id"]
        store = AppConfigRoutingStore(
            data_client=None,
            control_client=control,
            target=AppConfigTarget(app, ENV, profile, STRATEGY),
        )
        content = config_bytes(labelled_config())
        number = store.propose(content, description="r\u00e9sum\u00e9 " + "x" * 2000, label="tech_support-2026")
        stored = control.get_hosted_configuration_version(
            ApplicationId=app, ConfigurationProfileId=profile, VersionNumber=number
        )
    assert stored["Content"].read() == content
    assert stored["VersionLabel"] == "tech_support-2026"
    assert stored["Description"].startswith("r?sum? ") and len(stored["Description"]) == 1024


def test_the_next_run_trains_against_the_deployed_learned_scorer_and_keeps_the_other_entries():
    # Given a first run whose learned scorer is now deployed, beside an entry for a route since removed by hand
    first = FakeAppConfig(config_bytes(labelled_config(target_strong_share=0.2, auto_deploy=True)))
    store = MemoryLabelStore()
    store_labels(store, make_labels(LABELS))
    job_for(first, store, Recorder()).run()
    deployed = first.content(1)
    deployed["routes"]["gone"] = deployed["routes"][ROUTE]
    fake = FakeAppConfig(first.deployed, learned=json.dumps(deployed).encode())
    recorder = Recorder()
    # When the trainer runs again on more labels
    store_labels(store, make_labels(LABELS, seed=3))
    result = job_for(fake, store, recorder).run()
    # Then "the current scorer" it compares with is the learned one, at its learned threshold
    report = store.reports(ROUTE)[0]
    assert report["current"]["scorer"] == "tech_support-learned"
    assert report["current"]["version"] == first.scorer_of(1, ROUTE)
    assert report["threshold"]["old"] == deployed["routes"][ROUTE]["threshold"]
    assert result["learned"] == {ROUTE: first.scorer_of(1, ROUTE)}
    # and the entry that fits no route is logged as ignored, and kept as it was in any new proposal
    assert ("WARNING", "learned scorer ignored") in [(level, msg) for level, msg, _ in recorder.lines]
    if fake.hosted:
        assert fake.content(1)["routes"]["gone"] == deployed["routes"]["gone"]
