"""The scorer trainer's environment variables, checked once when its job is built.

The names are constants here and `stacks/constructs/label_loop.py` sets the function's environment with them, so
the stack and the code cannot drift apart. This module imports nothing but the standard library: the CDK app
imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LABELS_TABLE_NAME = "LABELS_TABLE_NAME"
APPCONFIG_APPLICATION_ID = "APPCONFIG_APPLICATION_ID"
APPCONFIG_ENVIRONMENT_ID = "APPCONFIG_ENVIRONMENT_ID"  # the routing configuration's environment
APPCONFIG_PROFILE_ID = "APPCONFIG_PROFILE_ID"  # ... and profile (read only)
APPCONFIG_LEARNED_PROFILE_ID = "APPCONFIG_LEARNED_PROFILE_ID"  # learned-scorers, in the same environment (written)
APPCONFIG_DEPLOYMENT_STRATEGY_ID = "APPCONFIG_DEPLOYMENT_STRATEGY_ID"  # the gradual, alarm-monitored strategy


@dataclass(frozen=True)
class TrainerSettings:
    labels_table_name: str
    application_id: str
    environment_id: str
    profile_id: str
    deployment_strategy_id: str
    learned_profile_id: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TrainerSettings:
        names = (
            LABELS_TABLE_NAME,
            APPCONFIG_APPLICATION_ID,
            APPCONFIG_ENVIRONMENT_ID,
            APPCONFIG_PROFILE_ID,
            APPCONFIG_DEPLOYMENT_STRATEGY_ID,
            APPCONFIG_LEARNED_PROFILE_ID,
        )
        missing = [name for name in names if not environ.get(name)]
        if missing:
            raise RuntimeError(f"environment variables {', '.join(missing)} are required (set by the CDK stack)")
        return cls(*(environ[name] for name in names))
