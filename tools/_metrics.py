"""Routing metrics as defined in RouteLLM (Ong et al. 2024): moved to ``routing_engine.learning`` so the
label loop's trainer (a Lambda) uses the same code; re-exported here so old imports keep working."""

from __future__ import annotations

from routing_engine.learning import (
    NUM_BINS,
    apgr,
    bootstrap_ci,
    cpt,
    quantile_edges,
    route_metrics,
    routing_curve,
    threshold_for_share,
)

__all__ = [
    "NUM_BINS",
    "apgr",
    "bootstrap_ci",
    "cpt",
    "quantile_edges",
    "route_metrics",
    "routing_curve",
    "threshold_for_share",
]
