"""The spend table: what each caller and tier has spent this UTC day and month, for budgets.

One DynamoDB table, on demand (budgets see bursty, unpredictable traffic; no capacity to plan), one string
partition key `pk` (`caller#<id>#d2026-12-01`, `tier#<name>#m2026-12`, ...), atomic `ADD` counters written by
every router instance, and a TTL attribute (`expires_at`) so finished periods delete themselves. Encrypted with
an AWS owned key (the items hold only ids and dollar sums: no prompt text), point-in-time recovery on.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

# What the router does with the table, and nothing more: atomic counters and batched reads.
ROUTER_ACTIONS = ("dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:GetItem")
TTL_ATTRIBUTE = "expires_at"


def expiring_table(scope: Construct, construct_id: str, *, sort_key: bool = False) -> dynamodb.Table:
    """A table of derived data that expires (spend counters, labels): string `pk` (and `sk`), on demand, TTL
    `expires_at`, encrypted, point-in-time recovery on; deleting the stack deletes it (nothing in it is a
    source of truth: counters restart, labels are re-collected)."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING) if sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute=TTL_ATTRIBUTE,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=RemovalPolicy.DESTROY,
    )


class SpendTable(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = expiring_table(self, "Table")

    @property
    def table_name(self) -> str:
        return self.table.table_name

    def grant_router(self, grantee: iam.IGrantable) -> iam.Grant:
        return self.table.grant(grantee, *ROUTER_ACTIONS)
