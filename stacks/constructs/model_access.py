"""Least-privilege `bedrock:InvokeModel` for exactly the models the routing configuration names.

The ARN logic is the pure `stacks.bedrock_iam`; this construct turns it into one IAM policy and
acknowledges, finding by finding, the region wildcards cross-region inference requires.
Adding a model to the catalog therefore needs a redeploy of the stack (not only an AppConfig
deployment) before the router may call it; the router reports AccessDenied until then.

The grant grows with the catalog (about 350 characters a model through a cross-region profile),
and IAM allows 10,240 characters of inline policy per role in total. So it is written as customer
managed policies attached to the role, as many as needed, each kept under IAM's 6,144 characters
for one managed policy (sizes estimated at synth with every token at its longest value); 40
models take three. A role may have 10 managed policies attached by default.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from aws_cdk import Acknowledgment, Annotations, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from routing_engine.config import RoutingConfig
from stacks.bedrock_iam import (
    MARKETPLACE_SUBSCRIBE_ACTIONS,
    MARKETPLACE_VIEW_ACTIONS,
    ModelGrant,
    marketplace_grant,
    merge_grants,
    model_grant,
)

# Converse (and the prompt-router path) authorises as InvokeModel, ConverseStream as InvokeModelWithResponseStream
# (Bedrock API reference, ConverseStream: "requires permission for the bedrock:InvokeModelWithResponseStream action").
INVOKE_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
CONVERSE_ACTIONS = ["bedrock:InvokeModel"]  # Converse alone (Bedrock API reference, Converse: bedrock:InvokeModel)
MANAGED_POLICY_BUDGET = 5_500  # characters, under IAM's 6,144 for one managed policy, with room for its envelope
MAX_MANAGED_POLICIES = 10  # IAM's default quota of managed policies attached to one role
_LONGEST = {"AWS::Partition": "aws-us-gov", "AWS::Region": "ap-southeast-2x", "AWS::AccountId": "123456789012"}


def _longest(value: Any) -> Any:
    """A resolved policy value with every token at the longest string it can become."""
    if isinstance(value, list):
        return [_longest(v) for v in value]
    if isinstance(value, dict):
        if "Ref" in value:
            return _LONGEST.get(value["Ref"], "r" * 64)
        if "Fn::GetAtt" in value:
            return "g" * 160
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(_longest(p)) for p in parts)
        return {k: _longest(v) for k, v in value.items()}
    return value


def routing_config_grants(
    config: RoutingConfig, *, region: str, account: str, partition: str, prompt_routers: bool = True
) -> list[ModelGrant]:
    """One grant per model id (and, with `prompt_routers`, per prompt-router ARN) the configuration names."""
    grants = [
        model_grant(spec.model_id, region=spec.region or region, account=account, partition=partition)
        for _, spec in sorted(config.models.items())
    ]
    if prompt_routers:
        grants += [
            model_grant(router.arn, region=region, account=account, partition=partition)
            for _, router in sorted(config.prompt_routers.items())
            if router.arn is not None
        ]
    return grants


def nag_resource(arn: str, stack: Stack) -> str:
    """How cdk-nag prints a resource in a finding id: `<AWS::Region>` for pseudo parameters,
    `<LogicalId>` for a Ref and `<LogicalId.Attr>` for a GetAtt."""

    def render(value) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(render(part) for part in parts)
        if isinstance(value, dict) and "Ref" in value:
            return f"<{value['Ref']}>"
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        raise ValueError(f"cannot render {value!r} for a cdk-nag finding id")

    return render(stack.resolve(arn)) if Token.is_unresolved(arn) else arn


def grant_statements(grant: ModelGrant, sid: str, actions: Sequence[str] = INVOKE_ACTIONS) -> list[iam.PolicyStatement]:
    statements = [iam.PolicyStatement(sid=f"{sid}Models", actions=list(actions), resources=list(grant.resources))]
    if grant.via_profile:
        statements.append(
            iam.PolicyStatement(
                sid=f"{sid}ProfileDestinations",
                actions=list(actions),
                resources=list(grant.via_profile),
                conditions={"StringEquals": {"bedrock:InferenceProfileArn": list(grant.profiles)}},
            )
        )
    return statements


class ModelInvokePolicy(Construct):
    """`actions` default to the router's (Converse and ConverseStream); a function that only calls Converse (the
    labeller) passes `CONVERSE_ACTIONS`. `prompt_routers=False` leaves out the configured prompt routers: only the
    catalog's models are granted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role: iam.IRole,
        config: RoutingConfig,
        actions: Sequence[str] = INVOKE_ACTIONS,
        prompt_routers: bool = True,
        description: str = "Bedrock InvokeModel on the routing catalog's models",
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.actions = list(actions)
        per_model = routing_config_grants(
            config, region=stack.region, account=stack.account, partition=stack.partition, prompt_routers=prompt_routers
        )
        self.policies: list[iam.ManagedPolicy] = []
        for number, chunk in enumerate(self._chunks(per_model, stack), start=1):
            grant = merge_grants(chunk)
            policy = iam.ManagedPolicy(
                # Not "Policy": that logical id was an inline AWS::IAM::Policy before, and CloudFormation refuses to
                # change a resource's type in an update; a new id creates the managed policy, then deletes the old.
                self,
                f"InvokePolicy{number}",
                description=f"{description} (part {number})",
                statements=grant_statements(grant, "InvokeConfigured", self.actions),
                roles=[role],
            )
            self.policies.append(policy)
            self._acknowledge_region_wildcards(policy, grant.via_profile, stack)
        if len(self.policies) > MAX_MANAGED_POLICIES:
            raise ValueError(
                f"the catalog's Bedrock grant needs {len(self.policies)} managed policies; a role may "
                f"have {MAX_MANAGED_POLICIES} by default (raise the IAM quota, or trim the catalog)"
            )

    def _size(self, grants: list[ModelGrant], stack: Stack) -> int:
        document = iam.PolicyDocument(
            statements=grant_statements(merge_grants(grants), "InvokeConfigured", self.actions)
        )
        return len(json.dumps(_longest(stack.resolve(document.to_json())), separators=(",", ":")))

    def _chunks(self, grants: list[ModelGrant], stack: Stack) -> list[list[ModelGrant]]:
        chunks: list[list[ModelGrant]] = [[]]
        for grant in grants:
            if chunks[-1] and self._size([*chunks[-1], grant], stack) > MANAGED_POLICY_BUDGET:
                chunks.append([])
            chunks[-1].append(grant)
        return chunks

    def _acknowledge_region_wildcards(self, policy: iam.ManagedPolicy, arns: Iterable[str], stack: Stack) -> None:
        for arn in arns:
            Validations.of(policy).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{nag_resource(arn, stack)}]",
                    reason="A cross-region inference profile routes to the model in regions AWS chooses, so the "
                    "foundation-model ARN needs a region wildcard ('' for global profiles). Scoped to this one "
                    "model and, by the bedrock:InferenceProfileArn condition, to calls through our profiles.",
                )
            )


