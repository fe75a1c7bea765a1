"""AppConfig store for the routing configuration: application, environment, `routing` profile.

The profile's JSON Schema validator and the synth-time check come from the same pydantic model
the router validates with at run time (`routing_engine.config`), so a document AppConfig accepts
is one the router can load, and a bad bundled file fails `cdk synth` instead of a deployment.

The failover flags live beside it in their own environment (`FailoverFlagsStore`), so an urgent
flag flip never waits behind a routing rollout (AppConfig runs one deployment at a time per
environment). `monitors` (the routing-rollout alarm) make a routing rollout roll back by itself.

JSON Schema cannot express cross-references, so the profile also has a Lambda validator
(`lambdas/config_validator`) that runs `parse_routing_config` itself: a document that names a
model not in the catalog fails in AppConfig, naming the field, instead of deploying "COMPLETE"
to routers that all reject it. `LambdaValidator.from_function` adds the resource-based permission
AppConfig needs to invoke it (principal appconfig.amazonaws.com, lambda:InvokeFunction).

The `learned-scorers` profile (issue 14, item 5) holds what the scorer trainer learned: per route, the scorer's
weights and the threshold calibrated for them (routing_engine.config.learned). It lives in the SAME environment as
`routing`, so the same rollback monitor watches its deployments, and is validated by the same validator code (its
own function, CONFIG_PROFILE=learned-scorers, and a JSON Schema from the same pydantic model). The stack creates it
with one fixed document, `{"routes": {}}`, deployed once: a `cdk deploy` of a changed config/routing.json
replaces the routing version and deployment only. The learned profile's hosted version and deployment keep their
properties (content, description, strategy), so CloudFormation leaves them alone and the trainer's later versions
keep serving (AWS::AppConfig::HostedConfigurationVersion and ::Deployment are replaced only when a property
changes). The two first deployments are queued by the CDK (Environment.addDeployment makes the second depend on the
first, since AppConfig runs one deployment at a time per environment).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from routing_engine.config import (
    EMPTY_LEARNED,
    ConfigError,
    RoutingConfig,
    geography,
    learned_json_schema,
    resolve_routing_document,
    routing_json_schema,
)

APPCONFIG_VALIDATOR_MAX_CHARS = 32_768
PROFILE_NAME = "routing"
LEARNED_PROFILE_NAME = "learned-scorers"
# Never change these two: a new value replaces the learned profile's first hosted version and its deployment on the
# next `cdk deploy`, which would serve the empty document again until the trainer's next proposal.
LEARNED_INITIAL_CONTENT = EMPTY_LEARNED.decode()
LEARNED_INITIAL_DESCRIPTION = "Learned scorers (written by the scorer trainer; the stack deploys an empty one once)"


@dataclass(frozen=True)
class RoutingDocument:
    """The routing configuration as deployed: exact bytes (the AppConfig hosted version and the Lambda's bundled
    copy), resolved for the stack's Region, and the parsed model."""

    path: Path
    raw: bytes
    config: RoutingConfig
    region: str | None = None  # the Region the document was resolved for (None: env-agnostic, default geography)


