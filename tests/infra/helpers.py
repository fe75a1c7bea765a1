"""Read CloudFormation values back into strings so tests can compare ARNs, not logical IDs."""

from __future__ import annotations

from typing import Any

EXPECTED_ROUTES = frozenset(
    {
        ("POST", "/v1/route"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/{model}"),
        ("GET", "/v1/health"),
        ("GET", "/v1/usage"),
    }
)

PSEUDO = {"AWS::Partition": "${AWS::Partition}", "AWS::Region": "${AWS::Region}", "AWS::AccountId": "${AWS::AccountId}"}


def render(value: Any, template: dict | None = None) -> str:
    """Fn::Join / Ref / GetAtt as a flat string; Ref to a resource becomes ${<Type>}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(render(p, template) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        if ref in PSEUDO:
            return PSEUDO[ref]
        if template is not None and ref in template["Resources"]:
            return "${" + template["Resources"][ref]["Type"] + "}"
        return "${" + ref + "}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${GetAtt:" + ".".join(value["Fn::GetAtt"]) + "}"
    raise AssertionError(f"cannot render {value!r}")


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def resources(raw: dict, type_: str) -> dict[str, dict]:
    return {k: v for k, v in raw["Resources"].items() if v["Type"] == type_}


def policy_statements(raw: dict) -> list[dict]:
    out = []
    for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for res in resources(raw, type_).values():
            out.extend(res["Properties"]["PolicyDocument"]["Statement"])
    for res in resources(raw, "AWS::IAM::Role").values():
        for policy in res["Properties"].get("Policies", []):
            out.extend(policy["PolicyDocument"]["Statement"])
    return out


def method_routes(raw: dict) -> dict[tuple[str, str], dict]:
    """(HTTP method, /path) -> method properties, by walking the resource tree."""
    api_resources = resources(raw, "AWS::ApiGateway::Resource")

    def path_of(ref: Any) -> str:
        if isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in api_resources:
            props = api_resources[ref["Ref"]]["Properties"]
            return path_of(props["ParentId"]) + "/" + props["PathPart"]
        return ""  # the API's root resource (Fn::GetAtt RootResourceId)

    return {
        (m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"])): m["Properties"]
        for m in resources(raw, "AWS::ApiGateway::Method").values()
    }


def function_with_handler(raw: dict, handler: str) -> dict:
    (function,) = [f for f in resources(raw, "AWS::Lambda::Function").values() if f["Properties"]["Handler"] == handler]
    return function


def router_function(raw: dict) -> dict:
    return function_with_handler(raw, "router/run.sh")


def controller_function(raw: dict) -> dict:
    return function_with_handler(raw, "failover_controller.handler.lambda_handler")


def alarms_by_name(raw: dict) -> dict[str, dict]:
    out = {}
    for type_ in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
        for res in resources(raw, type_).values():
            out[res["Properties"]["AlarmName"]] = res["Properties"]
    return out


def role_id_of(function: dict) -> str:
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def role_statements(raw: dict, role_id: str) -> list[dict]:
    """Every statement a role carries: its inline policies, and the policies and managed policies attached to it."""
    out = [
        s for p in raw["Resources"][role_id]["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
    ]
    for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for res in resources(raw, type_).values():
            if {"Ref": role_id} in res["Properties"].get("Roles", []):
                out.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return out


def grants_by_action(raw: dict, statements: list[dict]) -> dict[str, set[str]]:
    """action -> the rendered resources some statement allows it on."""
    out: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            out.setdefault(action, set()).update(render(r, raw) for r in as_list(statement["Resource"]))
    return out
