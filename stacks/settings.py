"""Deploy-time settings: read from CDK context (cdk.json or `-c key=value`), validated once.

Every knob an operator may turn lives here, with its default and its bounds, so a typo or an
out-of-range value fails `cdk synth` with a message naming the key instead of deploying
something surprising. Values given with `-c` arrive as strings; pydantic's lax mode turns
"50" into 50.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routing_engine.config import geography

REPO_ROOT = Path(__file__).resolve().parent.parent

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class SettingsError(ValueError):
    """A CDK context value that must not reach a deployment. `str()` names the key."""


PROMPT_ROUTER_ARN = r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:(default-)?prompt-router/[A-Za-z0-9._:-]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptRouterDefinition(_Strict):
    """A custom Bedrock Intelligent Prompt Router the stack creates (AWS::Bedrock::IntelligentPromptRouter)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^([0-9a-zA-Z][ _-]?)+$")
    models: tuple[str, str] = Field(description="Two foundation-model ids of one family")
    fallback_model: str = Field(description="One of `models`: used when the routing criteria are not met")
    response_quality_difference: float = Field(
        ge=0, le=100, description="Quality gap (percent) the router accepts to pick the cheaper model"
    )
    inference_profile_geo: Literal["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"] = Field(
        default="us", description="Geo prefix of the cross-region inference profiles the router may call through"
    )
    description: str = Field(
        default="",
        max_length=200,
        pattern=r"^([0-9a-zA-Z:.][ _-]?)*$",
        description="Letters, digits, ':', '.', single spaces, '_' or '-' (the API's pattern)",
    )

    @field_validator("models")
    @classmethod
    def _foundation_models_of_one_family(cls, value: tuple[str, str]) -> tuple[str, str]:
        for model in value:
            if not geography.is_foundation_model_id(model):
                raise ValueError(f"{model!r} is not a foundation-model id (e.g. amazon.nova-lite-v1:0)")
        if value[0] == value[1]:
            raise ValueError("the two models must differ")
        if value[0].split(".", 1)[0] != value[1].split(".", 1)[0]:
            raise ValueError(f"a prompt router routes within one model family; got {value[0]!r} and {value[1]!r}")
        return value

    @model_validator(mode="after")
    def _fallback_is_routed(self) -> PromptRouterDefinition:
        if self.fallback_model not in self.models:
            raise ValueError(f"fallback_model {self.fallback_model!r} must be one of models {list(self.models)}")
        return self


def geos_for_region(region: str) -> tuple[str, ...] | None:
    """The inference-profile prefixes a Region may call (its geographies, narrowest first, and global); None for
    a Region the checked-in table (routing_engine.config.geography) does not know. Used only when the stack's Region
    is known at synth; an env-agnostic stack trusts `inference_profile_geo`."""
    geos = geography.geographies_of(region)
    return (*geos, geography.GLOBAL) if geos else None


