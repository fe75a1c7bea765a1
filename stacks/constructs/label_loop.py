"""The label loop (issue 9, item 5): a queue of sampled requests, a labeller, a labels table, a daily trainer.

Metric contract (namespace ModelRouter, the router's; every metric also carries the Powertools `service`
dimension of the function that writes it: model-router, labeller, scorer-trainer). The dashboard reads
them with SEARCH over exactly these dimension sets, so a route labelled only through AppConfig shows too:

    LabelSamples{Outcome}              router   Outcome = queued|sent|failed|too_large            (Count)
    LabelsStored{Route}                labeller one per label written                             (Count)
    LabelsSkipped{Route,Reason}        labeller Reason = budget|invalid|judge_unparseable|model_rejected|duplicate (Count)
    StrongWinRate{Route,Pair}          labeller the label's target (0..1), Pair = "<weak> vs <strong>" (None; Average)
    LabelSpendUSD{Route}               labeller Bedrock cost of labelling (other answer + 2 verdicts) (None; Sum)
    ScorerTrainingRuns{Route,Outcome}  trainer  Outcome = proposed|deployed|not_better|too_few|failed (Count)

What is here, and why:

* `Queue` (SSE-SQS, TLS only) and its dead-letter queue (SSE-SQS, TLS only, 14 days). A sample carries prompt
  and answer text, so the queue keeps it one day at most (a backlog older than a day is past its daily budget
  anyway); a sample the labeller fails `MAX_RECEIVE_COUNT` times moves to the DLQ, where a person can read it
  (and redrive it) for 14 days; the DLQ alarm says so. The visibility timeout is `VISIBILITY_TIMEOUT_FACTOR` x the
  labeller's timeout (Lambda developer guide, "Creating and configuring an Amazon SQS event source mapping": at
  least six times the function timeout, so a throttled batch can be retried before it reappears).
* `Table`: pk/sk strings, on demand, PITR, TTL `expires_at`, AWS managed key, deleted with the stack (labels are
  derived data that expire; like the spend table). Items: `label#<route>`, `budget#<route>`, `report#<route>`.
* The labeller (`labeller.handler.lambda_handler`) on an SQS event source: partial batch responses, batches of
  `BATCH_SIZE`, at most `labeller_max_concurrency` concurrent invocations (the event source's MaximumConcurrency:
  2..1000), so Bedrock spend and load are bounded however many samples arrive. IAM: the event source's consume
  grant on the queue; on the table, per partition prefix (`dynamodb:LeadingKeys`): GetItem/PutItem on `label#*`
  (GetItem: is a redelivered sample labelled already?), GetItem/UpdateItem on `budget#*`; bedrock:InvokeModel (Converse) on the catalog's models, from the same grant
  helper as the router (`ModelInvokePolicy`), without InvokeModelWithResponseStream (the labeller does not
  stream) and without prompt routers.
* The trainer (`scorer_trainer.handler.lambda_handler`) once a day from EventBridge Scheduler (the EventBridge
  user guide calls scheduled rules legacy and recommends Scheduler; it also gives the target its own retry
  policy), through a role that may invoke the trainer's unqualified ARN only. IAM of the trainer: Query on
  `label#*`, PutItem on `report#*`; AppConfig Data read of the routing configuration and of the learned-scorers
  profile; CreateHostedConfigurationVersion on the learned-scorers profile only (the trainer never writes the
  hand-edited routing document); StartDeployment of the learned-scorers profile to the routing environment with
  the routing (gradual, alarm-monitored) strategy. AppConfig ARNs in the shapes of the Service
  Authorization Reference ("Actions, resources, and condition keys for AWS AppConfig"), as the failover
  controller's; version and deployment numbers are AppConfig's, so those two resources end in `/*`.
* Alarms `model-router-<stage>-label-dlq` (a sample could not be labelled), `-label-backlog` (the oldest sample
  is half the queue's retention old: expired samples are deleted, not dead-lettered), `-labeller-errors`,
  `-scorer-trainer-errors` (a crash or timeout; handled per-message failures do not count).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from labeller import settings as labeller_env
from routing_engine.config import RoutingConfig
from scorer_trainer import settings as trainer_env
from stacks.constructs.alarms import alarm_prefix
from stacks.constructs.lambda_factory import create_python_function
from stacks.constructs.model_access import CONVERSE_ACTIONS, ModelInvokePolicy, nag_resource
from stacks.constructs.routing_config_store import RoutingConfigStore, appconfig_arn
from stacks.constructs.spend_table import expiring_table

LABELLER_HANDLER = "labeller.handler.lambda_handler"
TRAINER_HANDLER = "scorer_trainer.handler.lambda_handler"
LABELLER_SERVICE = "labeller"
TRAINER_SERVICE = "scorer-trainer"

# SQS's message size quota: 1 MiB (1,048,576 bytes), body and attributes together, since August 2025; Lambda's SQS
# event source mapping delivers messages of that size (AWS Compute Blog, 2026-01-29, "serverless services now
# support payloads up to 1 MB"). The router refuses (and counts as too_large) a sample whose UTF-8 JSON body is
# larger than its MAX_SAMPLE_BYTES (router.adapters.sample_queue); it sends no message attributes.
SQS_MAX_MESSAGE_BYTES = 1_048_576

# One sample per invocation: the other model's answer and two verdicts, each call bounded by the labeller's own
# timeout and attempts (WORST_SAMPLE_S), plus a minute for the store. Concurrency (not the batch) sets the rate.
BATCH_SIZE = 1
LABELLER_TIMEOUT = Duration.seconds(int(labeller_env.WORST_SAMPLE_S) + 60)
LABELLER_MEMORY_MB = 512
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS: queue visibility timeout >= 6 x the function timeout
# Then the dead-letter queue: at least 5, as the Lambda developer guide advises for SQS event sources (fewer can
# move a message that was only throttled). A retried sample repeats at most its own spend, and the day's budget
# bounds that; a sample already labelled is skipped before any model call.
MAX_RECEIVE_COUNT = 5
QUEUE_RETENTION = Duration.days(1)
DLQ_RETENTION = Duration.days(14)  # SQS's maximum; must exceed the source queue's (enqueue time is kept)
TRAINER_TIMEOUT = Duration.minutes(10)
TRAINER_MEMORY_MB = 1024
TRAINER_RETRY_ATTEMPTS = 1  # a failed run is alarmed; the next day's run trains on every label anyway
SCHEDULE_RETRY_ATTEMPTS = 2  # Scheduler's retries of the (asynchronous) invoke itself, e.g. when Lambda throttles

# What each function may do on the labels table, by partition-key prefix (the IAM condition dynamodb:LeadingKeys).
LABELLER_TABLE_ACCESS = (
    ("StoreLabels", ("dynamodb:GetItem", "dynamodb:PutItem"), ("label#*",)),  # GetItem: a redelivered sample
    ("SpendLabelBudget", ("dynamodb:GetItem", "dynamodb:UpdateItem"), ("budget#*",)),
)
TRAINER_TABLE_ACCESS = (
    ("ReadLabels", ("dynamodb:Query",), ("label#*",)),
    ("WriteReports", ("dynamodb:PutItem",), ("report#*",)),
)


def table_statements(table: dynamodb.ITable, access) -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(
            sid=sid,
            actions=list(actions),
            resources=[table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(prefixes)}},
        )
        for sid, actions, prefixes in access
    ]


class LabelLoop(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        config: RoutingConfig,
        code: lambda_.Code,
        config_store: RoutingConfigStore,
        powertools_layer: lambda_.ILayerVersion,
        log_retention_days: int,
        metrics_namespace: str,
        max_concurrency: int,
        trainer_schedule: str,
        alarm_period: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # --- queue and dead-letter queue ---------------------------------------------------------------------
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
            visibility_timeout=Duration.seconds(LABELLER_TIMEOUT.to_seconds() * VISIBILITY_TIMEOUT_FACTOR),
            max_message_size_bytes=SQS_MAX_MESSAGE_BYTES,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVE_COUNT),
        )

        # --- labels table ----------------------------------------------------------------------------------
        # Labels hold feature vectors, verdicts and costs (no text) and expire.
        self.table = expiring_table(self, "Table", sort_key=True)

        # --- labeller --------------------------------------------------------------------------------------
        self.labeller = create_python_function(
            self,
            "Labeller",
            code=code,
            handler=LABELLER_HANDLER,
            description="Label loop: the other model's answer and a judge's two verdicts for each sampled request",
            service_name=LABELLER_SERVICE,
            metrics_namespace=metrics_namespace,
            stage=stage,
            memory_mb=LABELLER_MEMORY_MB,
            timeout=LABELLER_TIMEOUT,
            log_retention_days=log_retention_days,
            layers=[powertools_layer],
            environment={labeller_env.LABELS_TABLE_NAME: self.table.table_name},
        )
        self.event_source = event_sources.SqsEventSource(
            self.queue,
            batch_size=BATCH_SIZE,
            report_batch_item_failures=True,
            max_concurrency=max_concurrency,
        )
        self.labeller.add_event_source(self.event_source)  # grants the consume actions on the queue
        labeller_role = self.labeller.role
        assert labeller_role is not None
        self.labeller_policy = iam.Policy(
            self,
            "LabellerTablePolicy",
            statements=table_statements(self.table, LABELLER_TABLE_ACCESS),
            roles=[labeller_role],
        )
        self.labeller_models = ModelInvokePolicy(
            self,
            "LabellerModelAccess",
            role=labeller_role,
            config=config,
            actions=CONVERSE_ACTIONS,
            prompt_routers=False,
            description="Label loop: Bedrock Converse (InvokeModel) on the routing catalog's models",
        )
        for policy in (self.labeller_policy, *self.labeller_models.policies):
            self.labeller.node.add_dependency(policy)

        # --- trainer ---------------------------------------------------------------------------------------
        self.trainer = create_python_function(
            self,
            "Trainer",
            code=code,
            handler=TRAINER_HANDLER,
            description="Label loop: retrains each labelled route's scorer and proposes a learned-scorers version",
            service_name=TRAINER_SERVICE,
            metrics_namespace=metrics_namespace,
            stage=stage,
            memory_mb=TRAINER_MEMORY_MB,
            timeout=TRAINER_TIMEOUT,
            log_retention_days=log_retention_days,
            layers=[powertools_layer],
            environment={
                trainer_env.LABELS_TABLE_NAME: self.table.table_name,
                trainer_env.APPCONFIG_APPLICATION_ID: config_store.application_id,
                trainer_env.APPCONFIG_ENVIRONMENT_ID: config_store.environment_id,
                trainer_env.APPCONFIG_PROFILE_ID: config_store.profile_id,
                trainer_env.APPCONFIG_DEPLOYMENT_STRATEGY_ID: config_store.deployment_strategy.deployment_strategy_id,
                trainer_env.APPCONFIG_LEARNED_PROFILE_ID: config_store.learned_profile_id,
            },
        )
        self.trainer.configure_async_invoke(retry_attempts=TRAINER_RETRY_ATTEMPTS, max_event_age=Duration.hours(1))
        trainer_role = self.trainer.role
        assert trainer_role is not None
        application_arn = appconfig_arn(self, f"application/{config_store.application_id}")
        profile_arn = f"{application_arn}/configurationprofile/{config_store.learned_profile_id}"  # written
        environment_arn = f"{application_arn}/environment/{config_store.environment_id}"
        strategy_arn = appconfig_arn(
            self, f"deploymentstrategy/{config_store.deployment_strategy.deployment_strategy_id}"
        )
        self.trainer_wildcard_resources = (
            f"{profile_arn}/hostedconfigurationversion/*",
            f"{environment_arn}/deployment/*",
        )
        versions, deployments = self.trainer_wildcard_resources
        self.trainer_policy = iam.Policy(
            self,
            "TrainerPolicy",
            statements=[
                *table_statements(self.table, TRAINER_TABLE_ACCESS),
                iam.PolicyStatement(
                    sid="ProposeLearnedScorersVersion",
                    actions=["appconfig:CreateHostedConfigurationVersion"],
                    resources=[application_arn, profile_arn, versions],
                ),
                iam.PolicyStatement(
                    sid="DeployLearnedScorersVersion",
                    actions=["appconfig:StartDeployment"],
                    resources=[application_arn, environment_arn, profile_arn, strategy_arn, deployments],
                ),
            ],
            roles=[trainer_role],
        )
        config_store.grant_read(self.trainer)  # routing (to train against) and learned-scorers (to propose on)
        self.trainer.node.add_dependency(self.trainer_policy)
        # The L1 schedule with a role of our own: the L2 target's grant adds `<function>:*` (every version and
        # alias); this role may invoke the trainer's unqualified ARN only, and only for schedules of this account.
        self.schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"EventBridge Scheduler invokes the model-router {stage} scorer trainer",
            inline_policies={
                "InvokeTrainer": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.trainer.function_arn]),
                    ]
                )
            },
        )
        self.schedule = scheduler.CfnSchedule(
            self,
            "DailyTraining",
            description=f"Retrain the model-router {stage} scorers on the labels collected so far",
            schedule_expression=trainer_schedule,
            schedule_expression_timezone="UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.trainer.function_arn,
                role_arn=self.schedule_role.role_arn,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=SCHEDULE_RETRY_ATTEMPTS, maximum_event_age_in_seconds=3600
                ),
            ),
        )

        # --- alarms ----------------------------------------------------------------------------------------
        prefix = alarm_prefix(stage)

        def alarm(
            construct_id: str, name: str, description: str, metric: cw.IMetric, threshold: float, at_least: bool = False
        ) -> cw.Alarm:
            return cw.Alarm(
                self,
                construct_id,
                alarm_name=f"{prefix}{name}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                comparison_operator=(
                    cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
                    if at_least
                    else cw.ComparisonOperator.GREATER_THAN_THRESHOLD
                ),
            )

        self.dlq_alarm = alarm(
            "DeadLettersVisible",
            "label-dlq",
            "Sampled requests the labeller failed on after its retries wait in the label dead-letter queue (they "
            "hold prompt text: read, redrive or purge them)",
            self.dead_letters.metric_approximate_number_of_messages_visible(statistic="Maximum", period=alarm_period),
            0,
        )
        # The queue keeps a sample QUEUE_RETENTION at most and then deletes it (no dead-letter queue for expiry):
        # alarm while half of that is left, so a stalled labeller is seen before samples silently vanish.
        self.backlog_alarm = alarm(
            "SamplesAgeing",
            "label-backlog",
            "The oldest waiting label sample is over half the queue's retention old: the labeller is not keeping "
            "up (or is failing); samples older than the retention are deleted unlabelled",
            self.queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=alarm_period),
            QUEUE_RETENTION.to_seconds() / 2,
        )
        self.labeller_errors = alarm(
            "LabellerErrors",
            "labeller-errors",
            "Labeller invocations that crashed or timed out (failed samples are reported per item and do not count)",
            self.labeller.metric_errors(statistic="Sum", period=alarm_period),
            1,
            at_least=True,
        )
        self.trainer_errors = alarm(
            "TrainerErrors",
            "scorer-trainer-errors",
            "The daily scorer training crashed or timed out in the last day",
            self.trainer.metric_errors(statistic="Sum", period=Duration.days(1)),
            1,
            at_least=True,
        )
        self.alarms: list[cw.Alarm] = [self.dlq_alarm, self.backlog_alarm, self.labeller_errors, self.trainer_errors]

        # --- accepted cdk-nag findings ---------------------------------------------------------------------
        Validations.of(self.dead_letters).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the label queue's dead-letter queue; it needs no dead-letter queue of its own.",
            )
        )
        for arn in self.trainer_wildcard_resources:
            Validations.of(self.trainer_policy).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{nag_resource(arn, stack)}]",
                    reason="Hosted-version and deployment numbers are assigned by AppConfig at run time, so the "
                    "trainer's grant names every version of the routing profile / every deployment of the routing "
                    "environment; both are under this stack's own routing profile and environment only.",
                )
            )

    @property
    def queue_url(self) -> str:
        return self.queue.queue_url

    def grant_send(self, grantee: iam.IGrantable) -> iam.Grant:
        """sqs:SendMessage on the label queue, nothing else (the router has the URL; SSE-SQS needs no KMS grant)."""
        return self.queue.grant(grantee, "sqs:SendMessage")

    @property
    def writers(self) -> tuple:
        """What creates hosted versions of the routing profile (for HostedVersionsCleanup.keep_alive_until_cleaned)."""
        return (self.trainer, self.trainer.role, self.trainer_policy)
