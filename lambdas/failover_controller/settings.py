"""The controller's environment variables, validated once at cold start."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from routing_engine.config import KEY_PATTERN

# AppConfig ids are short lowercase strings; a name or an ARN here is a wiring mistake.
_ID = re.compile(r"^[a-z0-9]{4,7}$")
# Deployment strategies also come predefined, e.g. "AppConfig.AllAtOnce".
_STRATEGY = re.compile(r"^([a-z0-9]{4,7}|AppConfig\.[A-Za-z0-9]{9,40})$")  # the API's own pattern
_MODEL_KEY = re.compile(KEY_PATTERN)
_MAX_ALARM_NAME = 255


class SettingsError(ValueError):
    """A missing or malformed environment variable. `str()` names every problem."""


@dataclass(frozen=True)
class ControllerSettings:
    application_id: str
    environment_id: str
    profile_id: str
    deployment_strategy_id: str
    model_alarms: Mapping[str, str]  # alarm name -> model key

    @property
    def alarm_names(self) -> list[str]:
        return sorted(self.model_alarms)

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

        application_id = required("APPCONFIG_APPLICATION", _ID, "an AppConfig application id")
        environment_id = required("FLAGS_ENVIRONMENT", _ID, "an AppConfig environment id")
        profile_id = required("FLAGS_PROFILE", _ID, "an AppConfig configuration profile id")
        strategy_id = required(
            "FLAGS_DEPLOYMENT_STRATEGY", _STRATEGY, "an AppConfig deployment strategy id"
        )
        model_alarms = _parse_model_alarms(environ.get("MODEL_ALARMS", ""), problems)
        if problems:
            raise SettingsError("invalid failover controller settings: " + "; ".join(problems))
        return cls(application_id, environment_id, profile_id, strategy_id, model_alarms)


def _parse_model_alarms(raw: str, problems: list[str]) -> dict[str, str]:
    if not raw.strip():
        problems.append('MODEL_ALARMS is not set (a JSON object: {"alarm name": "model key"})')
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        problems.append(f"MODEL_ALARMS is not valid JSON: {exc}")
        return {}
    if not isinstance(data, dict) or not data:
        problems.append('MODEL_ALARMS must be a non-empty JSON object {"alarm name": "model key"}')
        return {}
    out: dict[str, str] = {}
    for alarm, model in data.items():
        if not 1 <= len(alarm) <= _MAX_ALARM_NAME:
            problems.append(f"MODEL_ALARMS: alarm name {alarm!r} must be 1 to {_MAX_ALARM_NAME} characters")
        elif not isinstance(model, str) or not _MODEL_KEY.match(model):
            problems.append(f"MODEL_ALARMS[{alarm!r}]: {model!r} is not a model key")
        else:
            out[alarm] = model
    return out
