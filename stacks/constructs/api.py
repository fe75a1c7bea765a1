"""The public REST API: four routes, all Lambda proxy integrations to the router, none anonymous.

`auth_mode="api_key"` (default): every method requires an API key attached to a usage plan.
`auth_mode="iam"`: every method requires SigV4 (AWS_IAM); no key, no usage plan.
Stage-level throttling, JSON access logs to their own log group, X-Ray tracing on the stage.
"""

from __future__ import annotations

import json
from typing import Literal

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.lambda_factory import retention

ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "v1/route"),
    ("POST", "v1/chat/completions"),
    ("GET", "v1/models"),
    ("GET", "v1/health"),
)

# API Gateway $context variables; never the request body (prompts stay out of access logs).
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integration.error",
    "errorMessage": "$context.error.message",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "apiKeyId": "$context.identity.apiKeyId",
    "caller": "$context.identity.userArn",
    "xrayTraceId": "$context.xrayTraceId",
}


class RouterApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        stage: str,
        auth_mode: Literal["api_key", "iam"],
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=retention(log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
        if auth_mode == "iam":
            method_options = apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM)
        else:
            method_options = apigw.MethodOptions(
                api_key_required=True, authorization_type=apigw.AuthorizationType.NONE
            )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"model-router-{stage}",
            description="Model router for Amazon Bedrock",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            default_method_options=method_options,
            deploy_options=apigw.StageOptions(
                stage_name=stage,
                tracing_enabled=True,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
                metrics_enabled=True,
            ),
        )
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False)
        for method, path in ROUTES:
            resource = self.rest_api.root.resource_for_path(path)
            resource.add_method(method, integration)

        self.api_key: apigw.IApiKey | None = None
        if auth_mode == "api_key":
            self.api_key = apigw.ApiKey(
                self, "ApiKey", description=f"Model router {stage} client key", enabled=True
            )
            plan = apigw.UsagePlan(
                self,
                "UsagePlan",
                name=f"model-router-{stage}",
                throttle=apigw.ThrottleSettings(rate_limit=throttle_rate_limit, burst_limit=throttle_burst_limit),
                api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
            )
            plan.add_api_key(self.api_key)
            self.usage_plan = plan
        self._acknowledge(auth_mode)

    @property
    def url(self) -> str:
        return self.rest_api.url

    def _acknowledge(self, auth_mode: str) -> None:
        acks = [
            Acknowledgment(
                id="AwsSolutions-APIG2",
                reason="Request bodies are validated in the router Lambda with the same pydantic models that "
                "produce its error messages; an API Gateway model would duplicate them and drift.",
            ),
            Acknowledgment(
                id="AwsSolutions-APIG3",
                reason="No WAF web ACL in this stack: every method needs an API key or SigV4 and is throttled at "
                "stage and usage-plan level. Attach an organisation-managed web ACL to the stage if required.",
            ),
            Acknowledgment(
                id="AwsSolutions-APIG6",
                reason="JSON access logging is on for the stage. Execution logging needs the region-wide API "
                "Gateway CloudWatch role (an account singleton this app must not own) and would log prompts.",
            ),
            Acknowledgment(
                id="AwsSolutions-COG4",
                reason="Callers are services, not end users: they authenticate with an API key and usage plan "
                "(default) or SigV4 (auth_mode=iam); there is no Cognito user pool.",
            ),
        ]
        if auth_mode == "api_key":
            acks.append(
                Acknowledgment(
                    id="AwsSolutions-APIG4",
                    reason="auth_mode=api_key: every method requires an API key bound to a usage plan; no method is "
                    "anonymous. Set context auth_mode=iam for SigV4 authorization.",
                )
            )
        Validations.of(self).acknowledge(*acks)
