"""The controller's environment variables, validated once at cold start.

The names are constants here and `stacks/constructs/failover_controller.py` sets the function's environment with
them, so the stack and the code cannot drift apart. This module imports nothing but the standard library: the CDK
app imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

APPCONFIG_APPLICATION_ID = "APPCONFIG_APPLICATION_ID"
APPCONFIG_FLAGS_ENVIRONMENT_ID = "APPCONFIG_FLAGS_ENVIRONMENT_ID"  # the environment that serves only the flags
APPCONFIG_FLAGS_PROFILE_ID = "APPCONFIG_FLAGS_PROFILE_ID"  # the `failover-flags` profile
APPCONFIG_FLAGS_DEPLOYMENT_STRATEGY_ID = "APPCONFIG_FLAGS_DEPLOYMENT_STRATEGY_ID"  # all at once, no bake
ALARM_NAME_PREFIX = "ALARM_NAME_PREFIX"  # the per-model alarms' name prefix, `model-router-<stage>-model-`

# AppConfig ids are short lowercase strings; a name or an ARN here is a wiring mistake.
_ID = re.compile(r"^[a-z0-9]{4,7}$")
# Deployment strategies also come predefined, e.g. "AppConfig.AllAtOnce".
_STRATEGY = re.compile(r"^([a-z0-9]{4,7}|AppConfig\.[A-Za-z0-9]{9,40})$")  # the API's own pattern
# The per-model alarm name prefix (`model-router-<stage>-model-`): CloudWatch alarm-name characters,
# ending with the dash that separates it from the model key.
_ALARM_PREFIX = re.compile(r"^[A-Za-z0-9._:/#+=@-]{1,200}-$")


class SettingsError(ValueError):
    """A missing or malformed environment variable. `str()` names every problem."""


@dataclass(frozen=True)
class ControllerSettings:
    application_id: str
    environment_id: str
    profile_id: str
    deployment_strategy_id: str
    alarm_prefix: str  # every per-model alarm is named `<alarm_prefix><model key>-<kind>`

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ControllerSettings:
        problems: list[str] = []

        def required(name: str, pattern: re.Pattern[str], hint: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                problems.append(f"{name} is not set ({hint})")
            elif not pattern.match(value):
                problems.append(f"{name}={value!r} is not {hint}")
            return value

        application_id = required(APPCONFIG_APPLICATION_ID, _ID, "an AppConfig application id")
        environment_id = required(APPCONFIG_FLAGS_ENVIRONMENT_ID, _ID, "an AppConfig environment id")
        profile_id = required(APPCONFIG_FLAGS_PROFILE_ID, _ID, "an AppConfig configuration profile id")
        strategy_id = required(APPCONFIG_FLAGS_DEPLOYMENT_STRATEGY_ID, _STRATEGY, "an AppConfig deployment strategy id")
        alarm_prefix = required(
            ALARM_NAME_PREFIX, _ALARM_PREFIX, "an alarm name prefix ending with '-' (model-router-<stage>-model-)"
        )
        if problems:
            raise SettingsError("invalid failover controller settings: " + "; ".join(problems))
        return cls(application_id, environment_id, profile_id, strategy_id, alarm_prefix)
