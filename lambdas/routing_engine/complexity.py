"""Compatibility wrapper: the prompt complexity score is now ``routing_engine.scorer``.

``complexity_score(text)`` and ``complexity_features(text)`` keep working for old callers: they score
``text`` as the only user message of a request (split into instruction and pasted context by
``scorer.split_prompt``, as the router does) with the bundled scorer.  New code should use
``scorer.bundled()`` (or the route's scorer) with ``split_prompt`` directly.  The old feature set, its
``complexity_weights.json`` and ``ComplexityModel`` are retired (a spec names its feature set; see
``scorer.FEATURE_SET``).
"""

from __future__ import annotations

from routing_engine import scorer as _scorer
from routing_engine.features import Message

__all__ = ["FEATURE_NAMES", "complexity_features", "complexity_score", "split_text"]

FEATURE_NAMES: tuple[str, ...] = _scorer.DENSE_FEATURES


def split_text(text: str) -> tuple[str, tuple[str, ...]]:
    """(instruction, context) of a request whose only message is this user turn, as the router splits it."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return _scorer.split_prompt([Message("user", (("text", text),))])


def complexity_score(text: str) -> float:
    """Complexity in [0, 1] of ``text`` (one user turn) under the bundled scorer."""
    instruction, context = split_text(text)
    return _scorer.bundled().score_text(instruction, context)


def complexity_features(text: str) -> dict[str, float]:
    """Named dense features of ``text`` (one user turn) and the bundled score, for traces and debugging."""
    instruction, context = split_text(text)
    v = _scorer.vectorize(instruction, context)
    out = {n: round(x, 6) for n, x in zip(_scorer.DENSE_FEATURES, v.dense)}
    out["score"] = round(_scorer.bundled().score(v), 6)
    return out
