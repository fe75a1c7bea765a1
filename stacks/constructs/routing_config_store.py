"""AppConfig store for the routing configuration: application, environment, `routing` profile.

The profile's JSON Schema validator and the synth-time check come from the same pydantic model
the router validates with at run time (`routing_engine.config`), so a document AppConfig accepts
is one the router can load, and a bad bundled file fails `cdk synth` instead of a deployment.

Seam for issue 4: the failover flags get their own environment (`<stage>-flags`) and a
`failover-flags` profile, so an urgent flag flip never waits behind a routing rollout (AppConfig
runs one deployment at a time per environment). Add them next to this construct, reusing
`Application` via `self.application` and `grant_read`'s ARN shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_iam as iam
from constructs import Construct

from routing_engine.config import ConfigError, RoutingConfig, parse_routing_config, routing_json_schema

APPCONFIG_VALIDATOR_MAX_CHARS = 32_768
PROFILE_NAME = "routing"


@dataclass(frozen=True)
class RoutingDocument:
    """The bundled routing configuration: exact bytes (deployed and bundled as is) and the parsed model."""

    path: Path
    raw: bytes
    config: RoutingConfig


def load_routing_document(path: Path) -> RoutingDocument:
    """Read and validate the routing file; raise ConfigError naming the file and the field."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"routing configuration {path}: cannot read ({exc.strerror})") from exc
    try:
        config = parse_routing_config(raw)
    except ConfigError as exc:
        raise ConfigError(f"routing configuration {path}: {exc}") from exc
    return RoutingDocument(path=path, raw=raw, config=config)


def compact_json(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class RolloutSettings:
    duration_minutes: int
    growth_factor: float
    growth_type: str  # LINEAR | EXPONENTIAL
    final_bake_minutes: int


class RoutingConfigStore(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        document: RoutingDocument,
        rollout: RolloutSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        schema = compact_json(routing_json_schema())
        if len(schema) > APPCONFIG_VALIDATOR_MAX_CHARS:
            raise ConfigError(
                f"routing JSON Schema is {len(schema)} characters; AppConfig validators allow "
                f"{APPCONFIG_VALIDATOR_MAX_CHARS}"
            )

        self.application = appconfig.Application(
            self, "Application", application_name=f"model-router-{stage}",
            description="Model router: routing rules and model catalog",
        )
        self.environment = appconfig.Environment(
            self, "Environment", application=self.application, environment_name=stage,
            description=f"Routing configuration served to the {stage} router",
        )
        strategy_kwargs = dict(
            deployment_duration=Duration.minutes(rollout.duration_minutes),
            growth_factor=rollout.growth_factor,
            final_bake_time=Duration.minutes(rollout.final_bake_minutes),
        )
        rollout_strategy = (
            appconfig.RolloutStrategy.exponential(**strategy_kwargs)
            if rollout.growth_type == "EXPONENTIAL"
            else appconfig.RolloutStrategy.linear(**strategy_kwargs)
        )
        self.deployment_strategy = appconfig.DeploymentStrategy(
            self, "DeploymentStrategy", rollout_strategy=rollout_strategy,
            deployment_strategy_name=f"model-router-{stage}-routing",
            description="Gradual rollout of routing changes; the bake time lets alarms roll a bad one back",
        )
        self.profile = appconfig.HostedConfiguration(
            self, "RoutingProfile",
            application=self.application,
            name=PROFILE_NAME,
            description="Routing rules and model catalog (validated by the router's pydantic schema)",
            type=appconfig.ConfigurationType.FREEFORM,
            content=appconfig.ConfigurationContent.from_inline_json(document.raw.decode("utf-8")),
            validators=[appconfig.JsonSchemaValidator.from_inline(schema)],
            deployment_strategy=self.deployment_strategy,
            deploy_to=[self.environment],
        )

    @property
    def application_id(self) -> str:
        return self.application.application_id

    @property
    def environment_id(self) -> str:
        return self.environment.environment_id

    @property
    def profile_id(self) -> str:
        return self.profile.configuration_profile_id

    @property
    def profile_read_arn(self) -> str:
        """The resource AppConfig Data authorises StartConfigurationSession / GetLatestConfiguration on."""
        stack = Stack.of(self)
        return (
            f"arn:{stack.partition}:appconfig:{stack.region}:{stack.account}:application/{self.application_id}"
            f"/environment/{self.environment_id}/configuration/{self.profile_id}"
        )

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"],
            resource_arns=[self.profile_read_arn],
        )
