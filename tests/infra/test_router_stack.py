"""The synthesized stack, as cdk.json configures it (auth_mode=api_key)."""

import json

from aws_cdk.assertions import Match

from routing_engine.config import parse_routing_config, resolve_routing_document, routing_json_schema
from stacks.bedrock_iam import merge_grants, model_grant
from stacks.lambda_asset import find_bytecode_compiler
from stacks.settings import REPO_ROOT
from tests.infra.helpers import (
    EXPECTED_ROUTES,
    as_list,
    method_routes,
    policy_statements,
    render,
    resources,
    role_id_of,
    role_statements,
    router_function,
)

ROUTING_FILE = REPO_ROOT / "config" / "routing.json"
DEPLOYED_ROUTING, _ = resolve_routing_document(ROUTING_FILE.read_bytes(), region=None)
TOKENS = {"region": "${AWS::Region}", "account": "${AWS::AccountId}", "partition": "${AWS::Partition}"}


def _bedrock_statements(raw):
    """The router's Bedrock grants (the labeller's own, Converse only, are tested in test_label_loop)."""
    return [
        s
        for s in role_statements(raw, role_id_of(router_function(raw)))
        if any(a.startswith("bedrock:") for a in as_list(s["Action"]))
    ]


# --- IAM ---------------------------------------------------------------------------------------


