"""The model router stack: a composition of one construct per concern.

* `RoutingConfigStore`: AppConfig application, the routing environment/profile (gradual rollout,
  monitored by the routing-rollout alarm so a bad routing edit rolls back by itself, unless context
  `routing_rollout_monitor=false` detaches it; validated by the `config_validator` Lambda), and beside it in the
  same environment the trainer's `learned-scorers` profile (same monitor, same validator code, its own function);
* `FailoverFlagsStore`: the `<stage>-flags` environment and `failover-flags` profile (all at once);
* the router Lambda: one ASGI app (`router.http.app:create_app_from_env`) under uvicorn, started
  by `router/run.sh` behind the AWS Lambda Web Adapter layer in response-stream mode; its Bedrock
  policy (`ModelInvokePolicy`), the Marketplace subscription its first calls need (`MarketplaceModelAccess`,
  shared with the labeller; context `marketplace_model_access`) and, with context `prompt_router`, a
  `PromptRouter` that grants its own invoke and sets PROMPT_ROUTER_ARN;
* `RouterApi` (every method streams); `RouterAlarms` (per model and for the router);
  `FailoverController`; `HostedVersionsCleanup` (so `cdk destroy` can delete the profiles);
  `LabelLoop` (sample queue, labeller, labels table, daily scorer trainer; the router may only send to
  its queue, LABEL_QUEUE_URL); `RouterDashboard`.

Wiring notes. The routing environment's monitor names the rollout alarm by its ARN, built
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

from config_validator import handler as validator_env
from router import settings as router_env
from stacks.constructs.alarms import AlarmSettings, RouterAlarms, alarm_arn, alarm_prefix
from stacks.constructs.api import RouterApi
from stacks.constructs.appconfig_cleanup import HostedVersionsCleanup
from stacks.constructs.dashboard import RouterDashboard
from stacks.constructs.failover_controller import FailoverController
from stacks.constructs.failover_flags import FailoverFlagsStore
from stacks.constructs.label_loop import LabelLoop
from stacks.constructs.lambda_factory import create_python_function, public_layers
from stacks.constructs.model_access import MarketplaceModelAccess, ModelInvokePolicy
from stacks.constructs.prompt_router import PromptRouter
from stacks.constructs.routing_config_store import RolloutSettings, RoutingConfigStore, RoutingDocument
from stacks.constructs.spend_table import SpendTable
from stacks.settings import Settings

SERVICE_NAME = "model-router"
METRICS_NAMESPACE = "ModelRouter"
ROUTER_START_SCRIPT = "router/run.sh"  # exec'd by the adapter's /opt/bootstrap
APP_PORT = 8080  # uvicorn's port inside the function (AWS_LWA_PORT)
READINESS_PATH = "/ready"  # cheap, no configuration load: the adapter polls it before the first request


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

        rollout_alarm_name = f"{alarm_prefix(settings.stage)}routing-rollout"
        self.powertools_layer, self.web_adapter_layer = public_layers(
            self, powertools_version=settings.powertools_version, lwa_layer_version=settings.lwa_layer_version
        )

        def validator(construct_id: str, document: str, profile: str):
            return create_python_function(
                self,
                construct_id,
                code=lambda_code,
                handler="config_validator.handler.lambda_handler",
                description=f"AppConfig validator: the router's own parser on every {document} document",
                service_name="config-validator",
                metrics_namespace=METRICS_NAMESPACE,
                stage=settings.stage,
                memory_mb=512,
                timeout=Duration.seconds(15),
                log_retention_days=settings.log_retention_days,
                layers=[self.powertools_layer],  # pydantic
                environment={validator_env.CONFIG_PROFILE: profile},
            )

        self.config_validator = validator("RoutingConfigValidator", "routing", validator_env.ROUTING)
        # The same validator code for the learned-scorers profile, told which document it gets: an AppConfig
        # validator's event names the profile by id only, and the profile cannot name a function that names it.
        self.learned_validator = validator("LearnedScorersValidator", "learned-scorers", validator_env.LEARNED_SCORERS)
        self.rollout_monitor_role = iam.Role(
            self,
            "RolloutMonitorRole",
            assumed_by=iam.ServicePrincipal("appconfig.amazonaws.com"),
            description=f"AppConfig reads the routing-rollout alarm during {settings.stage} routing rollouts",
            inline_policies={
                "DescribeAlarms": iam.PolicyDocument(
                    statements=[iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=["*"])]
                )
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
            # Escape hatch (issue 8, item 8): while the router is failing, the monitor would roll back the
            # very routing fix meant to cure it; `-c routing_rollout_monitor=false` detaches it for that deploy.
            monitors=[
                appconfig.Monitor.from_cloud_watch_alarm(
                    cw.Alarm.from_alarm_arn(self, "RoutingRolloutRef", alarm_arn(self, rollout_alarm_name)),
                    self.rollout_monitor_role,
                )
            ]
            if settings.routing_rollout_monitor
            else [],
            validator_function=self.config_validator,
            learned_validator_function=self.learned_validator,
        )
        self.flags = FailoverFlagsStore(
            self, "FailoverFlags", stage=settings.stage, application=self.config_store.application
        )

        self.prompt_router = (
            PromptRouter(self, "PromptRouter", context=settings.prompt_router, stage=settings.stage)
            if settings.prompt_router is not None
            else None
        )
        self.spend = SpendTable(self, "Spend")
        self.label_loop = LabelLoop(
            self,
            "LabelLoop",
            stage=settings.stage,
            config=config,
            code=lambda_code,
            config_store=self.config_store,
            powertools_layer=self.powertools_layer,
            log_retention_days=settings.log_retention_days,
            metrics_namespace=METRICS_NAMESPACE,
            max_concurrency=settings.labeller_max_concurrency,
            trainer_schedule=settings.trainer_schedule,
            alarm_period=Duration.seconds(settings.alarm_period_seconds),
        )
        # The router's own settings by the names it reads them under (router.settings), then the adapter's.
        environment = {
            router_env.SPEND_TABLE_NAME: self.spend.table_name,
            router_env.APPCONFIG_APPLICATION_ID: self.config_store.application_id,
            router_env.APPCONFIG_ENVIRONMENT_ID: self.config_store.environment_id,
            router_env.APPCONFIG_PROFILE_ID: self.config_store.profile_id,
            router_env.APPCONFIG_LEARNED_PROFILE_ID: self.config_store.learned_profile_id,
            router_env.CONFIG_MAX_AGE_SECONDS: str(settings.config_cache_seconds),
            router_env.APPCONFIG_FLAGS_ENVIRONMENT_ID: self.flags.environment_id,
            router_env.APPCONFIG_FLAGS_PROFILE_ID: self.flags.profile_id,
            router_env.FLAGS_MAX_AGE_SECONDS: str(settings.flags_cache_seconds),
            router_env.AUTH_MODE: settings.auth_mode,
            # AWS Lambda Web Adapter: run.sh starts uvicorn; the adapter streams its responses to API Gateway.
            "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
            "AWS_LWA_INVOKE_MODE": "response_stream",
            "AWS_LWA_PORT": str(APP_PORT),
            "AWS_LWA_READINESS_CHECK_PATH": READINESS_PATH,
            # The app caps every deadline (streamed or buffered) at what Lambda and API Gateway allow.
            router_env.ROUTER_MAX_REQUEST_SECONDS: str(settings.stream_timeout_seconds),
            # Sampled requests for the label loop (a route opts in with `labelling` in the routing configuration).
            router_env.LABEL_QUEUE_URL: self.label_loop.queue_url,
        }
        if self.prompt_router is not None:
            environment[router_env.PROMPT_ROUTER_ARN] = self.prompt_router.arn

        self.router_function = create_python_function(
            self,
            "Router",
            code=lambda_code,
            handler=ROUTER_START_SCRIPT,
            description="Model router: picks a Bedrock model per request and calls it (ASGI app, streamed)",
            service_name=SERVICE_NAME,
            metrics_namespace=METRICS_NAMESPACE,
            stage=settings.stage,
            memory_mb=settings.lambda_memory_mb,
            timeout=Duration.seconds(settings.stream_timeout_seconds),
            log_retention_days=settings.log_retention_days,
            layers=[self.web_adapter_layer, self.powertools_layer],
            environment=environment,
        )
        self.config_store.grant_read(self.router_function)
        self.flags.grant_read(self.router_function)
        self.spend.grant_router(self.router_function)
        self.label_loop.grant_send(self.router_function)
        router_role = self.router_function.role
        assert router_role is not None
        self.model_access = ModelInvokePolicy(self, "ModelAccess", role=router_role, config=config)
        # The API must not reach a function whose Bedrock policies do not exist yet.
        for policy in self.model_access.policies:
            self.router_function.node.add_dependency(policy)
        if self.prompt_router is not None:
            self.router_function.node.add_dependency(self.prompt_router.grant_invoke(router_role))
        # The first call of a third-party model subscribes the account (Bedrock automatic model access).
        self.marketplace_access: MarketplaceModelAccess | None = None
        if settings.marketplace_model_access:
            labeller_role = self.label_loop.labeller.role
            assert labeller_role is not None
            self.marketplace_access = MarketplaceModelAccess(
                self, "MarketplaceAccess", roles=[router_role, labeller_role], config=config
            )
            if self.marketplace_access.policy is not None:
                for function in (self.router_function, self.label_loop.labeller):
                    function.node.add_dependency(self.marketplace_access.policy)

        self.api = RouterApi(
            self,
            "Api",
            handler=self.router_function,
            stage=settings.stage,
            auth_mode=settings.auth_mode,
            throttle_rate_limit=settings.throttle_rate_limit,
            throttle_burst_limit=settings.throttle_burst_limit,
            log_retention_days=settings.log_retention_days,
            integration_timeout=Duration.seconds(settings.stream_timeout_seconds),
            cloud_watch_role=settings.apigw_cloudwatch_role,
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
        assert self.alarms.rollout_name == rollout_alarm_name
        # The routing profile's first deployment is monitored by the rollout alarm: create it first.
        for deployment in self.config_store.deployments:
            deployment.node.add_dependency(self.alarms.rollout)

        self.failover_controller = FailoverController(
            self,
            "FailoverController",
            code=lambda_code,
            stage=settings.stage,
            flags=self.flags,
            log_retention_days=settings.log_retention_days,
            powertools_layer=self.powertools_layer,
            alarm_period=Duration.seconds(settings.alarm_period_seconds),
            reserved_concurrency=settings.controller_reserved_concurrency,
        )
        self.cleanup = HostedVersionsCleanup(
            self,
            "AppConfigCleanup",
            stage=settings.stage,
            application=self.config_store.application,
            profiles=[self.config_store.profile, self.config_store.learned_profile, self.flags.profile],
            log_retention_days=settings.log_retention_days,
        )
        # The controller writes flags versions: it must be gone before the cleanup runs on delete.
        # ... and so must its role and policies: an invocation still running would otherwise keep the right to
        # create flags versions while the cleanup lists them.
        controller_role = self.failover_controller.function.role
        assert controller_role is not None
        self.cleanup.keep_alive_until_cleaned(
            self.failover_controller.function, controller_role, self.failover_controller.policy
        )
        # So does the scorer trainer, which proposes (creates) hosted versions of the routing profile.
        self.cleanup.keep_alive_until_cleaned(*self.label_loop.writers)

        all_alarms: list[cw.IAlarm] = [
            self.alarms.rollout,
            self.alarms.health,
            *self.alarms.router_alarms,
            *self.failover_controller.alarms,
            *self.label_loop.alarms,
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
            router_log_group=self.router_function.log_group,
            period=Duration.seconds(settings.alarm_period_seconds),
            label_loop=self.label_loop,
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
        CfnOutput(self, "SpendTableName", value=self.spend.table_name)
        CfnOutput(self, "LabelQueueUrl", value=self.label_loop.queue_url)
        CfnOutput(self, "LabelDeadLetterQueueUrl", value=self.label_loop.dead_letters.queue_url)
        CfnOutput(self, "LabelsTableName", value=self.label_loop.table.table_name)
        CfnOutput(self, "ScorerTrainerFunctionName", value=self.label_loop.trainer.function_name)
        if self.prompt_router is not None:
            CfnOutput(self, "PromptRouterArn", value=self.prompt_router.arn)
