"""auth_mode=iam: SigV4 on every method, no API key, no usage plan."""

from tests.infra.helpers import EXPECTED_ROUTES, method_routes, resources, router_function


def test_every_route_requires_iam_authorization(iam_app):
    routes = method_routes(iam_app.raw)

    assert set(routes) == EXPECTED_ROUTES
    for props in routes.values():
        assert props["AuthorizationType"] == "AWS_IAM"
        assert not props.get("ApiKeyRequired", False)


def test_no_api_key_or_usage_plan(iam_app):
    iam_app.template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    iam_app.template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    assert "ApiKeyId" not in iam_app.raw["Outputs"]


def test_router_is_told_the_auth_mode(iam_app):
    function = router_function(iam_app.raw)

    assert function["Properties"]["Environment"]["Variables"]["AUTH_MODE"] == "iam"
    assert function["Properties"]["Environment"]["Variables"]["STAGE"] == "iamtest"


def test_stage_still_throttled_and_logged(iam_app):
    (stage,) = resources(iam_app.raw, "AWS::ApiGateway::Stage").values()

    assert stage["Properties"]["StageName"] == "iamtest"
    assert "AccessLogSetting" in stage["Properties"]
    assert stage["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == 50
