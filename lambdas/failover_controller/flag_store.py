"""AppConfig adapter: read, write and deploy the `failover-flags` hosted configuration (writes and deployments
through the shared `aws_adapters.appconfig_writer`).

The latest hosted configuration version is the source of truth (an operator's console
edit creates a new one). Writes use `LatestVersionNumber` as an optimistic lock, and
the flags live in their own environment, so a deployment conflict there is only ever
with another flags deployment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from aws_adapters.appconfig_writer import AppConfigTarget, AppConfigWriter, error_code
from routing_engine.config import ConfigError, FailoverFlags, parse_failover_flags

# States in which AppConfig refuses to start another deployment in the environment.
_IN_PROGRESS = frozenset({"DEPLOYING", "BAKING", "VALIDATING", "ROLLING_BACK"})


class WriteConflict(Exception):
    """Someone else changed the flags or is deploying: re-read everything and try again."""


class FlagsDocumentInvalid(Exception):
    """The latest hosted version does not parse; a human must fix it, never the controller."""

    def __init__(self, version: int, problem: str) -> None:
        super().__init__(f"failover flags version {version} is invalid: {problem}")
        self.version = version
        self.problem = problem


@dataclass(frozen=True)
class FlagsSnapshot:
    version: int | None  # None: the profile has no hosted version yet
    flags: FailoverFlags


@dataclass(frozen=True)
class LiveState:
    """What the flags environment serves, from its most recent deployments."""

    in_progress: bool  # a deployment of any version is running: AppConfig would refuse another
    deploying_version: int | None  # our profile's version being deployed, if any
    live_version: int | None  # our profile's most recent COMPLETE deployment

    def serves(self, version: int) -> bool:
        """True when `version` is live or on its way there."""
        return version in (self.live_version, self.deploying_version)


class AppConfigFlagStore:
    def __init__(self, appconfig_client: Any, target: AppConfigTarget) -> None:
        self._appconfig = appconfig_client
        self._app = target.application_id
        self._env = target.environment_id
        self._profile = target.profile_id
        self._writer = AppConfigWriter(appconfig_client, target)

    def read(self) -> FlagsSnapshot:
        version = self.latest_version()
        if version is None:
            return FlagsSnapshot(version=None, flags=FailoverFlags())
        response = self._appconfig.get_hosted_configuration_version(
            ApplicationId=self._app, ConfigurationProfileId=self._profile, VersionNumber=version
        )
        content = response["Content"]
        raw = content.read() if hasattr(content, "read") else content
        try:
            flags = parse_failover_flags(raw)
        except ConfigError as exc:
            raise FlagsDocumentInvalid(version, str(exc)) from exc
        return FlagsSnapshot(version=version, flags=flags)

    def latest_version(self) -> int | None:
        # The API documents no order for the list, so read every page and take the highest.
        latest: int | None = None
        kwargs: dict[str, Any] = {"ApplicationId": self._app, "ConfigurationProfileId": self._profile, "MaxResults": 50}
        while True:
            page = self._appconfig.list_hosted_configuration_versions(**kwargs)
            for item in page.get("Items", []):
                latest = item["VersionNumber"] if latest is None else max(latest, item["VersionNumber"])
            token = page.get("NextToken")
            if not token:
                return latest
            kwargs["NextToken"] = token

    def write(self, flags: FailoverFlags, *, based_on: int | None, description: str) -> int:
        """Create a hosted version, only if `based_on` is still the latest; return its number."""
        try:
            return self._writer.create_version(encode_flags(flags), description=description, latest_version=based_on)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ConflictException":
                raise WriteConflict(f"flags changed since version {based_on}: {exc}") from exc
            # The API reference does not say which error a stale LatestVersionNumber gets;
            # if the latest version moved, it was a lost race whatever the error says.
            if code == "BadRequestException" and self.latest_version() != based_on:
                raise WriteConflict(f"flags changed since version {based_on}: {exc}") from exc
            raise

    def live_state(self) -> LiveState:
        # ListDeployments returns the newest first; the first page is enough to see
        # what is running and what was last completed.
        page = self._appconfig.list_deployments(ApplicationId=self._app, EnvironmentId=self._env, MaxResults=25)
        in_progress = False
        deploying = live = None
        for item in page.get("Items", []):
            state = item.get("State")
            ours = item.get("ConfigurationProfileId") == self._profile
            if state in _IN_PROGRESS:
                in_progress = True
                if ours and deploying is None:
                    deploying = _version(item)
            elif state == "COMPLETE" and ours and live is None:
                live = _version(item)
        return LiveState(in_progress=in_progress, deploying_version=deploying, live_version=live)

    def deploy(self, version: int, *, description: str) -> int:
        """Start deploying `version` to the flags environment; return the deployment number."""
        try:
            return self._writer.start_deployment(version, description=description)
        except ClientError as exc:
            if error_code(exc) == "ConflictException":
                raise WriteConflict(f"a deployment is in progress in the flags environment: {exc}") from exc
            raise


def encode_flags(flags: FailoverFlags) -> bytes:
    """Stable JSON (sorted keys) so a human reading version diffs sees only real changes."""
    return (json.dumps(flags.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()


def _version(item: dict[str, Any]) -> int | None:
    try:
        return int(item.get("ConfigurationVersion", ""))
    except ValueError:
        return None
