"""The one place that holds our Lambda defaults, so every function gets the same ones.

Python 3.13 on ARM64, JSON logs to a log group with a retention period, X-Ray active tracing,
Powertools from its public layer, Powertools environment variables. The router uses it now;
the failover controller (issue 4) reuses it with its own handler, environment and timeout.
"""

from __future__ import annotations

from typing import Mapping

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

POWERTOOLS_LAYER_ACCOUNT = "017000801446"  # AWS's public Powertools account (commercial partition)
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python313-arm64"
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64

_RETENTION_BY_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def retention(days: int) -> logs.RetentionDays:
    return getattr(logs.RetentionDays, _RETENTION_BY_DAYS[days])


def powertools_layer_arn(version: int) -> str:
    return (
        f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{POWERTOOLS_LAYER_ACCOUNT}:layer:{POWERTOOLS_LAYER_NAME}:{version}"
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
    powertools_layer_version: int,
    metrics_namespace: str = "ModelRouter",
    log_level: str = "INFO",
    reserved_concurrency: int | None = None,
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
    layer = lambda_.LayerVersion.from_layer_version_arn(
        group, "PowertoolsLayer", powertools_layer_arn(powertools_layer_version)
    )
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
        tracing=lambda_.Tracing.ACTIVE,
        layers=[layer],
        environment=env,
        reserved_concurrent_executions=reserved_concurrency,
    )
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
