"""AppConfig adapter of the scorer trainer: read what a profile serves, propose and deploy a new version of it.

One store per profile: the trainer reads `routing` (never writes it) and reads, proposes and deploys
`learned-scorers` (both in the routing environment, so the same rollback monitor watches them).

- `read_deployed()` reads what the environment SERVES (appconfigdata StartConfigurationSession +
  GetLatestConfiguration), not the latest hosted version: the trainer compares against the scorer traffic
  is actually routed with, and proposes a change to that document.
- `propose()` creates a hosted configuration version (the proposal: nothing serves it until it is deployed; an
  operator reviews and deploys it, or it is deployed by `deploy()` for routes that opted in to auto_deploy).
- `deploy()` starts a deployment with the stack's gradual strategy; the environment's alarm monitor rolls it back.

Clients are injected (boto3's `appconfigdata` and `appconfig`); writes go through the shared
`aws_adapters.appconfig_writer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from aws_adapters.appconfig_writer import AppConfigTarget, AppConfigWriter, error_code

# The smallest interval StartConfigurationSession accepts: the trainer reads once per run.
_POLL_INTERVAL_S = 15


class DeploymentRefused(Exception):
    """AppConfig would not start the deployment (one already runs in the environment); the proposal stays."""


@dataclass(frozen=True, slots=True)
class DeployedConfig:
    content: bytes
    version_label: str | None  # the deployed hosted version's label, when it has one


class AppConfigProfileStore:
    def __init__(self, *, data_client: Any, control_client: Any, target: AppConfigTarget) -> None:
        self._data = data_client
        self._app = target.application_id
        self._env = target.environment_id
        self._profile = target.profile_id
        self._writer = AppConfigWriter(control_client, target)

    def read_deployed(self) -> DeployedConfig:
        session = self._data.start_configuration_session(
            ApplicationIdentifier=self._app,
            EnvironmentIdentifier=self._env,
            ConfigurationProfileIdentifier=self._profile,
            RequiredMinimumPollIntervalInSeconds=_POLL_INTERVAL_S,
        )
        response = self._data.get_latest_configuration(ConfigurationToken=session["InitialConfigurationToken"])
        body = response.get("Configuration")
        raw = body.read() if hasattr(body, "read") else (body or b"")
        if not raw:  # a first GetLatestConfiguration of a session always carries the content, unless none is deployed
            raise LookupError(f"nothing is deployed to configuration profile {self._profile} in this environment")
        return DeployedConfig(raw, response.get("VersionLabel") or None)

    def propose(self, content: bytes, *, description: str, label: str | None = None) -> int:
        """Create a hosted configuration version; return its number."""
        return self._writer.create_version(content, description=description, label=label)

    def deploy(self, version: int, *, description: str) -> int:
        """Deploy a hosted version with the gradual strategy; return the deployment number."""
        try:
            return self._writer.start_deployment(version, description=description)
        except ClientError as exc:
            # ConflictException: another deployment is in progress in the environment (one at a time).
            # BadRequestException: e.g. the profile's validator refused the version (validators run at
            # StartDeployment). Either way the proposal stays, for review, and the run goes on.
            code = error_code(exc)
            if code == "ConflictException":
                raise DeploymentRefused(f"a deployment is already in progress in the environment: {exc}") from exc
            raise DeploymentRefused(f"StartDeployment refused it ({code}): {exc}") from exc


AppConfigRoutingStore = AppConfigProfileStore  # the name it had when the trainer wrote the routing profile