class PromptRouterContext(_Strict):
    """Context `prompt_router`: exactly one of an existing router's ARN or a definition to create."""

    arn: str | None = Field(
        default=None, pattern=PROMPT_ROUTER_ARN, description="Existing router, default routers included"
    )
    definition: PromptRouterDefinition | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PromptRouterContext:
        if (self.arn is None) == (self.definition is None):
            raise ValueError('give exactly one of {"arn": "<prompt-router ARN>"} or {"definition": {...}}')
        return self


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str = Field(
        default="dev",
        pattern=r"^[a-z][a-z0-9-]{0,19}$",
        description="Names the stack, the API stage and the AppConfig environment",
    )
    account: str | None = Field(default=None, pattern=r"^\d{12}$", description="Omit for an env-agnostic stack")
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$",
        description="A commercial region: the adapter layer is not published elsewhere",
    )
    auth_mode: Literal["api_key", "iam"] = "api_key"
    throttle_rate_limit: float = Field(default=50, gt=0, le=10_000, description="Stage steady-state requests/s")
    throttle_burst_limit: int = Field(default=100, ge=1, le=5_000)
    routing_config_file: str = Field(
        default="config/routing.json", min_length=1, description="Relative to the repository root, or absolute"
    )
    config_cache_seconds: int = Field(
        default=45, ge=1, le=300, description="How long the router keeps a fetched configuration"
    )
    log_retention_days: int = 30
    powertools_version: str = Field(
        default="3.37.0",
        pattern=r"^\d+\.\d+\.\d+$",
        description="Powertools release whose public layer the functions use (SSM "
        "/aws/service/powertools/python/arm64/python3.13/<version>); requirements.txt pins the same one",
    )
    lwa_layer_version: int = Field(
        default=27,
        ge=1,
        le=1000,
        description="Version of the public LambdaAdapterLayerArm64 (AWS Lambda Web Adapter); 27 is its 1.0.0 release",
    )
    lambda_memory_mb: int = Field(default=1024, ge=128, le=10_240)
    stream_timeout_seconds: int = Field(
        default=900,
        ge=30,
        le=900,
        description="Router Lambda timeout and API Gateway integration timeout (streamed responses may run up to "
        "15 minutes); the app caps every request's deadline at it (ROUTER_MAX_REQUEST_SECONDS)",
    )
    controller_reserved_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Opt-in reserved concurrency for the failover controller; off by default because Lambda keeps "
        "100 units unreserved and new accounts may have a quota of 10 or 50",
    )
    apigw_cloudwatch_role: bool = Field(
        default=True,
        description="Create (and retain) API Gateway's account-level CloudWatch Logs role, which access logging "
        "needs; false when the account already manages it",
    )
    marketplace_model_access: bool = Field(
        default=True,
        description="Let the router and the labeller subscribe the account to the catalog's third-party models on "
        "first use (aws-marketplace:Subscribe limited to their marketplace_product_id, and ViewSubscriptions), "
        "as Bedrock's automatic model access needs; false when an administrator enables models instead",
    )
    routing_rollout_monitor: bool = Field(
        default=True,
        description="Watch routing rollouts with the rollout alarm (automatic rollback); false is the escape hatch "
        "that lets a routing fix deploy while the router is failing",
    )
    deployment_duration_minutes: int = Field(default=1, ge=0, le=1440)
    deployment_growth_factor: float = Field(default=20, ge=1, le=100, description="Percent of targets per step")
    deployment_growth_type: Literal["LINEAR", "EXPONENTIAL"] = "LINEAR"
    deployment_final_bake_minutes: int = Field(default=1, ge=0, le=1440)
    prompt_router: PromptRouterContext | None = Field(
        default=None, description='{"arn": ...} or {"definition": {...}}; none: prompt-router targets are skipped'
    )
    flags_cache_seconds: int = Field(
        default=10, ge=1, le=300, description="How long the router keeps the failover flags (FLAGS_MAX_AGE_SECONDS)"
    )
    # Alarms on the router's own metrics (namespace ModelRouter) and on AWS/Bedrock.
    alarm_period_seconds: int = Field(
        default=60, ge=60, le=3600, description="Multiple of 60: EMF metrics are standard resolution"
    )
    alarm_evaluation_periods: int = Field(default=3, ge=1, le=60)
    alarm_datapoints_to_alarm: int = Field(default=2, ge=1, le=60)
    alarm_min_invocations: int = Field(
        default=5, ge=1, le=100_000, description="Calls per period below which a rate alarm stays OK"
    )
    model_error_rate_threshold: float = Field(default=0.2, gt=0, le=1)
    model_throttle_rate_threshold: float = Field(default=0.2, gt=0, le=1)
    bedrock_metric_alarms: bool = Field(
        default=True, description="Also alarm on AWS/Bedrock server errors and throttles by ModelId"
    )
    api_5xx_rate_threshold: float = Field(default=0.05, gt=0, le=1)
    router_lambda_errors_threshold: int = Field(default=5, ge=1, description="Router Lambda Errors per period")
    router_lambda_throttles_threshold: int = Field(default=5, ge=1, description="Router Lambda Throttles per period")
    # The label loop (issue 9): spend is bounded per route by the routing configuration's daily budget, and here by
    # how many labeller invocations may run at once.
    labeller_max_concurrency: int = Field(
        default=2,
        ge=2,
        le=1000,
        description="MaximumConcurrency of the labeller's SQS event source (Lambda allows 2 to 1000)",
    )
    trainer_schedule: str = Field(
        default="cron(30 1 * * ? *)",
        description="EventBridge Scheduler expression (UTC) of the scorer training run: cron(<6 fields>) or "
        "rate(<n> <unit>); the default runs daily at 01:30, after the UTC day whose labels it trains on",
    )

    @field_validator("prompt_router", mode="before")
    @classmethod
    def _prompt_router_from_json(cls, value: Any) -> Any:
        # `-c prompt_router='{"arn": "..."}'` arrives as a string.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"not valid JSON: {exc}") from None
        return value

    @field_validator("region")
    @classmethod
    def _commercial_region(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("us-gov-") or value.startswith("cn-")):
            raise ValueError(
                "the router needs the AWS Lambda Web Adapter layer for arm64, which AWS publishes in commercial "
                "regions only (aws partition); GovCloud and China regions are not supported"
            )
        return value

    @model_validator(mode="after")
    def _prompt_router_geo_serves_the_region(self) -> Settings:
        definition = self.prompt_router.definition if self.prompt_router else None
        if definition is not None and self.region is not None:
            geos = geos_for_region(self.region)
            if geos is not None and definition.inference_profile_geo not in geos:
                raise ValueError(
                    f"prompt_router.definition.inference_profile_geo {definition.inference_profile_geo!r} has no "
                    f"inference profiles in {self.region}; use one of {', '.join(geos)}"
                )
        return self

    @field_validator("trainer_schedule")
    @classmethod
    def _schedule_expression(cls, value: str) -> str:
        cron = re.fullmatch(r"cron\(([^()]+)\)", value)
        if cron is not None:
            fields = cron.group(1).split()
            if len(fields) != 6:
                raise ValueError(
                    "a cron expression has six fields: minutes hours day-of-month month day-of-week "
                    "year, e.g. cron(30 1 * * ? *)"
                )
            if (fields[2] == "?") == (fields[4] == "?"):  # EventBridge: exactly one of the two is '?'
                raise ValueError(
                    "in a cron expression exactly one of day-of-month and day-of-week must be '?', "
                    "e.g. cron(30 1 * * ? *)"
                )
            return value
        rate = re.fullmatch(r"rate\(([1-9]\d*) (minute|minutes|hour|hours|day|days)\)", value)
        if rate is None:
            raise ValueError("must be cron(<6 fields>) or rate(<n> minute(s)|hour(s)|day(s)), e.g. cron(30 1 * * ? *)")
        if (int(rate.group(1)) == 1) != (not rate.group(2).endswith("s")):
            raise ValueError("rate(1 <unit>) takes the singular unit, rate(<n> <units>) the plural, e.g. rate(1 day)")
        return value

    @field_validator("alarm_period_seconds")
    @classmethod
    def _period_is_whole_minutes(cls, value: int) -> int:
        if value % 60:
            raise ValueError("must be a multiple of 60 (the router's EMF metrics have 1-minute resolution)")
        return value

    @field_validator("alarm_datapoints_to_alarm")
    @classmethod
    def _datapoints_fit_the_window(cls, value: int, info) -> int:
        periods = info.data.get("alarm_evaluation_periods")
        if periods is not None and value > periods:
            raise ValueError(f"must be at most alarm_evaluation_periods ({periods})")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_a_cloudwatch_value(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value

    @field_validator("throttle_burst_limit")
    @classmethod
    def _burst_covers_rate(cls, value: int, info) -> int:
        rate = info.data.get("throttle_rate_limit")
        if rate is not None and value < rate:
            raise ValueError(
                f"must be at least throttle_rate_limit ({rate:g}); a smaller bucket rejects steady traffic"
            )
        return value

    @property
    def routing_config_path(self) -> Path:
        path = Path(self.routing_config_file)
        return path if path.is_absolute() else REPO_ROOT / path


SETTING_KEYS = frozenset(Settings.model_fields)


def _is_foreign_key(key: str) -> bool:
    # Feature flags (@aws-cdk/...), CLI keys (aws:cdk:...) and cached lookups (x:account=...) are not ours.
    return key.startswith("@") or ":" in key or key.startswith("aws-cdk") or key.startswith("cdk")


def settings_from_context(context: Mapping[str, Any]) -> Settings:
    """Validate the app's context; raise SettingsError naming each bad or unknown key."""
    unknown = sorted(k for k in context if k not in SETTING_KEYS and not _is_foreign_key(k))
    if unknown:
        raise SettingsError(
            f"unknown CDK context key(s): {', '.join(unknown)} (known: {', '.join(sorted(SETTING_KEYS))})"
        )
    values = {k: v for k, v in context.items() if k in SETTING_KEYS and v is not None and v != ""}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"context '{key}' = {err.get('input')!r}: {msg}")
        raise SettingsError("invalid CDK context: " + "; ".join(problems)) from None
