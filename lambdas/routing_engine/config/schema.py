"""The JSON Schemas AppConfig's validators enforce, generated from the same models the router validates with.

AppConfig validates with JSON Schema draft-04 and caps a validator at 32,768 characters; pydantic writes
draft 2020-12. Cross-references (a route naming a model that exists) are beyond JSON Schema: the Lambda
validator checks them with the models themselves.
"""

from __future__ import annotations

from routing_engine.config.flags import FailoverFlags
from routing_engine.config.learned import LearnedScorers
from routing_engine.config.routing import RoutingConfig

DRAFT_04 = "http://json-schema.org/draft-04/schema#"


def routing_json_schema() -> dict:
    """The schema of the `routing` profile."""
    return _draft4(RoutingConfig.model_json_schema(by_alias=True), "Model router routing configuration")


def flags_json_schema() -> dict:
    """The schema of the `failover-flags` profile."""
    return _draft4(FailoverFlags.model_json_schema(by_alias=True), "Model router failover flags")


def learned_json_schema() -> dict:
    """The schema of the `learned-scorers` profile (written by the scorer trainer)."""
    return _draft4(LearnedScorers.model_json_schema(by_alias=True), "Model router learned scorers")


def _draft4(schema: dict, title: str) -> dict:
    """Rewrite pydantic's 2020-12 output as draft-04.

    Defaults stay (the AppConfig console shows them to whoever edits the document); titles go, as they only
    repeat the field names and cost characters of the validator's limit.
    """

    def walk(node):
        if isinstance(node, dict):
            node = _closed_keys(node)
            out = {}
            for key, value in node.items():
                if key == "title":
                    continue
                if key == "default":  # a value, not a schema: keep it as it is
                    out[key] = value
                elif key == "$ref":
                    out[key] = value.replace("#/$defs/", "#/definitions/")
                elif key == "const":
                    out["enum"] = [value]
                elif key == "prefixItems":  # a fixed-length tuple: draft-04 spells it as a list of `items`
                    out["items"] = walk(value)
                elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
                    out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
                    out[key] = True
                elif key == "$defs":
                    out["definitions"] = {k: walk(v) for k, v in value.items()}
                elif key == "properties":
                    out[key] = {k: walk(v) for k, v in value.items()}
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    converted = walk(schema)
    return {"$schema": DRAFT_04, "title": title, **converted}


def _closed_keys(node: dict) -> dict:
    """A mapping with an enumerated key set (`dict[Literal[...], X]`: `propertyNames`, which draft-04 lacks and would
    ignore) spelled as draft-04 can check it: a property per allowed key, no other keys."""
    names = node.get("propertyNames")
    if not (isinstance(names, dict) and "enum" in names and isinstance(node.get("additionalProperties"), dict)):
        return node
    closed = {k: v for k, v in node.items() if k not in ("propertyNames", "additionalProperties")}
    closed["properties"] = dict.fromkeys(names["enum"], node["additionalProperties"])
    closed["additionalProperties"] = False
    return closed
