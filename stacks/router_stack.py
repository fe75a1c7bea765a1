"""The model router stack: a composition of one construct per concern.

Seams left for later issues (compose them here, next to what they watch or extend):
* issue 3: a `PromptRouter` construct (Bedrock Intelligent Prompt Routing) that grants its own
  invoke on `self.router_function` and passes PROMPT_ROUTER_ARN into its environment;
* monitoring: CloudWatch alarms per model and a dashboard, from `self.api`,
  `self.router_function` and the model catalog in `self.routing_document.config`;
* issue 4: the failover-controller Lambda from `create_python_function`, and the
  `<stage>-flags` environment with its `failover-flags` profile beside `self.config_store`.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.constructs.api import RouterApi
from stacks.constructs.lambda_factory import create_python_function
from stacks.constructs.model_access import ModelInvokePolicy
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
        )

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
            environment={
                "APPCONFIG_APPLICATION": self.config_store.application_id,
                "APPCONFIG_ENVIRONMENT": self.config_store.environment_id,
                "APPCONFIG_PROFILE": self.config_store.profile_id,
                "CONFIG_MAX_AGE_SECONDS": str(settings.config_cache_seconds),
                "AUTH_MODE": settings.auth_mode,
            },
        )
        self.config_store.grant_read(self.router_function)
        self.model_access = ModelInvokePolicy(
            self, "ModelAccess", role=self.router_function.role, config=routing_document.config
        )
        # The API must not reach a function whose Bedrock policy does not exist yet.
        self.router_function.node.add_dependency(self.model_access.policy)

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
        CfnOutput(self, "RouterFunctionName", value=self.router_function.function_name)
