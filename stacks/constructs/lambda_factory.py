"""The one place that holds our Lambda defaults, so every function gets the same ones.

Python 3.13 on ARM64, JSON logs to a log group with a retention period, X-Ray active tracing,
Powertools environment variables; the layers each function needs are passed in. The public
layers are resolved here:

* Powertools for AWS Lambda (Python) from AWS's public SSM parameter
  `/aws/service/powertools/python/arm64/python3.13/<version>` (a CloudFormation `ssm` dynamic
  reference, resolved at deploy time in the stack's own region and partition), so the template
  names the Powertools *release* (context `powertools_version`, the same pin as
  requirements.txt) instead of a layer number whose content nobody can check offline;
* the AWS Lambda Web Adapter (arm64), published by AWS in commercial regions only
  (`arn:aws:lambda:<region>:753240598075:layer:LambdaAdapterLayerArm64:<n>`, context
  `lwa_layer_version`). Its ARN names the `aws` partition on purpose: the stack refuses other
  partitions at synth (`stacks.settings`), and an env-agnostic template deployed elsewhere fails
  on the layer rather than running without its adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import (
    Acknowledgment,
    Aws,
    CfnDynamicReference,
    CfnDynamicReferenceService,
    Duration,
    RemovalPolicy,
    Token,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

# Documented at https://docs.aws.amazon.com/powertools/python/latest/#lambda-layer (SSM Parameter Store).
POWERTOOLS_SSM_PARAMETER = "/aws/service/powertools/python/arm64/python3.13/{version}"
LWA_LAYER_ACCOUNT = "753240598075"  # AWS Lambda Web Adapter's publishing account (commercial regions)
LWA_LAYER_NAME = "LambdaAdapterLayerArm64"
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64

_RETENTION_BY_DAYS = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def retention(days: int) -> logs.RetentionDays:
    return getattr(logs.RetentionDays, _RETENTION_BY_DAYS[days])


def powertools_layer_arn(version: str) -> str:
    """`{{resolve:ssm:<public parameter>}}`: the layer ARN AWS publishes for this Powertools release."""
    reference = CfnDynamicReference(CfnDynamicReferenceService.SSM, POWERTOOLS_SSM_PARAMETER.format(version=version))
    return Token.as_string(reference)


def lwa_layer_arn(version: int) -> str:
    return f"arn:aws:lambda:{Aws.REGION}:{LWA_LAYER_ACCOUNT}:layer:{LWA_LAYER_NAME}:{version}"


def public_layers(
    scope: Construct, *, powertools_version: str, lwa_layer_version: int
) -> tuple[lambda_.ILayerVersion, lambda_.ILayerVersion]:
    """The Powertools and Lambda Web Adapter layers, once per stack."""
    return (
        lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", powertools_layer_arn(powertools_version)),
        lambda_.LayerVersion.from_layer_version_arn(scope, "WebAdapterLayer", lwa_layer_arn(lwa_layer_version)),
    )


def create_python_function(
    scope: Construct,
    construct_id: str,
    *,
    code: lambda_.Code,
    handler: str,
    description: str,
    service_name: str,
    stage: str,
    environment: Mapping[str, str] | None = None,
    memory_mb: int = 256,
    timeout: Duration = Duration.seconds(10),
    log_retention_days: int = 30,
    layers: Sequence[lambda_.ILayerVersion] = (),
    metrics_namespace: str = "ModelRouter",
    log_level: str = "INFO",
    reserved_concurrency: int | None = None,
    tracing: bool = True,
) -> lambda_.Function:
    """A Python Lambda with the project's defaults, its own log group and its own role.

    The role carries no managed policy: the function may write to its own log group and
    nothing else until a construct grants more (AppConfig read, Bedrock invoke, ...).
    """
    group = Construct(scope, construct_id)
    log_group = logs.LogGroup(
        group,
        "LogGroup",
        retention=retention(log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    role = iam.Role(
        group,
        "Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"{description} ({stage})",
    )
    log_group.grant_write(role)
    env = {
        "STAGE": stage,
        "POWERTOOLS_SERVICE_NAME": service_name,
        "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
        "POWERTOOLS_LOG_LEVEL": log_level,
        "LOG_LEVEL": log_level,
        # No pydantic plugins are used; without this pydantic scans every installed distribution at cold start.
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
        **(environment or {}),
    }
    function = lambda_.Function(
        group,
        "Function",
        description=description,
        code=code,
        handler=handler,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        memory_size=memory_mb,
        timeout=timeout,
        role=role,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
        layers=list(layers),
        environment=env,
        reserved_concurrent_executions=reserved_concurrency,
    )
    if tracing:
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no "
                "resource-level permissions, so AWS requires Resource '*'.",
            )
        )
    Validations.of(function).acknowledge(
        Acknowledgment(
            id="AwsSolutions-L1",
            reason="Python 3.13 is the project's chosen, supported runtime and must match the Powertools layer "
            "build (python313-arm64); bump RUNTIME and POWERTOOLS_LAYER_NAME together when moving to 3.14.",
        )
    )
    return function