class MarketplaceModelAccess(Construct):
    """The AWS Marketplace permissions Bedrock's automatic model access needs on the first call of a third-party
    model in an account, for the roles that call the catalog's models (the router and the labeller).

    Bedrock user guide, "Access Amazon Bedrock foundation models": "When you first invoke an Amazon Bedrock
    serverless model served from AWS Marketplace in an account, Bedrock attempts to automatically enable the model
    for your account. For this auto-enablement to work, AWS Marketplace permissions are required", and "For the
    aws-marketplace:Subscribe action only, you can use the aws-marketplace:ProductId condition key to restrict
    subscription to specific models". So `Subscribe` is limited to the catalog's `marketplace_product_id`s;
    `ViewSubscriptions` takes no condition key and no resource ARN, so it is granted on '*'. `Unsubscribe`, which
    the same page lists, is not needed to subscribe and is not granted. A third-party model without a product id
    in the catalog is not covered (a synth warning names it): an administrator's first call enables it instead.
    No Subscribe grant at all when no model needs one (Amazon's, Meta's, ... models are not sold through
    Marketplace)."""

    def __init__(self, scope: Construct, construct_id: str, *, roles: list[iam.IRole], config: RoutingConfig) -> None:
        super().__init__(scope, construct_id)
        grant = marketplace_grant(
            (key, spec.model_id, spec.marketplace_product_id) for key, spec in config.models.items()
        )
        self.product_ids = grant.product_ids
        for key in grant.models_without_product_id:
            Annotations.of(self).add_warning_v2(
                "model-router:marketplace-product-id",
                f"models.{key} ({config.models[key].model_id}) is sold through AWS Marketplace but has no "
                "marketplace_product_id: the router cannot subscribe the account to it on first use. Add the id from "
                "the model's Bedrock model card, or enable the model once as an administrator (README, Model access).",
            )
        self.policy: iam.ManagedPolicy | None = None
        if not grant.product_ids:
            return
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="AWS Marketplace: subscribe the account to the routing catalog's third-party models on first "
            "use (Bedrock automatic model access)",
            statements=[
                iam.PolicyStatement(
                    sid="SubscribeToCatalogModels",
                    actions=MARKETPLACE_SUBSCRIBE_ACTIONS,
                    resources=["*"],
                    conditions={"ForAnyValue:StringEquals": {"aws-marketplace:ProductId": list(grant.product_ids)}},
                ),
                iam.PolicyStatement(
                    sid="ViewMarketplaceSubscriptions", actions=MARKETPLACE_VIEW_ACTIONS, resources=["*"]
                ),
            ],
            roles=roles,
        )
        Validations.of(self.policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The AWS Marketplace actions Bedrock's model access needs name no resource (AWS's own "
                "AWSMarketplaceManageSubscriptions policy grants them on '*'). Subscribe is limited by the "
                "aws-marketplace:ProductId condition to the catalog's models, the only scoping the Bedrock user guide "
                "documents; ViewSubscriptions is read-only and takes no condition key.",
            )
        )
