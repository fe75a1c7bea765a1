"""The one AppConfig writer: create a hosted configuration version of a profile, start its deployment.

The failover controller writes the `failover-flags` profile (with `LatestVersionNumber` as an optimistic lock),
the scorer trainer proposes and deploys the `routing` profile. Both write the same way, so the request shapes and
AppConfig's rules about them live here once: descriptions and labels travel in HTTP headers (ASCII only, within
the API's length limits), and a version label may not be all digits. AWS errors are raised as botocore's
`ClientError`; what a conflict means is the caller's business (`error_code` reads its code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

CONTENT_TYPE = "application/json"
DESCRIPTION_MAX = 1024  # CreateHostedConfigurationVersion and StartDeployment `Description`
VERSION_LABEL_MAX = 64  # CreateHostedConfigurationVersion `VersionLabel`


@dataclass(frozen=True)
class AppConfigTarget:
    """One configuration profile, the environment that serves it, and the strategy that deploys it there."""

    application_id: str
    environment_id: str
    profile_id: str
    deployment_strategy_id: str


class AppConfigWriter:
    """Writes the target's profile and deploys it to the target's environment (client injected: boto3's
    `appconfig`)."""

    def __init__(self, appconfig_client: Any, target: AppConfigTarget) -> None:
        self._appconfig = appconfig_client
        self._target = target

    def create_version(
        self, content: bytes, *, description: str, label: str | None = None, latest_version: int | None = None
    ) -> int:
        """Create a hosted configuration version; return its number. `latest_version`: refuse (a ClientError) if
        another version was created since that one. `label` is left out when AppConfig would refuse it (all
        digits once made header-safe)."""
        kwargs: dict[str, Any] = {
            "ApplicationId": self._target.application_id,
            "ConfigurationProfileId": self._target.profile_id,
            "Content": content,
            "ContentType": CONTENT_TYPE,
            "Description": header_safe(description, DESCRIPTION_MAX),
        }
        if latest_version is not None:
            kwargs["LatestVersionNumber"] = latest_version
        if label:
            safe = header_safe(label, VERSION_LABEL_MAX)
            if not safe.isdigit():  # AppConfig requires a non-numeric character in a label
                kwargs["VersionLabel"] = safe
        response = self._appconfig.create_hosted_configuration_version(**kwargs)
        return int(response["VersionNumber"])

    def start_deployment(self, version: int, *, description: str) -> int:
        """Start deploying hosted `version` to the environment; return the deployment number. AppConfig runs the
        profile's validators here, and refuses while another deployment runs in the environment."""
        target = self._target
        response = self._appconfig.start_deployment(
            ApplicationId=target.application_id,
            EnvironmentId=target.environment_id,
            DeploymentStrategyId=target.deployment_strategy_id,
            ConfigurationProfileId=target.profile_id,
            ConfigurationVersion=str(version),
            Description=header_safe(description, DESCRIPTION_MAX),
        )
        return int(response["DeploymentNumber"])


def header_safe(text: str, limit: int) -> str:
    """Descriptions and labels travel in HTTP headers: ASCII only, within AppConfig's length limit."""
    return text.encode("ascii", "replace").decode()[:limit]


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call (`ConflictException`, ...), or "" when it has none."""
    return exc.response.get("Error", {}).get("Code", "")
