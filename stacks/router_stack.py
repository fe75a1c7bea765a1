"""The model router stack: a composition of one construct per concern.

* `RoutingConfigStore`: AppConfig application, the routing environment/profile (gradual rollout,
  monitored by the router-health alarm so a bad routing edit rolls back by itself);
* `FailoverFlagsStore`: the `<stage>-flags` environment and `failover-flags` profile (all at once);
* the router Lambda, its Bedrock policy (`ModelInvokePolicy`) and, with context `prompt_router`,
  a `PromptRouter` that grants its own invoke and sets PROMPT_ROUTER_ARN;
* `RouterApi`; `RouterAlarms` (per model and for the router); `FailoverController`;
  `RouterDashboard`.

Wiring notes. The routing environment's monitor names the composite alarm by its ARN, built
from its deterministic name, not by reference: the alarm watches the router Lambda, whose
environment names the routing environment, so a reference would be a dependency cycle. The
routing profile's initial AppConfig deployment waits for the alarm instead.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, Duration, Stack, Validations
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.constructs.alarms import AlarmSettings, RouterAlarms, alarm_arn, alarm_prefix
from stacks.constructs.api import RouterApi
from stacks.constructs.dashboard import RouterDashboard
from stacks.constructs.failover_controller import FailoverController
from stacks.constructs.failover_flags import FailoverFlagsStore
from stacks.constructs.lambda_factory import create_python_function
from stacks.constructs.model_access import ModelInvokePolicy
from stacks.constructs.prompt_router import PromptRouter
from stacks.constructs.routing_config_store import RolloutSettings, RoutingConfigStore, RoutingDocument
from stacks.settings import Settings

SERVICE_NAME = "model-router"
METRICS_NAMESPACE = "ModelRouter"


class RouterStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        routing_document: RoutingDocument,
        lambda_code: lambda_.Code,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.routing_document = routing_document
        config = routing_document.config

        health_alarm_name = f"{alarm_prefix(settings.stage)}router-health"
        self.rollout_monitor_role = iam.Role(
            self, "RolloutMonitorRole",
            assumed_by=iam.ServicePrincipal("appconfig.amazonaws.com"),
            description=f"AppConfig reads the router-health alarm during {settings.stage} routing rollouts",
            inline_policies={
                "DescribeAlarms": iam.PolicyDocument(statements=[
                    iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=["*"])
                ])
            },
        )
        Validations.of(self.rollout_monitor_role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="AppConfig's rollback monitor role: the AppConfig user guide ('Configure permissions for "
                "rollback based on CloudWatch alarms') prescribes cloudwatch:DescribeAlarms on '*', and the CDK "
                "L2 creates the same; AppConfig does not document how it calls DescribeAlarms, and a denied call "
                "would break every routing rollout. Read-only alarm metadata, assumable only by appconfig.",
            )
        )
        self.config_store = RoutingConfigStore(
            self,
            "RoutingConfig",
            stage=settings.stage,
            document=routing_document,
            rollout=RolloutSettings(
                duration_minutes=settings.deployment_duration_minutes,
                growth_factor=settings.deployment_growth_factor,
                growth_type=settings.deployment_growth_type,
                final_bake_minutes=settings.deployment_final_bake_minutes,
            ),
            monitors=[
                appconfig.Monitor.from_cloud_watch_alarm(
                    cw.Alarm.from_alarm_arn(self, "RouterHealthRef", alarm_arn(self, health_alarm_name)),
                    self.rollout_monitor_role,
                )
            ],
        )
        self.flags = FailoverFlagsStore(
            self, "FailoverFlags", stage=settings.stage, application=self.config_store.application
        )

        self.prompt_router = (
            PromptRouter(self, "PromptRouter", context=settings.prompt_router, stage=settings.stage)
            if settings.prompt_router is not None
            else None
        )
        environment = {
            "APPCONFIG_APPLICATION": self.config_store.application_id,
            "APPCONFIG_ENVIRONMENT": self.config_store.environment_id,
            "APPCONFIG_PROFILE": self.config_store.profile_id,
            "CONFIG_MAX_AGE_SECONDS": str(settings.config_cache_seconds),
            "APPCONFIG_FLAGS_ENVIRONMENT": self.flags.environment_id,
            "APPCONFIG_FLAGS_PROFILE": self.flags.profile_id,
            "FLAGS_MAX_AGE_SECONDS": str(settings.flags_cache_seconds),
            "AUTH_MODE": settings.auth_mode,
        }
        if self.prompt_router is not None:
            environment["PROMPT_ROUTER_ARN"] = self.prompt_router.arn

        self.router_function = create_python_function(
            self,
            "Router",
            code=lambda_code,
            handler="router/handler.lambda_handler",
            description="Model router: picks a Bedrock model per request and calls it",
            service_name=SERVICE_NAME,
            metrics_namespace=METRICS_NAMESPACE,
            stage=settings.stage,
            memory_mb=settings.lambda_memory_mb,
            timeout=Duration.seconds(settings.lambda_timeout_seconds),
            log_retention_days=settings.log_retention_days,
            powertools_layer_version=settings.powertools_layer_version,
            environment=environment,
        )
        self.config_store.grant_read(self.router_function)
        self.flags.grant_read(self.router_function)
        self.model_access = ModelInvokePolicy(
            self, "ModelAccess", role=self.router_function.role, config=config
        )
        # The API must not reach a function whose Bedrock policy does not exist yet.
        self.router_function.node.add_dependency(self.model_access.policy)
        if self.prompt_router is not None:
            self.router_function.node.add_dependency(self.prompt_router.grant_invoke(self.router_function.role))

        self.api = RouterApi(
            self,
            "Api",
            handler=self.router_function,
            stage=settings.stage,
            auth_mode=settings.auth_mode,
            throttle_rate_limit=settings.throttle_rate_limit,
            throttle_burst_limit=settings.throttle_burst_limit,
            log_retention_days=settings.log_retention_days,
        )

        self.alarms = RouterAlarms(
            self,
            "Alarms",
            stage=settings.stage,
            config=config,
            settings=AlarmSettings(
                period_seconds=settings.alarm_period_seconds,
                evaluation_periods=settings.alarm_evaluation_periods,
                datapoints_to_alarm=settings.alarm_datapoints_to_alarm,
                min_invocations=settings.alarm_min_invocations,
                error_rate=settings.model_error_rate_threshold,
                throttle_rate=settings.model_throttle_rate_threshold,
                bedrock_alarms=settings.bedrock_metric_alarms,
                api_5xx_rate=settings.api_5xx_rate_threshold,
                lambda_errors=settings.router_lambda_errors_threshold,
                lambda_throttles=settings.router_lambda_throttles_threshold,
            ),
            api_stage=self.api.rest_api.deployment_stage,
            router_function=self.router_function,
        )
        assert self.alarms.health_name == health_alarm_name
        # The routing profile's first deployment is monitored by the health alarm: create it first.
        for child in self.config_store.profile.node.find_all():
            if isinstance(child, appconfig.CfnDeployment):
                child.node.add_dependency(self.alarms.health)

        self.failover_controller = FailoverController(
            self,
            "FailoverController",
            code=lambda_code,
            stage=settings.stage,
            flags=self.flags,
            model_alarms=self.alarms.model_alarms,
            model_of_alarm=self.alarms.model_of_alarm,
            log_retention_days=settings.log_retention_days,
            powertools_layer_version=settings.powertools_layer_version,
            alarm_period=Duration.seconds(settings.alarm_period_seconds),
        )

        all_alarms: list[cw.IAlarm] = [
            self.alarms.health,
            *self.alarms.router_alarms,
            *self.failover_controller.alarms,
            *(self.alarms.model_alarms[name] for name in sorted(self.alarms.model_alarms)),
        ]
        self.dashboard = RouterDashboard(
            self,
            "Dashboard",
            stage=settings.stage,
            config=config,
            api_stage=self.api.rest_api.deployment_stage,
            alarms=all_alarms,
            controller_log_group=self.failover_controller.function.log_group,
            period=Duration.seconds(settings.alarm_period_seconds),
        )

        CfnOutput(self, "ApiUrl", value=self.api.url, description="Base URL of the router API (ends with the stage)")
        if self.api.api_key is not None:
            CfnOutput(
                self,
                "ApiKeyId",
                value=self.api.api_key.key_id,
                description="aws apigateway get-api-key --include-value --api-key <id> prints the key",
            )
        CfnOutput(self, "AppConfigApplicationId", value=self.config_store.application_id)
        CfnOutput(self, "AppConfigEnvironmentId", value=self.config_store.environment_id)
        CfnOutput(self, "AppConfigProfileId", value=self.config_store.profile_id)
        CfnOutput(self, "FlagsEnvironmentId", value=self.flags.environment_id)
        CfnOutput(self, "FlagsProfileId", value=self.flags.profile_id)
        CfnOutput(self, "RouterFunctionName", value=self.router_function.function_name)
        CfnOutput(self, "FailoverControllerFunctionName", value=self.failover_controller.function.function_name)
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard.dashboard_name)
        if self.prompt_router is not None:
            CfnOutput(self, "PromptRouterArn", value=self.prompt_router.arn)