def test_bedrock_invoke_is_scoped_to_the_configured_models(api_key_app):
    # Given the bundled routing configuration
    config = parse_routing_config(ROUTING_FILE.read_bytes())
    expected = merge_grants(
        model_grant(m.model_id, **{**TOKENS, **({"region": m.region} if m.region else {})})
        for m in config.models.values()
    )

    # When the stack is synthesized
    statements = _bedrock_statements(api_key_app.raw)

    # Then the only Bedrock actions are the two invoke actions (Converse and ConverseStream authorise as these),
    # and their resources are exactly the models' ARNs
    assert {a for s in statements for a in as_list(s["Action"])} == {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    }
    for statement in statements:  # every statement that grants one grants the other: no model streams-only
        assert set(as_list(statement["Action"])) == {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
    granted = {render(r, api_key_app.raw) for s in statements for r in as_list(s["Resource"])}
    assert granted == set(expected.resources) | set(expected.via_profile)
    assert "*" not in granted


def test_region_wildcard_foundation_models_only_through_our_inference_profiles(api_key_app):
    config = parse_routing_config(ROUTING_FILE.read_bytes())
    profiles = {model_grant(m.model_id, **TOKENS).profiles[0] for m in config.models.values()}

    for statement in _bedrock_statements(api_key_app.raw):
        rendered = [render(r) for r in as_list(statement["Resource"])]
        if any(":bedrock:*:" in r for r in rendered):
            condition = statement["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"]
            assert {render(c) for c in as_list(condition)} == profiles
        else:
            assert "Condition" not in statement


def test_router_reads_exactly_the_routing_learned_and_flags_profiles(api_key_app):
    raw = api_key_app.raw
    statements = [
        s
        for s in role_statements(raw, role_id_of(router_function(raw)))
        if {"appconfig:GetLatestConfiguration", "appconfig:StartConfigurationSession"} & set(as_list(s["Action"]))
    ]

    assert len(statements) == 1
    assert sorted(as_list(statements[0]["Action"])) == [
        "appconfig:GetLatestConfiguration",
        "appconfig:StartConfigurationSession",
    ]
    assert sorted(render(r, raw) for r in as_list(statements[0]["Resource"])) == sorted(
        [
            "arn:${AWS::Partition}:appconfig:${AWS::Region}:${AWS::AccountId}:application/${AWS::AppConfig::Application}"
            "/environment/${AWS::AppConfig::Environment}/configuration/${AWS::AppConfig::ConfigurationProfile}",
        ]
        * 3
    )
    names = {k: r["Properties"]["Name"] for k, r in resources(raw, "AWS::AppConfig::ConfigurationProfile").items()}
    read = {n for k, n in names.items() if f'"{k}"' in json.dumps(statements[0]["Resource"])}
    assert read == {"routing", "learned-scorers", "failover-flags"}


def test_no_wildcard_resource_except_xray_alarms_and_marketplace(api_key_app):
    for statement in policy_statements(api_key_app.raw):
        if "*" in as_list(statement["Resource"]):
            actions = set(as_list(statement["Action"]))
            assert actions in (
                {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
                {"cloudwatch:DescribeAlarms"},  # AppConfig's rollback-monitor role, as AWS documents it
                {"aws-marketplace:ViewSubscriptions"},  # read-only, no condition key (test_fresh_account)
                {"aws-marketplace:Subscribe"},
            )
            if actions == {"aws-marketplace:Subscribe"}:  # only to the catalog's products
                assert set(statement["Condition"]) == {"ForAnyValue:StringEquals"}


def test_only_api_gateways_account_role_has_a_managed_policy(api_key_app):
    for role in resources(api_key_app.raw, "AWS::IAM::Role").values():
        principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        if principal == {"Service": "apigateway.amazonaws.com"}:
            (arn,) = role["Properties"]["ManagedPolicyArns"]
            assert render(arn).endswith(":iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
        else:
            assert "ManagedPolicyArns" not in role["Properties"]


# --- Lambda ------------------------------------------------------------------------------------


def test_router_function_defaults(api_key_app):
    api_key_app.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "router/run.sh",  # the adapter's /opt/bootstrap execs it
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "MemorySize": 1024,
            "Timeout": 900,  # stream_timeout_seconds: streamed answers may run up to 15 minutes
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": {"Ref": Match.any_value()}},
        },
    )


POWERTOOLS_LAYER = "{{resolve:ssm:/aws/service/powertools/python/arm64/python3.13/%s}}"
WEB_ADAPTER_LAYER = "arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerArm64:%s"


def test_router_function_runs_behind_the_web_adapter_and_the_powertools_layer(api_key_app, cdk_context):
    function = router_function(api_key_app.raw)

    layers = [render(layer) for layer in function["Properties"]["Layers"]]

    # (no file overlaps: the adapter is /opt/bootstrap and /opt/extensions, Powertools /opt/python)
    assert sorted(layers) == sorted(
        [WEB_ADAPTER_LAYER % cdk_context["lwa_layer_version"], POWERTOOLS_LAYER % cdk_context["powertools_version"]]
    )


def test_every_other_function_uses_the_powertools_release_of_context_or_no_layer(api_key_app, cdk_context):
    for function in resources(api_key_app.raw, "AWS::Lambda::Function").values():
        props = function["Properties"]
        layers = [render(layer) for layer in props.get("Layers", [])]
        if props["Handler"] == "index.handler":  # the inline AppConfig cleanup: boto3 only
            assert layers == []
        elif props["Handler"] != "router/run.sh":
            assert layers == [POWERTOOLS_LAYER % cdk_context["powertools_version"]]


def test_the_deployed_powertools_release_is_the_one_the_tests_run_against(cdk_context):
    # requirements.txt pins what the tests import; the stack deploys the layer of the same release.
    import aws_lambda_powertools.shared.version as installed

    pins = dict(
        line.split("==")
        for line in (REPO_ROOT / "requirements.txt").read_text().split()
        if line.startswith("aws-lambda-powertools")
    )
    assert set(pins.values()) == {cdk_context["powertools_version"]} == {installed.VERSION}


def test_router_function_environment(api_key_app):
    function = router_function(api_key_app.raw)
    env = function["Properties"]["Environment"]["Variables"]

    assert {k: v for k, v in env.items() if isinstance(v, str)} == {
        "STAGE": "dev",
        "AUTH_MODE": "api_key",
        "CONFIG_MAX_AGE_SECONDS": "45",
        "FLAGS_MAX_AGE_SECONDS": "10",
        "POWERTOOLS_SERVICE_NAME": "model-router",
        "POWERTOOLS_METRICS_NAMESPACE": "ModelRouter",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "LOG_LEVEL": "INFO",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
        "AWS_LWA_INVOKE_MODE": "response_stream",
        "AWS_LWA_PORT": "8080",
        "AWS_LWA_READINESS_CHECK_PATH": "/ready",
        "ROUTER_MAX_REQUEST_SECONDS": "900",
    }
    assert render(env["APPCONFIG_APPLICATION_ID"], api_key_app.raw) == "${AWS::AppConfig::Application}"
    assert render(env["APPCONFIG_ENVIRONMENT_ID"], api_key_app.raw) == "${AWS::AppConfig::Environment}"
    assert render(env["APPCONFIG_PROFILE_ID"], api_key_app.raw) == "${AWS::AppConfig::ConfigurationProfile}"
    assert render(env["APPCONFIG_FLAGS_ENVIRONMENT_ID"], api_key_app.raw) == "${AWS::AppConfig::Environment}"
    assert env["APPCONFIG_FLAGS_ENVIRONMENT_ID"] != env["APPCONFIG_ENVIRONMENT_ID"]
    assert env["APPCONFIG_FLAGS_PROFILE_ID"] != env["APPCONFIG_PROFILE_ID"]
    assert "PROMPT_ROUTER_ARN" not in env  # no prompt_router context
    assert render(env["LABEL_QUEUE_URL"], api_key_app.raw) == "${AWS::SQS::Queue}"  # the label loop's samples


def test_timeouts_follow_stream_timeout_seconds(variant_app):
    # Given stream_timeout_seconds=120: the Lambda, every integration and the app's cap all move together
    function = router_function(variant_app.raw)
    assert function["Properties"]["Timeout"] == 120
    assert function["Properties"]["Environment"]["Variables"]["ROUTER_MAX_REQUEST_SECONDS"] == "120"
    for props in method_routes(variant_app.raw).values():
        assert props["Integration"]["TimeoutInMillis"] == 120_000


def test_lambda_asset_bundles_the_routing_configuration(api_key_app):
    function = router_function(api_key_app.raw)
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset_dir = api_key_app.outdir / f"asset.{asset_hash}"

    # the document as deployed: the catalog resolved for the stack's Region (none here: the default geography)
    assert (asset_dir / "router" / "bundled_routing.json").read_bytes() == DEPLOYED_ROUTING
    assert (asset_dir / "routing_engine" / "config" / "__init__.py").is_file()
    # bytecode only for the Lambda's Python (3.13), and only when the synth found one to compile with
    pycs = {p.name.split(".")[-2] for p in asset_dir.rglob("__pycache__/*.pyc")}
    assert pycs == ({"cpython-313"} if find_bytecode_compiler("3.13")[0] else set())


def test_lambda_asset_carries_the_start_script_executable_and_arm64_requirements(api_key_app):
    function = router_function(api_key_app.raw)
    asset_dir = api_key_app.outdir / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"

    assert (asset_dir / "router" / "run.sh").stat().st_mode & 0o777 == 0o755  # what the adapter execs
    assert (asset_dir / "starlette" / "__init__.py").is_file()
    assert (asset_dir / "uvicorn" / "__init__.py").is_file()
    assert (asset_dir / "re2").exists() or list(asset_dir.glob("_re2*.so"))  # routing_engine's regex engine
    assert not (asset_dir / "bin").exists()  # console scripts name this machine's interpreter
    compiled = [p.name for p in asset_dir.rglob("*.so")]
    assert all("aarch64" in name for name in compiled), compiled  # arm64 wheels, not this machine's


def test_every_log_group_has_the_context_retention(api_key_app):
    groups = resources(api_key_app.raw, "AWS::Logs::LogGroup")

    # router, failover controller, the two config validators (routing, learned scorers), AppConfig cleanup, API
    # access logs, labeller, scorer trainer
    assert len(groups) == 8
    assert {g["Properties"].get("RetentionInDays") for g in groups.values()} == {30}


# --- API Gateway -------------------------------------------------------------------------------


def test_api_is_regional(api_key_app):
    api_key_app.template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}}
    )


