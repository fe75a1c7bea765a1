"""The public REST API: its routes (ROUTES), all Lambda proxy integrations to the router, none anonymous.

`auth_mode="api_key"` (default): every method requires an API key attached to a usage plan.
`auth_mode="iam"`: every method requires SigV4 (AWS_IAM); no key, no usage plan.
Stage-level throttling, JSON access logs to their own log group, X-Ray tracing on the stage.

Every integration streams (`responseTransferMode: STREAM`): API Gateway then invokes the function
with InvokeWithResponseStream (URI `2021-11-15/functions/<arn>/response-streaming-invocations`),
which the Lambda API authorises as `lambda:InvokeFunction`, the action CDK's permission grants;
the integration timeout may be up to 15 minutes for streamed responses (`integration_timeout`).
Buffered answers travel the same way as one chunk; their shorter deadline is the app's.

API Gateway needs an account-level CloudWatch Logs role for access logs, not only execution logs;
a fresh account has none and the stage would fail to create. `cloud_watch_role=True` creates the
role (AmazonAPIGatewayPushToCloudWatchLogs) and sets it as the region's API Gateway account
setting; both are retained on `cdk destroy`, since other APIs in the account rely on the setting.
"""

from __future__ import annotations

import json
from typing import Literal

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.lambda_factory import retention

ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "v1/route"),
    ("POST", "v1/chat/completions"),
    ("POST", "v1/messages"),
    ("POST", "v1/messages/count_tokens"),
    ("GET", "v1/models"),
    ("GET", "v1/models/{model}"),
    ("GET", "v1/health"),
    ("GET", "v1/usage"),
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
        integration_timeout: Duration,
        cloud_watch_role: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=retention(log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
        if auth_mode == "iam":
            method_options = apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM)
        else:
            method_options = apigw.MethodOptions(api_key_required=True, authorization_type=apigw.AuthorizationType.NONE)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"model-router-{stage}",
            description="Model router for Amazon Bedrock",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=cloud_watch_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if cloud_watch_role else None,
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
        integration = apigw.LambdaIntegration(
            handler,
            proxy=True,
            allow_test_invoke=False,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM,
            timeout=integration_timeout,
        )
        for method, path in ROUTES:
            resource = self.rest_api.root.resource_for_path(path)
            resource.add_method(method, integration)

        self.api_key: apigw.IApiKey | None = None
        if auth_mode == "api_key":
            self.api_key = apigw.ApiKey(self, "ApiKey", description=f"Model router {stage} client key", enabled=True)
            plan = apigw.UsagePlan(
                self,
                "UsagePlan",
                name=f"model-router-{stage}",
                throttle=apigw.ThrottleSettings(rate_limit=throttle_rate_limit, burst_limit=throttle_burst_limit),
                api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
            )
            plan.add_api_key(self.api_key)
            self.usage_plan = plan
        self._acknowledge(auth_mode, cloud_watch_role)

    @property
    def url(self) -> str:
        return self.rest_api.url

    def _acknowledge(self, auth_mode: str, cloud_watch_role: bool) -> None:
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
                reason="JSON access logging is on for the stage. Execution logging stays off: it would write "
                "request and response bodies, i.e. prompts and answers, to CloudWatch Logs.",
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
        if cloud_watch_role:
            role = self.rest_api.node.find_child("CloudWatchRole")
            Validations.of(role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs]",
                    reason="API Gateway's account-level CloudWatch Logs role, which access logging requires: the API "
                    "Gateway developer guide prescribes this AWS managed policy for it, and AWS maintains the log "
                    "actions it needs. Assumable only by apigateway.amazonaws.com; retained on destroy.",
                )
            )
