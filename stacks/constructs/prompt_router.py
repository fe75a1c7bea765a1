"""Bedrock Intelligent Prompt Routing for the router Lambda: one construct owns the router and its grant.

Context `prompt_router` (validated in `stacks.settings`):

* `{"arn": "<prompt-router ARN>"}`: an existing router, e.g. a default one
  (`arn:aws:bedrock:<region>:<account>:default-prompt-router/amazon.nova:1`);
* `{"definition": {...}}`: the stack creates an `AWS::Bedrock::IntelligentPromptRouter` over two
  models of one family, named by their cross-region inference-profile ARNs
  (`inference-profile/<geo>.<model id>`, geo from `inference_profile_geo`): prompt routing takes
  foundation-model ARNs only in us-east-1 and us-gov-west-1 (and only for some models), while
  inference-profile ARNs work in every region that supports prompt routing.

`grant_invoke` gives exactly what a Converse call with the router ARN as `modelId` needs, the
way `PromptRouter.grantInvoke` in awslabs/generative-ai-cdk-constructs and the CDK bedrock-alpha
module do it: `bedrock:InvokeModel` and `bedrock:GetPromptRouter` on the router ARN, and
`bedrock:InvokeModel` on every routed model's cross-region inference profile and foundation-model
ARNs (the router calls the model it picks on the caller's behalf). For an existing router the
routed models are those of the routing configuration's `prompt_routers` entries, which the
catalog grant (`ModelInvokePolicy`) already covers; this construct adds the router itself.

The router Lambda receives the ARN as PROMPT_ROUTER_ARN; without the context there is no
variable and the engine skips prompt-router targets.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.bedrock_iam import ModelGrant, merge_grants, model_grant
from stacks.constructs.model_access import INVOKE_ACTIONS, nag_resource
from stacks.settings import PromptRouterContext

ROUTER_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:GetPromptRouter"]


class PromptRouter(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, context: PromptRouterContext, stage: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        tokens = {"region": stack.region, "account": stack.account, "partition": stack.partition}
        self.resource: bedrock.CfnIntelligentPromptRouter | None = None
        if context.definition is not None:
            definition = context.definition
            profile_arn = {
                m: model_grant(f"{definition.inference_profile_geo}.{m}", **tokens).resources[0]
                for m in definition.models
            }
            self.resource = bedrock.CfnIntelligentPromptRouter(
                self,
                "Resource",
                prompt_router_name=f"{definition.name}",
                description=definition.description or f"Model router {stage} prompt router",
                models=[
                    bedrock.CfnIntelligentPromptRouter.PromptRouterTargetModelProperty(model_arn=profile_arn[m])
                    for m in definition.models
                ],
                fallback_model=bedrock.CfnIntelligentPromptRouter.PromptRouterTargetModelProperty(
                    model_arn=profile_arn[definition.fallback_model]
                ),
                routing_criteria=bedrock.CfnIntelligentPromptRouter.RoutingCriteriaProperty(
                    response_quality_difference=definition.response_quality_difference
                ),
            )
            self.arn: str = self.resource.attr_prompt_router_arn
            # The router may call each model directly or through its geo's cross-region profile.
            self.model_grant: ModelGrant = merge_grants(
                [model_grant(m, **tokens) for m in definition.models]
                + [model_grant(f"{definition.inference_profile_geo}.{m}", **tokens) for m in definition.models]
            )
        else:
            assert context.arn is not None
            self.arn = context.arn
            self.model_grant = ModelGrant(resources=())

    def grant_invoke(self, role: iam.IRole) -> iam.Policy:
        """One policy: the router, plus (for a router we define) the models it routes to."""
        stack = Stack.of(self)
        statements = [iam.PolicyStatement(sid="InvokePromptRouter", actions=ROUTER_ACTIONS, resources=[self.arn])]
        grant = self.model_grant
        if grant.resources:
            statements.append(
                iam.PolicyStatement(sid="InvokeRoutedModels", actions=INVOKE_ACTIONS, resources=list(grant.resources))
            )
        if grant.via_profile:
            statements.append(
                iam.PolicyStatement(
                    sid="InvokeRoutedModelsViaProfiles",
                    actions=INVOKE_ACTIONS,
                    resources=list(grant.via_profile),
                    conditions={"StringEquals": {"bedrock:InferenceProfileArn": list(grant.profiles)}},
                )
            )
        policy = iam.Policy(self, "InvokePolicy", statements=statements, roles=[role])
        for arn in grant.via_profile:
            Validations.of(policy).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{nag_resource(arn, stack)}]",
                    reason="The prompt router's cross-region inference profile routes to this model in regions AWS "
                    "chooses, so its foundation-model ARN needs a region wildcard. Scoped to this model and, by the "
                    "bedrock:InferenceProfileArn condition, to calls through the routed models' profiles.",
                )
            )
        return policy
