"""The weights of a complexity scorer as the configuration carries them (`scorers` in the routing profile).

Only their shape is checked here; `routing_engine.scorer.Scorer.from_spec` checks them in full when the
configuration is parsed (routing_engine.config.checks).
"""

from __future__ import annotations

from pydantic import Field

from routing_engine.config.base import StrictModel


class DenseWeights(StrictModel):
    names: tuple[str, ...] = Field(min_length=1, description="Feature names, in the scorer's order")
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]


class HashedWeights(StrictModel):
    buckets: int = Field(ge=1)
    coef: tuple[tuple[int, float], ...] = Field(default=(), description="Sparse [bucket, weight] pairs")


class ScorerSpec(StrictModel):
    """Weights of a complexity scorer (what routing_engine.scorer.Scorer.spec() writes); checked in full by
    Scorer.from_spec when the configuration is parsed."""

    version: str = Field(min_length=1, max_length=128, description="Shown as routing.scorer_version")
    feature_set: str = Field(min_length=1, max_length=32, description="The feature code the weights were fit for")
    intercept: float = 0.0
    dense: DenseWeights
    hashed: HashedWeights | None = Field(default=None, description="Weights of hashed word features; default none")
    meta: dict = Field(default_factory=dict, description="Free facts about the training (labels, date, report)")