def test_every_route_is_a_lambda_proxy_that_requires_an_api_key(api_key_app):
    routes = method_routes(api_key_app.raw)

    assert set(routes) == EXPECTED_ROUTES
    for props in routes.values():
        assert props["ApiKeyRequired"] is True
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert props["Integration"]["IntegrationHttpMethod"] == "POST"


def test_every_route_streams_through_invoke_with_response_stream(api_key_app):
    raw = api_key_app.raw
    function_id = [
        k for k, f in resources(raw, "AWS::Lambda::Function").items() if f["Properties"]["Handler"] == "router/run.sh"
    ][0]

    for (method, path), props in method_routes(raw).items():
        integration = props["Integration"]
        assert integration["ResponseTransferMode"] == "STREAM", (method, path)
        assert integration["TimeoutInMillis"] == 900_000  # API Gateway's maximum for streamed responses
        uri = render(integration["Uri"], raw)
        assert uri == (
            "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2021-11-15/functions/"
            f"${{GetAtt:{function_id}.Arn}}/response-streaming-invocations"
        )


def test_api_gateway_may_invoke_the_router_for_every_route_and_nothing_else(api_key_app):
    # InvokeWithResponseStream is authorised as lambda:InvokeFunction (Lambda API reference).
    raw = api_key_app.raw
    function_id = [
        k for k, f in resources(raw, "AWS::Lambda::Function").items() if f["Properties"]["Handler"] == "router/run.sh"
    ][0]
    permissions = [
        p["Properties"]
        for p in resources(raw, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]

    assert len(permissions) == len(EXPECTED_ROUTES)
    for permission in permissions:
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
        source = render(permission["SourceArn"], raw)
        assert source.startswith("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:")
        assert (
            "/${AWS::ApiGateway::Stage}/" in source
        )  # the stage's methods, not the test-invoke path (/test-invoke-stage/)


def test_a_fresh_account_gets_api_gateways_cloudwatch_role_and_keeps_it(api_key_app):
    raw = api_key_app.raw
    (account,) = resources(raw, "AWS::ApiGateway::Account").values()
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = raw["Resources"][role_id]

    assert account["DeletionPolicy"] == "Retain" and role["DeletionPolicy"] == "Retain"
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    (stage_id,) = resources(raw, "AWS::ApiGateway::Stage")
    assert [k for k in raw["Resources"] if raw["Resources"][k]["Type"] == "AWS::ApiGateway::Account"][0] in (
        raw["Resources"][stage_id].get("DependsOn", [])
    )


def test_an_account_that_manages_the_role_itself_can_opt_out(variant_app):
    assert not resources(variant_app.raw, "AWS::ApiGateway::Account")


def test_stage_has_json_access_logs_throttling_and_tracing(api_key_app):
    api_key_app.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "dev",
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
                "Format": Match.any_value(),
            },
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            "ThrottlingRateLimit": 50,
                            "ThrottlingBurstLimit": 100,
                        }
                    )
                ]
            ),
        },
    )
    (stage,) = resources(api_key_app.raw, "AWS::ApiGateway::Stage").values()
    log_format = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "apiKeyId", "integrationLatency"} <= set(log_format)