def load_routing_document(path: Path, *, region: str | None = None) -> RoutingDocument:
    """Read the routing file and resolve it for `region` (each `inference_profile` entry gets that Region's
    profile; a pinned profile the Region cannot call is refused); raise ConfigError naming the file and the field."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"routing configuration {path}: cannot read ({exc.strerror})") from exc
    try:
        deployed, config = resolve_routing_document(raw, region=region)
    except ConfigError as exc:
        where = f" for {region}" if region else ""
        raise ConfigError(f"routing configuration {path}{where}: {exc}") from exc
    return RoutingDocument(path=path, raw=deployed, config=config, region=region)


def geography_warnings(document: RoutingDocument) -> list[str]:
    """What the synth could not check about where the catalog's models are called from (each a CDK warning)."""
    chosen = {key: spec for key, spec in document.config.models.items() if spec.inference_profile is not None}
    warnings = []
    if chosen and document.region is None:
        warnings.append(
            f"the stack has no Region (env-agnostic), so the routing catalog's inference_profile entries call the "
            f"'{geography.DEFAULT_GEOGRAPHY}.' profiles, which fail from a Region outside that geography: set "
            "-c region=<your Region> (the stack then picks each model's profile for it)"
        )
    elif document.region is not None and not geography.is_known_region(document.region):
        warnings.append(
            f"Region {document.region} is not in the inference-profile table (routing_engine.config.geography): the "
            "catalog's pinned profile ids could not be checked against it"
        )
    for key, spec in chosen.items():
        base = geography.base_model_id(spec.model_id)
        if not geography.known_model(base):
            warnings.append(
                f"models.{key}: {base} is not in the inference-profile table (routing_engine.config.geography), so "
                f"{spec.model_id} was chosen without knowing the model offers it; check its Bedrock model card"
            )
    return warnings


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
        monitors: list[appconfig.Monitor] | None = None,
        validator_function: lambda_.Function | None = None,
        learned_validator_function: lambda_.Function | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        for warning in geography_warnings(document):
            Annotations.of(self).add_warning_v2("model-router:inference-profile", warning)
        schema = compact_json(routing_json_schema())
        if len(schema) > APPCONFIG_VALIDATOR_MAX_CHARS:
            raise ConfigError(
                f"routing JSON Schema is {len(schema)} characters; AppConfig validators allow "
                f"{APPCONFIG_VALIDATOR_MAX_CHARS}"
            )

        self.application = appconfig.Application(
            self,
            "Application",
            application_name=f"model-router-{stage}",
            description="Model router: routing rules and model catalog",
        )
        self.environment = appconfig.Environment(
            self,
            "Environment",
            application=self.application,
            environment_name=stage,
            description=f"Routing configuration served to the {stage} router",
            monitors=monitors,
        )
        rollout_kind = (
            appconfig.RolloutStrategy.exponential
            if rollout.growth_type == "EXPONENTIAL"
            else appconfig.RolloutStrategy.linear
        )
        rollout_strategy = rollout_kind(
            deployment_duration=Duration.minutes(rollout.duration_minutes),
            growth_factor=rollout.growth_factor,
            final_bake_time=Duration.minutes(rollout.final_bake_minutes),
        )
        self.deployment_strategy = appconfig.DeploymentStrategy(
            self,
            "DeploymentStrategy",
            rollout_strategy=rollout_strategy,
            deployment_strategy_name=f"model-router-{stage}-routing",
            description="Gradual rollout of routing changes; the bake time lets alarms roll a bad one back",
        )
        self.profile = appconfig.HostedConfiguration(
            self,
            "RoutingProfile",
            application=self.application,
            name=PROFILE_NAME,
            description="Routing rules and model catalog (validated by the router's pydantic schema)",
            type=appconfig.ConfigurationType.FREEFORM,
            content=appconfig.ConfigurationContent.from_inline_json(document.raw.decode("utf-8")),
            validators=[
                appconfig.JsonSchemaValidator.from_inline(schema),
                *([appconfig.LambdaValidator.from_function(validator_function)] if validator_function else []),
            ],
            deployment_strategy=self.deployment_strategy,
            deploy_to=[self.environment],
        )
        learned_schema = compact_json(learned_json_schema())
        self.learned_profile = appconfig.HostedConfiguration(
            self,
            "LearnedScorersProfile",
            application=self.application,
            name=LEARNED_PROFILE_NAME,
            description=LEARNED_INITIAL_DESCRIPTION,
            type=appconfig.ConfigurationType.FREEFORM,
            content=appconfig.ConfigurationContent.from_inline_json(LEARNED_INITIAL_CONTENT),
            validators=[
                appconfig.JsonSchemaValidator.from_inline(learned_schema),
                *(
                    [appconfig.LambdaValidator.from_function(learned_validator_function)]
                    if learned_validator_function
                    else []
                ),
            ],
            # The empty document changes nothing, so it goes out at once; the trainer deploys its versions with the
            # gradual strategy above.
            deployment_strategy=appconfig.DeploymentStrategy.from_deployment_strategy_id(
                self, "LearnedInitialStrategy", appconfig.DeploymentStrategyId.ALL_AT_ONCE
            ),
            deploy_to=[self.environment],
        )
        for function, profile in (
            (validator_function, self.profile),
            (learned_validator_function, self.learned_profile),
        ):
            if function is not None:
                # The first deployment runs the validator: AppConfig must be allowed to invoke it by then.
                permission = function.permissions_node.find_child("AppConfigPermission")
                for deployment in _deployments(profile):
                    deployment.node.add_dependency(permission)

    @property
    def deployments(self) -> list[appconfig.CfnDeployment]:
        return _deployments(self.profile)

    @property
    def learned_profile_id(self) -> str:
        return self.learned_profile.configuration_profile_id

    @property
    def learned_read_arn(self) -> str:
        return configuration_read_arn(self, self.application_id, self.environment_id, self.learned_profile_id)

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
        return configuration_read_arn(self, self.application_id, self.environment_id, self.profile_id)

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read both profiles the routers serve from (routing and learned-scorers), and nothing else."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=READ_ACTIONS, resource_arns=[self.profile_read_arn, self.learned_read_arn]
        )


def _deployments(profile: appconfig.HostedConfiguration) -> list[appconfig.CfnDeployment]:
    return [c for c in profile.node.find_all() if isinstance(c, appconfig.CfnDeployment)]


READ_ACTIONS = ["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"]


def appconfig_arn(scope: Construct, resource: str) -> str:
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:appconfig:{stack.region}:{stack.account}:{resource}"


def configuration_read_arn(scope: Construct, application_id: str, environment_id: str, profile_id: str) -> str:
    return appconfig_arn(scope, f"application/{application_id}/environment/{environment_id}/configuration/{profile_id}")


def grant_configuration_read(grantee: iam.IGrantable, arn: str) -> iam.Grant:
    return iam.Grant.add_to_principal(grantee=grantee, actions=READ_ACTIONS, resource_arns=[arn])
