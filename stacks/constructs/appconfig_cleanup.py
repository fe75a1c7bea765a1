"""`cdk destroy` for AppConfig: remove each hosted profile's versions before the profile is deleted.

AppConfig refuses to delete a configuration profile that still has hosted versions. CDK keeps
(RemovalPolicy.RETAIN) the version it creates and the failover controller creates more, so
without this construct `cdk destroy` stops at the profiles. One small inline Lambda
(`appconfig_cleanup_handler.py`, no layers, no asset) backs one custom resource per profile:

* the custom resource refers to its profile, so CloudFormation deletes it (and so runs the
  cleanup) before the profile;
* `keep_alive_until_cleaned` makes writers (the failover controller) depend on the custom
  resource, so they are deleted first and cannot add a version after the cleanup ran;
* the handler deletes versions only while the stack status is DELETE_IN_PROGRESS or
  ROLLBACK_IN_PROGRESS, so a Delete sent for any other reason never empties a live profile;
* least privilege: `appconfig:ListHostedConfigurationVersions` and
  `appconfig:DeleteHostedConfigurationVersion` on the two profiles and their versions only, and
  `cloudformation:DescribeStacks` on this stack only.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Acknowledgment, Aws, CfnDeletionPolicy, CustomResource, Duration, Stack, Validations
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct, IConstruct

from stacks.constructs.lambda_factory import create_python_function
from stacks.constructs.model_access import nag_resource
from stacks.constructs.routing_config_store import appconfig_arn

HANDLER_SOURCE = Path(__file__).with_name("appconfig_cleanup_handler.py")
INLINE_CODE_MAX_CHARS = 4096  # CloudFormation's limit for a function's inline ZipFile code
RESOURCE_TYPE = "Custom::AppConfigHostedVersionsCleanup"


class HostedVersionsCleanup(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        application: appconfig.IApplication,
        profiles: list[appconfig.HostedConfiguration],
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # CDK retains the hosted versions it creates. On a failed first create CloudFormation would keep them too
        # (Retain holds during a create rollback) and the profile could not be deleted: ROLLBACK_FAILED. Removing
        # them on a create rollback is always safe, and this cleanup may not have been created yet at that point.
        for profile in profiles:
            for child in profile.node.find_all():
                if isinstance(child, appconfig.CfnHostedConfigurationVersion):
                    child.cfn_options.deletion_policy = CfnDeletionPolicy.RETAIN_EXCEPT_ON_CREATE
        source = HANDLER_SOURCE.read_text()
        if len(source) > INLINE_CODE_MAX_CHARS:
            raise ValueError(
                f"{HANDLER_SOURCE.name} is {len(source)} characters; inline code allows {INLINE_CODE_MAX_CHARS}"
            )
        self.function = create_python_function(
            self,
            "Function",
            code=lambda_.Code.from_inline(source),
            handler="index.handler",
            description="Deletes the AppConfig hosted versions of the stack's profiles when the stack is deleted",
            service_name="appconfig-cleanup",
            stage=stage,
            memory_mb=128,
            timeout=Duration.minutes(15),  # a long-lived flags profile may hold thousands of versions
            log_retention_days=log_retention_days,
            tracing=False,
        )
        role = self.function.role
        assert role is not None
        app_arn = appconfig_arn(self, f"application/{application.application_id}")
        profile_arns = [f"{app_arn}/configurationprofile/{p.configuration_profile_id}" for p in profiles]
        version_arns = [f"{arn}/hostedconfigurationversion/*" for arn in profile_arns]
        self.policy = iam.Policy(
            self,
            "Policy",
            statements=[
                iam.PolicyStatement(
                    sid="DeleteHostedVersions",
                    actions=["appconfig:ListHostedConfigurationVersions", "appconfig:DeleteHostedConfigurationVersion"],
                    resources=[app_arn, *profile_arns, *version_arns],
                ),
                iam.PolicyStatement(
                    sid="ReadOwnStackStatus", actions=["cloudformation:DescribeStacks"], resources=[Aws.STACK_ID]
                ),
            ],
            roles=[role],
        )
        self.resources: list[CustomResource] = []
        for profile in profiles:
            resource = CustomResource(
                self,
                f"{profile.node.id}Versions",
                service_token=self.function.function_arn,
                resource_type=RESOURCE_TYPE,
                properties={
                    "ApplicationId": application.application_id,
                    "ConfigurationProfileId": profile.configuration_profile_id,
                },
            )
            resource.node.add_dependency(self.policy)  # the grant outlives the cleanup it allows
            self.resources.append(resource)
        stack = Stack.of(self)
        for arn in version_arns:
            Validations.of(self.policy).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{nag_resource(arn, stack)}]",
                    reason="Hosted-version numbers are assigned by AppConfig at run time; the cleanup deletes every "
                    "version of this one profile of this stack, and only while the stack is being deleted.",
                )
            )

    def keep_alive_until_cleaned(self, *writers: IConstruct) -> None:
        """Make `writers` depend on the cleanup, so they are deleted before it runs."""
        for writer in writers:
            for resource in self.resources:
                writer.node.add_dependency(resource)
