"""AppConfig store for the failover flags: environment `<stage>-flags`, profile `failover-flags`.

Separate from the routing environment because AppConfig runs one deployment at a time per
environment: a slow, gradual routing rollout must never hold up an urgent flag flip. The flags
strategy is all at once with no bake time (the predefined `AppConfig.AllAtOnce` bakes for 10
minutes, which would block the next flip), so a flag is live within the router's
FLAGS_MAX_AGE_SECONDS. The environment has no monitor on purpose: a flip is made *because* an
alarm fires, and a monitor would roll it back.

The profile's JSON Schema is `flags_json_schema()`, from the same pydantic model the router and
the controller parse with. It is seeded with `{"models": {}}` and deployed, so the controller's
optimistic lock (LatestVersionNumber) always has a version to lock against.
"""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_iam as iam
from constructs import Construct

from routing_engine.config import flags_json_schema
from stacks.constructs.routing_config_store import (
    appconfig_arn,
    compact_json,
    configuration_read_arn,
    grant_configuration_read,
)

PROFILE_NAME = "failover-flags"
INITIAL_FLAGS: dict[str, dict] = {"models": {}}


class FailoverFlagsStore(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str, application: appconfig.IApplication) -> None:
        super().__init__(scope, construct_id)
        self.application = application
        self.environment = appconfig.Environment(
            self,
            "Environment",
            application=application,
            environment_name=f"{stage}-flags",
            description=f"Failover flags served to the {stage} router (no monitors: flips must not roll back)",
        )
        self.deployment_strategy = appconfig.DeploymentStrategy(
            self,
            "DeploymentStrategy",
            deployment_strategy_name=f"model-router-{stage}-flags",
            description="Failover flags take effect at once: all targets, no growth time, no bake time",
            rollout_strategy=appconfig.RolloutStrategy.linear(
                growth_factor=100, deployment_duration=Duration.minutes(0), final_bake_time=Duration.minutes(0)
            ),
        )
        self.profile = appconfig.HostedConfiguration(
            self,
            "FlagsProfile",
            application=application,
            name=PROFILE_NAME,
            description="Per-model failover flags (down/up, alarm/manual); written by the failover controller",
            type=appconfig.ConfigurationType.FREEFORM,
            content=appconfig.ConfigurationContent.from_inline_json(json.dumps(INITIAL_FLAGS)),
            validators=[appconfig.JsonSchemaValidator.from_inline(compact_json(flags_json_schema()))],
            deployment_strategy=self.deployment_strategy,
            deploy_to=[self.environment],
        )

    @property
    def environment_id(self) -> str:
        return self.environment.environment_id

    @property
    def profile_id(self) -> str:
        return self.profile.configuration_profile_id

    @property
    def strategy_id(self) -> str:
        return self.deployment_strategy.deployment_strategy_id

    # ARNs in the shapes of the AppConfig service authorization reference.
    @property
    def application_arn(self) -> str:
        return appconfig_arn(self, f"application/{self.application.application_id}")

    @property
    def profile_arn(self) -> str:
        return f"{self.application_arn}/configurationprofile/{self.profile_id}"

    @property
    def environment_arn(self) -> str:
        return f"{self.application_arn}/environment/{self.environment_id}"

    @property
    def strategy_arn(self) -> str:
        return appconfig_arn(self, f"deploymentstrategy/{self.strategy_id}")

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """What the router needs: AppConfig Data on the flags profile in the flags environment."""
        return grant_configuration_read(
            grantee, configuration_read_arn(self, self.application.application_id, self.environment_id, self.profile_id)
        )

    def controller_wildcard_resources(self) -> tuple[str, str]:
        """Every hosted version of the flags profile, every deployment of the flags environment."""
        return f"{self.profile_arn}/hostedconfigurationversion/*", f"{self.environment_arn}/deployment/*"

    def controller_statements(self) -> list[iam.PolicyStatement]:
        """What the failover controller needs, on the flags profile, environment and strategy only.

        The application ARN is listed beside each: the service authorization reference names
        `application` as a resource type of these actions too; granting our one application never
        widens the grant beyond the flags profile/environment, since every other listed resource
        must match as well.
        """
        versions, deployments = self.controller_wildcard_resources()
        return [
            iam.PolicyStatement(
                sid="FlagsVersionsRead",
                actions=["appconfig:ListHostedConfigurationVersions", "appconfig:GetHostedConfigurationVersion"],
                resources=[self.application_arn, self.profile_arn, versions],
            ),
            iam.PolicyStatement(
                sid="FlagsVersionsWrite",
                actions=["appconfig:CreateHostedConfigurationVersion"],
                resources=[self.application_arn, self.profile_arn, versions],
            ),
            iam.PolicyStatement(
                sid="FlagsDeploy",
                actions=["appconfig:StartDeployment"],
                resources=[
                    self.application_arn,
                    self.environment_arn,
                    self.profile_arn,
                    self.strategy_arn,
                    deployments,
                ],
            ),
            iam.PolicyStatement(
                sid="FlagsDeploymentsRead",
                actions=["appconfig:ListDeployments", "appconfig:GetDeployment"],
                resources=[self.application_arn, self.environment_arn, deployments],
            ),
        ]
