"""Reading a configuration document: JSON that json.loads would accept silently but must not reach traffic
(duplicate keys, non-finite numbers) is refused first, then the pydantic model validates it; every problem is
one ConfigError whose message names the field."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from routing_engine.config.flags import FailoverFlags
from routing_engine.config.learned import LearnedScorers
from routing_engine.config.routing import RoutingConfig

_Document = TypeVar("_Document", bound=BaseModel)


class ConfigError(ValueError):
    """A routing configuration that must not reach traffic. `str()` names the field."""


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def content_version(raw: bytes) -> str:
    """A short, stable fingerprint of a configuration document."""
    return hashlib.sha256(raw).hexdigest()[:12]


def parse_routing_config(raw: bytes | str, *, region: str | None = None, resolve: bool = True) -> RoutingConfig:
    """Parse and validate a routing configuration document; raise ConfigError naming the field.

    `region`: the Region the models are called from; entries with an `inference_profile` get that Region's profile
    and pinned profile ids that cannot be called from it are refused (None: no Region constraint, the default
    geography). `resolve=False`: an entry that still names a foundation model with `inference_profile` is refused
    (what the routers read must name its profile: the AppConfig validator parses that way)."""
    return _parse(RoutingConfig, raw, context={"region": region, "resolve": resolve})


def resolve_routing_document(raw: bytes, *, region: str | None) -> tuple[bytes, RoutingConfig]:
    """The document as the routers of `region` must read it, and its configuration: every entry with an
    `inference_profile` names the profile for that Region (the rest of the document, formatting included, is
    kept when nothing needed resolving). The result parses with `resolve=False`, as the AppConfig validator reads
    it. Raises ConfigError naming the field, e.g. a model no profile of which serves the Region."""
    config = parse_routing_config(raw, region=region)
    data = json.loads(raw)
    changed = False
    for key, spec in config.models.items():
        entry = data["models"][key]
        if entry.get("model_id") != spec.model_id:
            entry["model_id"] = spec.model_id
            changed = True
    if not changed:
        return raw, config
    resolved = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return resolved, parse_routing_config(resolved, region=region, resolve=False)


def parse_failover_flags(raw: bytes | str) -> FailoverFlags:
    return _parse(FailoverFlags, raw)


def parse_learned_scorers(raw: bytes | str) -> LearnedScorers:
    """Parse and validate a `learned-scorers` document (every scorer compiled); raise ConfigError naming the field.
    Whether each entry fits the routing configuration is apply_learned's business: a misfit is ignored there."""
    return _parse(LearnedScorers, raw)


class _Object(dict):
    """A JSON object that remembers the keys it had more than once (json keeps the last one silently)."""

    __slots__ = ("duplicates",)
    duplicates: tuple[str, ...] | list[str]


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = _Object(pairs)
    obj.duplicates = (
        () if len(obj) == len(pairs) else sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    )
    return obj


def _document_problems(node, path: str = ""):
    """Duplicate keys and non-finite numbers (`Infinity`, `NaN`, `1e999`), each named by its path. A leaf's path
    is only spelled out when it is wrong: a scorer's weights are thousands of numbers."""
    if isinstance(node, dict):
        for key in getattr(node, "duplicates", ()):
            yield f"{path + '.' if path else ''}{key}: duplicate key (JSON keeps only the last value)"
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                yield from _document_problems(value, f"{path}.{key}" if path else str(key))
            elif isinstance(value, float) and not math.isfinite(value):
                yield f"{path + '.' if path else ''}{key}: {value} is not a finite number"
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                yield from _document_problems(value, f"{path}[{i}]")
            elif isinstance(value, float) and not math.isfinite(value):
                yield f"{path}[{i}]: {value} is not a finite number"


def _parse(model: type[_Document], raw: bytes | str, context: dict | None = None) -> _Document:
    try:
        data = json.loads(raw, object_pairs_hook=_object)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("the document must be a JSON object")
    try:
        problems = list(_document_problems(data))
    except RecursionError:
        raise ConfigError("the document is nested too deeply") from None
    if problems:
        raise ConfigError("; ".join(problems))
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from exc
