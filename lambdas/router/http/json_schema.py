"""Is this a JSON Schema? The shape check of a tool's input schema or a structured answer's schema.

A caller's schema goes to Bedrock as it is; Claude on Bedrock refuses one that does not match the JSON Schema
draft 2020-12 meta-schema ("tools.0.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft
2020-12", a ValidationException). The router refuses it first, with a 400 that names the keyword, and so does
everything else that reads a schema (the simulated backend's example generator). This checks what the 2020-12
meta-schema says about each keyword's JSON type (its core, applicator, unevaluated, validation, meta-data and
content vocabularies, and the `definitions`/`dependencies` it keeps for older drafts); unknown keywords are
allowed, as the meta-schema allows them. It does not compile `pattern`s (ECMA-262 regular expressions, which
Python's `re` does not fully read) or resolve `$ref`s. Iterative: a schema nested to the body's depth limit
cannot reach Python's recursion limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

SIMPLE_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})

# keyword -> what its value must be
_SCHEMA: tuple[str, ...] = (
    "additionalProperties",
    "contains",
    "contentSchema",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
)
_SCHEMA += ("then", "unevaluatedItems", "unevaluatedProperties")
_SCHEMA_MAP = ("$defs", "definitions", "dependentSchemas", "patternProperties", "properties")
_SCHEMA_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")
_NUMBER = ("exclusiveMaximum", "exclusiveMinimum", "maximum", "minimum")
_COUNT: tuple[str, ...] = (
    "maxContains",
    "maxItems",
    "maxLength",
    "maxProperties",
    "minContains",
    "minItems",
    "minLength",
)
_COUNT += ("minProperties",)
_STRING: tuple[str, ...] = (
    "$comment",
    "$dynamicRef",
    "$recursiveRef",
    "$ref",
    "$schema",
    "contentEncoding",
    "contentMediaType",
)
_STRING += ("description", "format", "pattern", "title")
_ANCHOR = re.compile(r"[A-Za-z_][-A-Za-z0-9._]*")
_BOOLEAN = ("deprecated", "readOnly", "uniqueItems", "writeOnly")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: object) -> bool:
    """A non-negative integer as JSON Schema means it: 2.0 is an integer too."""
    return _is_number(value) and value >= 0 and float(value).is_integer()  # type: ignore[operator,arg-type]


def _is_unique_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value) and len(set(value)) == len(value)


def _is_type(value: object) -> bool:
    if isinstance(value, str):
        return value in SIMPLE_TYPES
    return isinstance(value, list) and bool(value) and _is_unique_strings(value) and set(value) <= SIMPLE_TYPES


_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    **dict.fromkeys(_NUMBER, (_is_number, "must be a number")),
    **dict.fromkeys(_COUNT, (_is_count, "must be a non-negative integer")),
    **{k: (lambda v: isinstance(v, str), "must be a string") for k in _STRING},
    **{k: (lambda v: isinstance(v, bool), "must be true or false") for k in _BOOLEAN},
    **{
        k: (lambda v: isinstance(v, str) and _ANCHOR.fullmatch(v) is not None, "must be a name (a letter or _ first)")
        for k in ("$anchor", "$dynamicAnchor", "$recursiveAnchor")
    },
    "$id": (lambda v: isinstance(v, str) and "#" not in v.rstrip("#"), "must be a URI without a fragment"),
    "multipleOf": (lambda v: _is_number(v) and v > 0, "must be a number greater than 0"),  # type: ignore[operator]
    "type": (_is_type, f"must be one of {', '.join(sorted(SIMPLE_TYPES))}, or a non-empty list of them, each once"),
    "required": (_is_unique_strings, "must be a list of property names, each once"),
    "enum": (lambda v: isinstance(v, list), "must be a list"),
    "examples": (lambda v: isinstance(v, list), "must be a list"),
    "$vocabulary": (
        lambda v: isinstance(v, dict) and all(isinstance(x, bool) for x in v.values()),
        "must map URIs to true or false",
    ),
    "dependentRequired": (
        lambda v: isinstance(v, dict) and all(_is_unique_strings(x) for x in v.values()),
        "must map each property to a list of property names, each once",
    ),
}


def schema_problem(schema: object) -> str | None:
    """Why `schema` is not a JSON Schema (draft 2020-12), naming where (`properties.city.type: must be ...`);
    None when it is one."""
    for path, node in _schemas(schema):
        if not isinstance(node, dict | bool):
            tuple_hint = " (a list of item schemas is prefixItems)" if path.endswith("items") else ""
            return f"{path or 'the schema'}: must be a schema (a JSON object, or true or false){tuple_hint}"
        if isinstance(node, bool):
            continue
        for key, value in node.items():
            check = _CHECKS.get(key)
            if check is not None and not check[0](value):
                return f"{_at(path, key)}: {check[1]}"
            if key in _SCHEMA_MAP and not isinstance(value, dict):
                return f"{_at(path, key)}: must be an object whose values are schemas"
            if key in _SCHEMA_LIST and not (isinstance(value, list) and value):
                return f"{_at(path, key)}: must be a non-empty list of schemas"
            if key == "dependencies" and not isinstance(value, dict):
                return f"{_at(path, key)}: must be an object"
        for key, value in (node.get("dependencies") or {}).items():
            if not isinstance(value, dict | bool) and not _is_unique_strings(value):
                return f"{_at(path, 'dependencies')}.{key}: must be a schema or a list of property names, each once"
    return None


def _schemas(root: object) -> Iterator[tuple[str, object]]:
    """Every subschema of `root` with its path, the root first (depth-first, without recursion)."""
    stack: list[tuple[str, object]] = [("", root)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if not isinstance(node, dict):
            continue
        children: list[tuple[str, object]] = []
        for key, value in node.items():
            if key in _SCHEMA:
                children.append((_at(path, key), value))
            elif key in _SCHEMA_MAP and isinstance(value, dict):
                children.extend((f"{_at(path, key)}.{name}", sub) for name, sub in value.items())
            elif key in _SCHEMA_LIST and isinstance(value, list):
                children.extend((f"{_at(path, key)}[{i}]", sub) for i, sub in enumerate(value))
            elif key == "dependencies" and isinstance(value, dict):
                children.extend(
                    (f"{_at(path, key)}.{name}", sub) for name, sub in value.items() if isinstance(sub, dict | bool)
                )
        stack.extend(reversed(children))


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
