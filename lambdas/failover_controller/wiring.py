"""Builds a FailoverController from the environment, with real boto3 clients unless given others."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from aws_adapters.appconfig_writer import AppConfigTarget
from failover_controller.alarm_source import CloudWatchAlarmSource
from failover_controller.controller import FailoverController
from failover_controller.flag_store import AppConfigFlagStore
from failover_controller.settings import ControllerSettings, SettingsError

# Few SDK retries and short timeouts: the controller's own loop retries conflicts and
# the 1-minute schedule re-converges, so a slow call should fail fast instead.
CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)


def build_controller(
    environ: Mapping[str, str],
    *,
    logger: Any,
    metrics: Any,
    cloudwatch_client: Any = None,
    appconfig_client: Any = None,
) -> FailoverController:
    try:
        settings = ControllerSettings.from_env(environ)
    except SettingsError as exc:
        logger.error("failover controller misconfigured", extra={"error": str(exc)})
        raise
    cloudwatch_client = cloudwatch_client or boto3.client("cloudwatch", config=CLIENT_CONFIG)
    appconfig_client = appconfig_client or boto3.client("appconfig", config=CLIENT_CONFIG)
    return FailoverController(
        settings,
        CloudWatchAlarmSource(cloudwatch_client),
        AppConfigFlagStore(
            appconfig_client,
            AppConfigTarget(
                settings.application_id, settings.environment_id, settings.profile_id, settings.deployment_strategy_id
            ),
        ),
        logger=logger,
        metrics=metrics,
    )
