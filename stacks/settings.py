"""Deploy-time settings: read from CDK context (cdk.json or `-c key=value`), validated once.

Every knob an operator may turn lives here, with its default and its bounds, so a typo or an
out-of-range value fails `cdk synth` with a message naming the key instead of deploying
something surprising. Values given with `-c` arrive as strings; pydantic's lax mode turns
"50" into 50.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

REPO_ROOT = Path(__file__).resolve().parent.parent

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)


class SettingsError(ValueError):
    """A CDK context value that must not reach a deployment. `str()` names the key."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str = Field(default="dev", pattern=r"^[a-z][a-z0-9-]{0,19}$",
                       description="Names the stack, the API stage and the AppConfig environment")
    account: str | None = Field(default=None, pattern=r"^\d{12}$", description="Omit for an env-agnostic stack")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    auth_mode: Literal["api_key", "iam"] = "api_key"
    throttle_rate_limit: float = Field(default=50, gt=0, le=10_000, description="Stage steady-state requests/s")
    throttle_burst_limit: int = Field(default=100, ge=1, le=5_000)
    routing_config_file: str = Field(default="config/routing.json", min_length=1,
                                     description="Relative to the repository root, or absolute")
    config_cache_seconds: int = Field(default=45, ge=1, le=300,
                                      description="How long the router keeps a fetched configuration")
    log_retention_days: int = 30
    powertools_layer_version: int = Field(default=27, ge=1, le=1000,
                                          description="Version of AWSLambdaPowertoolsPythonV3-python313-arm64")
    lambda_memory_mb: int = Field(default=1024, ge=128, le=10_240)
    lambda_timeout_seconds: int = Field(default=28, ge=3, le=29,
                                        description="API Gateway cuts REST integrations at 29 s")
    deployment_duration_minutes: int = Field(default=1, ge=0, le=1440)
    deployment_growth_factor: float = Field(default=20, ge=1, le=100, description="Percent of targets per step")
    deployment_growth_type: Literal["LINEAR", "EXPONENTIAL"] = "LINEAR"
    deployment_final_bake_minutes: int = Field(default=1, ge=0, le=1440)

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
            raise ValueError(f"must be at least throttle_rate_limit ({rate:g}); a smaller bucket rejects steady traffic")
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