def test_api_key_is_bound_to_a_throttled_usage_plan(api_key_app):
    template = api_key_app.template
    template.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": 50, "BurstLimit": 100},
            "ApiStages": [Match.object_like({"Stage": Match.any_value()})],
        },
    )
    template.has_resource_properties("AWS::ApiGateway::UsagePlanKey", {"KeyType": "API_KEY"})


# --- AppConfig ---------------------------------------------------------------------------------


def test_routing_profile_validator_is_the_pydantic_schema(api_key_app):
    (profile,) = [
        p
        for p in resources(api_key_app.raw, "AWS::AppConfig::ConfigurationProfile").values()
        if p["Properties"]["Name"] == "routing"
    ]
    props = profile["Properties"]

    assert (props["Name"], props["Type"], props["LocationUri"]) == ("routing", "AWS.Freeform", "hosted")
    schema_validator, lambda_validator = props["Validators"]
    assert schema_validator["Type"] == "JSON_SCHEMA"
    assert json.loads(schema_validator["Content"]) == routing_json_schema()
    assert len(schema_validator["Content"]) <= 32_768
    assert lambda_validator["Type"] == "LAMBDA"


def test_routing_profile_is_also_validated_by_the_routers_own_parser(api_key_app):
    raw = api_key_app.raw
    (profile,) = [
        p
        for p in resources(raw, "AWS::AppConfig::ConfigurationProfile").values()
        if p["Properties"]["Name"] == "routing"
    ]
    (lambda_validator,) = [v for v in profile["Properties"]["Validators"] if v["Type"] == "LAMBDA"]
    function_id = lambda_validator["Content"]["Fn::GetAtt"][0]
    function = raw["Resources"][function_id]["Properties"]

    assert function["Handler"] == "config_validator.handler.lambda_handler"
    assert function["Timeout"] <= 15
    (permission,) = [
        p["Properties"]
        for p in resources(raw, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert (permission["Action"], permission["Principal"]) == ("lambda:InvokeFunction", "appconfig.amazonaws.com")
    # The flags profile keeps its JSON Schema only (the controller writes it; its schema is complete).
    (flags_profile,) = [
        p
        for p in resources(raw, "AWS::AppConfig::ConfigurationProfile").values()
        if p["Properties"]["Name"] == "failover-flags"
    ]
    assert [v["Type"] for v in flags_profile["Properties"]["Validators"]] == ["JSON_SCHEMA"]


def test_hosted_configuration_is_the_routing_file_as_deployed(api_key_app):
    api_key_app.template.has_resource_properties(
        "AWS::AppConfig::HostedConfigurationVersion",
        {"Content": DEPLOYED_ROUTING.decode(), "ContentType": "application/json"},
    )


def test_initial_configuration_is_deployed_with_the_context_strategy(api_key_app):
    template = api_key_app.template
    template.has_resource_properties(
        "AWS::AppConfig::DeploymentStrategy",
        {"DeploymentDurationInMinutes": 1, "GrowthFactor": 20, "GrowthType": "LINEAR", "FinalBakeTimeInMinutes": 1},
    )
    template.has_resource_properties("AWS::AppConfig::Environment", {"Name": "dev"})
    template.has_resource_properties(
        "AWS::AppConfig::Deployment",
        {
            "ConfigurationVersion": Match.any_value(),
            "EnvironmentId": {"Ref": Match.any_value()},
            "DeploymentStrategyId": {"Ref": Match.any_value()},
        },
    )


# --- Outputs -----------------------------------------------------------------------------------


def test_outputs(api_key_app):
    outputs = api_key_app.raw["Outputs"]

    for name in (
        "ApiUrl",
        "ApiKeyId",
        "AppConfigApplicationId",
        "AppConfigEnvironmentId",
        "AppConfigProfileId",
        "LabelQueueUrl",
        "LabelDeadLetterQueueUrl",
        "LabelsTableName",
        "ScorerTrainerFunctionName",
    ):
        assert name in outputs, name
    assert render(outputs["ApiKeyId"]["Value"], api_key_app.raw) == "${AWS::ApiGateway::ApiKey}"
    assert render(outputs["AppConfigProfileId"]["Value"], api_key_app.raw) == "${AWS::AppConfig::ConfigurationProfile}"
    assert render(outputs["ApiUrl"]["Value"]).startswith("https://")


def test_a_stack_deployed_before_keeps_updating_the_bedrock_policy_is_not_retyped_in_place(api_key_app):
    # Earlier versions had an inline AWS::IAM::Policy under this logical id; CloudFormation refuses to change a
    # resource's type in an update, so the managed policies that replaced it must use new ids.
    previous = api_key_app.raw["Resources"].get("ModelAccessPolicy2E8025FC")
    assert previous is None or previous["Type"] == "AWS::IAM::Policy"
