"""Budgets' infrastructure: the spend table, the router's access to it, its alarm and its dashboard widgets."""

from aws_cdk.assertions import Match

from tests.infra.helpers import as_list, render, resources, role_id_of, role_statements, router_function


def _spend_table(raw) -> tuple[str, dict]:
    # The spend table has a partition key only (the label loop's table also has a sort key).
    (table_id,) = [
        k
        for k, t in resources(raw, "AWS::DynamoDB::Table").items()
        if t["Properties"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    ]
    return table_id, raw["Resources"][table_id]


def test_the_spend_table_is_on_demand_encrypted_recoverable_and_expires_old_periods(api_key_app):
    api_key_app.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )
    _, table = _spend_table(api_key_app.raw)
    assert table["DeletionPolicy"] == "Delete"  # cdk destroy leaves nothing behind: counters are derived data


def test_the_router_may_only_add_to_and_read_spend_counters_of_its_own_table(api_key_app):
    raw = api_key_app.raw
    table_id, _ = _spend_table(raw)
    router_statements = role_statements(raw, role_id_of(router_function(raw)))
    dynamo = [s for s in router_statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert dynamo, "the router has no DynamoDB permission"
    actions = {a for s in dynamo for a in as_list(s["Action"])}
    assert actions == {"dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:GetItem"}
    for statement in dynamo:
        for resource in as_list(statement["Resource"]):
            assert render(resource, raw) in (f"${{GetAtt:{table_id}.Arn}}",), resource
    env = router_function(raw)["Properties"]["Environment"]["Variables"]
    assert env["SPEND_TABLE_NAME"] == {"Ref": table_id}


def test_a_failing_spend_store_raises_an_alarm(api_key_app):
    # Budgets fail open, so a broken store must be loud
    api_key_app.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "model-router-dev-spend-store-errors",
            "MetricName": "SpendStoreErrors",
            "Namespace": "ModelRouter",
            "Dimensions": Match.array_with([{"Name": "Store", "Value": "spend"}]),
        },
    )


def test_the_dashboard_shows_cost_per_tier_and_per_caller(api_key_app):
    (dashboard,) = resources(api_key_app.raw, "AWS::CloudWatch::Dashboard").values()
    body = render(dashboard["Properties"]["DashboardBody"], api_key_app.raw)
    assert "stats sum(cost_usd) as usd, count(*) as requests by tier" in body
    assert "by caller, tier" in body
    assert "BudgetRejected" in body and "SpendStoreErrors" in body
