"""Least-privilege `bedrock:InvokeModel` for exactly the models the routing configuration names.

The ARN logic is the pure `stacks.bedrock_iam`; this construct turns it into one IAM policy and
acknowledges, finding by finding, the region wildcards cross-region inference requires.
Adding a model to the catalog therefore needs a redeploy of the stack (not only an AppConfig
deployment) before the router may call it; the router reports AccessDenied until then.
"""

from __future__ import annotations

from typing import Iterable

from aws_cdk import Acknowledgment, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from routing_engine.config import RoutingConfig
from stacks.bedrock_iam import ModelGrant, merge_grants, model_grant

INVOKE_ACTIONS = ["bedrock:InvokeModel"]  # Converse and the prompt-router path authorise as InvokeModel


def routing_config_grant(config: RoutingConfig, *, region: str, account: str, partition: str) -> ModelGrant:
    """Every model id and prompt-router ARN the configuration names, as one grant."""
    grants = [
        model_grant(spec.model_id, region=spec.region or region, account=account, partition=partition)
        for _, spec in sorted(config.models.items())
    ]
    grants += [
        model_grant(router.arn, region=region, account=account, partition=partition)
        for _, router in sorted(config.prompt_routers.items())
        if router.arn is not None
    ]
    return merge_grants(grants)


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


class ModelInvokePolicy(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, role: iam.IRole, config: RoutingConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.grant = routing_config_grant(config, region=stack.region, account=stack.account, partition=stack.partition)
        statements = [
            iam.PolicyStatement(sid="InvokeConfiguredModels", actions=INVOKE_ACTIONS, resources=list(self.grant.resources))
        ]
        if self.grant.via_profile:
            statements.append(
                iam.PolicyStatement(
                    sid="InvokeProfileDestinations",
                    actions=INVOKE_ACTIONS,
                    resources=list(self.grant.via_profile),
                    conditions={"StringEquals": {"bedrock:InferenceProfileArn": list(self.grant.profiles)}},
                )
            )
        self.policy = iam.Policy(self, "Policy", statements=statements, roles=[role])
        self._acknowledge_region_wildcards(self.grant.via_profile, stack)

    def _acknowledge_region_wildcards(self, arns: Iterable[str], stack: Stack) -> None:
        for arn in arns:
            Validations.of(self.policy).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{nag_resource(arn, stack)}]",
                    reason="A cross-region inference profile routes to the model in regions AWS chooses, so the "
                    "foundation-model ARN needs a region wildcard ('' for global profiles). Scoped to this one "
                    "model and, by the bedrock:InferenceProfileArn condition, to calls through our profiles.",
                )
            )
