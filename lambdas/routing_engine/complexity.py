"""Compatibility wrapper: the prompt complexity score is now ``routing_engine.scorer``.

``complexity_score(text)`` and ``complexity_features(text)`` keep working for old callers: they score
``text`` as the only user message of a request (split into instruction and pasted context by
``scorer.split_prompt``, as the router does) with the bundled scorer.  New code should use
``scorer.bundled()`` (or the route's scorer) with ``split_prompt`` directly.  The old feature set, its
``complexity_weights.json`` and ``ComplexityModel`` are retired (a spec names its feature set; see
``scorer.FEATURE_SET``).
"""
from __future__ import annotations

from dataclasses import dataclass

from routing_engine import scorer as _scorer

__all__ = ["FEATURE_NAMES", "complexity_features", "complexity_score"]

FEATURE_NAMES: tuple[str, ...] = _scorer.DENSE_FEATURES


@dataclass(frozen=True, slots=True)
class _UserTurn:
    role: str
    parts: tuple[tuple[str, object], ...]


def _split(text: str) -> tuple[str, tuple[str, ...]]:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return _scorer.split_prompt([_UserTurn("user", (("text", text),))])


def complexity_score(text: str) -> float:
    """Complexity in [0, 1] of ``text`` (one user turn) under the bundled scorer."""
    instruction, context = _split(text)
    return _scorer.bundled().score_text(instruction, context)


def complexity_features(text: str) -> dict[str, float]:
    """Named dense features of ``text`` (one user turn) and the bundled score, for traces and debugging."""
    instruction, context = _split(text)
    v = _scorer.vectorize(instruction, context)
    out = {n: round(x, 6) for n, x in zip(_scorer.DENSE_FEATURES, v.dense)}
    out["score"] = round(_scorer.bundled().score(v), 6)
    return out
