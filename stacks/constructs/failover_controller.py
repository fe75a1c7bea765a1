"""The failover controller: alarms in, failover flags out (see docs/failover-controller.md).

* the Lambda (`failover_controller.handler.lambda_handler`, the router's staged asset). It is
  level-triggered with an optimistic lock, so concurrent runs converge; reserved concurrency is
  opt-in (context `controller_reserved_concurrency`): Lambda keeps 100 units unreserved and new
  accounts may have a quota of 10 or 50, so any reservation can fail a first deploy;
* an EventBridge rule for `CloudWatch Alarm State Change` of the per-model alarms (name prefix
  `model-router-<stage>-model-`), and a 1-minute schedule: the controller is level-triggered, so
  the schedule catches a lost or out-of-order event within a minute;
* asynchronous invocation: two retries, then the event goes to an encrypted SQS queue (a failed
  reconcile is visible and alarmed, and the next schedule tick re-converges anyway);
* the watched alarms are found by name prefix (ALARM_NAME_PREFIX, `model-router-<stage>-model-`):
  neither the environment nor the policy grows with the catalog. `cloudwatch:DescribeAlarms` is
  granted on `*`: a prefix query names no alarm the policy could be scoped to, and the API
  reference requires `*` to return composite alarms. Read-only alarm metadata. AppConfig
  reads/writes only on the flags profile, environment and strategy
  (`FailoverFlagsStore.controller_statements`);
* alarms on its own health: ReconcileFailures/FlagsDocumentInvalid and the failure queue.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from failover_controller import settings as controller_env
from stacks.constructs.alarms import ROUTER_NAMESPACE, alarm_prefix, model_alarm_prefix
from stacks.constructs.failover_flags import FailoverFlagsStore
from stacks.constructs.lambda_factory import create_python_function
from stacks.constructs.model_access import nag_resource

SERVICE_NAME = "failover-controller"
HANDLER = "failover_controller.handler.lambda_handler"


class FailoverController(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        stage: str,
        flags: FailoverFlagsStore,
        log_retention_days: int,
        powertools_layer: lambda_.ILayerVersion,
        alarm_period: Duration,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.failures = sqs.Queue(
            self,
            "FailedReconciles",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.function = create_python_function(
            self,
            "Function",
            code=code,
            handler=HANDLER,
            description="Failover controller: keeps the failover flags in line with the model alarms",
            service_name=SERVICE_NAME,
            metrics_namespace=ROUTER_NAMESPACE,
            stage=stage,
            memory_mb=256,
            timeout=Duration.seconds(60),  # room for conflict retries with backoff
            log_retention_days=log_retention_days,
            layers=[powertools_layer],
            reserved_concurrency=reserved_concurrency,
            environment={
                controller_env.APPCONFIG_APPLICATION_ID: flags.application.application_id,
                controller_env.APPCONFIG_FLAGS_ENVIRONMENT_ID: flags.environment_id,
                controller_env.APPCONFIG_FLAGS_PROFILE_ID: flags.profile_id,
                controller_env.APPCONFIG_FLAGS_DEPLOYMENT_STRATEGY_ID: flags.strategy_id,
                controller_env.ALARM_NAME_PREFIX: model_alarm_prefix(stage),
            },
        )
        self.function.configure_async_invoke(
            retry_attempts=2,
            max_event_age=Duration.minutes(15),  # older events say nothing the schedule has not re-read
            on_failure=destinations.SqsDestination(self.failures),
        )
        role = self.function.role
        assert role is not None
        self.policy = iam.Policy(
            self,
            "Policy",
            statements=[
                iam.PolicyStatement(
                    sid="DiscoverWatchedAlarms", actions=["cloudwatch:DescribeAlarms"], resources=["*"]
                ),
                *flags.controller_statements(),
            ],
            roles=[role],
        )
        self.function.node.add_dependency(self.policy)

        self.alarm_rule = events.Rule(
            self,
            "AlarmStateChange",
            description=f"Per-model alarm state changes of model-router {stage} -> failover controller",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={"alarmName": events.Match.prefix(model_alarm_prefix(stage))},
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=4, max_event_age=Duration.minutes(15))],
        )
        self.schedule = events.Rule(
            self,
            "Reconcile",
            description=f"Level-triggered reconcile of the model-router {stage} failover flags every minute",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],  # the next tick is the retry
        )

        def controller_metric(name: str) -> cw.Metric:
            return cw.Metric(
                namespace=ROUTER_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": SERVICE_NAME},
                statistic="Sum",
                period=alarm_period,
            )

        self.failure_alarm = cw.Alarm(
            self,
            "ReconcileFailures",
            alarm_name=f"{alarm_prefix(stage)}controller-failures",
            alarm_description="The failover controller could not reconcile (errors, persistent conflicts or an "
            "invalid flags document a human must fix)",
            metric=cw.MathExpression(
                expression="FILL(failures, 0) + FILL(invalid, 0)",
                using_metrics={
                    "failures": controller_metric("ReconcileFailures"),
                    "invalid": controller_metric("FlagsDocumentInvalid"),
                },
                label="Reconcile failures",
                period=alarm_period,
            ),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.queue_alarm = cw.Alarm(
            self,
            "FailedReconcilesQueued",
            alarm_name=f"{alarm_prefix(stage)}controller-failed-events",
            alarm_description="Reconcile events that failed after Lambda's retries are waiting in the failure queue",
            metric=self.failures.metric_approximate_number_of_messages_visible(
                statistic="Maximum", period=alarm_period
            ),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.alarms: list[cw.Alarm] = [self.failure_alarm, self.queue_alarm]

        Validations.of(self.policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="cloudwatch:DescribeAlarms with AlarmNamePrefix: the request names no alarm a policy could "
                "be scoped to, and the DescribeAlarms API reference requires the permission on '*' to return "
                "composite alarms. Read-only alarm metadata; this is what keeps the controller's policy and "
                "environment the same size whatever the catalog (issue 8, item 9).",
            )
        )
        for arn in flags.controller_wildcard_resources():
            Validations.of(self.policy).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{nag_resource(arn, Stack.of(self))}]",
                    reason="Hosted-version and deployment numbers are assigned by AppConfig at run time, so the "
                    "controller's grant names every version of the flags profile / every deployment of the flags "
                    "environment; both are under this stack's own flags profile and environment only.",
                )
            )
        Validations.of(self.failures).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is itself the failure destination of the controller's asynchronous invocations "
                "(a dead-letter queue); it needs no dead-letter queue of its own.",
            )
        )
