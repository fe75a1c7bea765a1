"""Routing metrics as defined in RouteLLM (Ong et al. 2024, lm-sys/RouteLLM).

Matches ``routellm/evals/benchmarks.py`` + ``routellm/evals/evaluate.py``:

* thresholds = the 11 edges of ``pd.qcut(scores, 10)`` (linear-interpolated
  quantiles at 0%, 10%, ..., 100% of the scores);
* for every edge but the last, prompts with ``score >= edge`` go to the strong
  model; for the last edge (the maximum) ``score > edge`` (i.e. nobody);
* each point is (actual strong-call share, mean outcome); ties in the scores
  therefore move the share away from the nominal 10% steps, as in RouteLLM;
* APGR = (trapz(quality, share) - weak * span) / ((strong - weak) * span);
* CPT(x) = the strong-call share at which the curve first reaches
  PGR >= x, linearly interpolated between curve points (RouteLLM uses
  ``np.interp`` on the curve, which is the same thing when the curve is
  monotonic; ours stays well-defined when it is not).

Pure Python (no numpy) so it runs anywhere.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

NUM_BINS = 10


def quantile_edges(scores: Sequence[float], bins: int = NUM_BINS) -> list[float]:
    """Linear-interpolated quantiles at 0, 1/bins, ..., 1 (numpy/pandas default)."""
    s = sorted(scores)
    n = len(s)
    edges = []
    for i in range(bins + 1):
        pos = (n - 1) * i / bins
        lo = int(math.floor(pos))
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        edges.append(s[lo] + (s[hi] - s[lo]) * frac)
    return edges


def routing_curve(
    scores: Sequence[float],
    weak: Sequence[float],
    strong: Sequence[float],
    bins: int = NUM_BINS,
) -> list[tuple[float, float, float]]:
    """Return [(threshold, strong_share, quality)] sorted by strong_share."""
    n = len(scores)
    if n == 0:
        return []
    edges = quantile_edges(scores, bins)
    # Sort once; a threshold selects a suffix of the sorted order.
    order = sorted(range(n), key=lambda i: scores[i])
    sorted_scores = [scores[i] for i in order]
    # suffix sums of (strong - weak) gains
    gain_suffix = [0.0] * (n + 1)
    for k in range(n - 1, -1, -1):
        i = order[k]
        gain_suffix[k] = gain_suffix[k + 1] + (strong[i] - weak[i])
    weak_total = float(sum(weak))
    points = []
    for j, t in enumerate(edges):
        if j != len(edges) - 1:
            k = bisect.bisect_left(sorted_scores, t)  # first index with score >= t
        else:
            k = bisect.bisect_right(sorted_scores, t)  # first index with score > t
        share = (n - k) / n
        quality = (weak_total + gain_suffix[k]) / n
        points.append((t, share, quality))
    points.sort(key=lambda p: p[1])
    return points


def _trapz(ys: Sequence[float], xs: Sequence[float]) -> float:
    return sum((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1]) / 2.0 for i in range(1, len(xs)))


def route_metrics(
    scores: Sequence[float],
    weak: Sequence[float],
    strong: Sequence[float],
    bins: int = NUM_BINS,
) -> dict:
    """APGR, CPT(50%), CPT(80%) and the curve for one score vector."""
    n = len(scores)
    weak_acc = sum(weak) / n if n else float("nan")
    strong_acc = sum(strong) / n if n else float("nan")
    out: dict = {
        "n": n,
        "weak_quality": weak_acc,
        "strong_quality": strong_acc,
        "apgr": None,
        "cpt50": None,
        "cpt80": None,
    }
    if n == 0:
        return out
    pts = routing_curve(scores, weak, strong, bins)
    xs = [p[1] for p in pts]
    ys = [p[2] for p in pts]
    span = xs[-1] - xs[0]
    gap = strong_acc - weak_acc
    if span <= 0 or abs(gap) < 1e-12:
        return out
    auc = _trapz(ys, xs)
    out["apgr"] = (auc - weak_acc * span) / (gap * span)
    pgr = [(y - weak_acc) / gap for y in ys]
    out["cpt50"] = cpt(xs, pgr, 0.5)
    out["cpt80"] = cpt(xs, pgr, 0.8)
    out["curve"] = [
        {"threshold": t, "strong_share": x, "quality": y, "pgr": p}
        for (t, x, y), p in zip(pts, pgr)
    ]
    return out


def cpt(xs: Sequence[float], pgr: Sequence[float], target: float) -> float | None:
    """Smallest strong-call share whose (interpolated) PGR reaches ``target``."""
    if pgr and pgr[0] >= target:
        return xs[0]
    for i in range(1, len(xs)):
        if pgr[i] >= target:
            p0, p1 = pgr[i - 1], pgr[i]
            if p1 == p0:
                return xs[i]
            return xs[i - 1] + (xs[i] - xs[i - 1]) * (target - p0) / (p1 - p0)
    return None


def apgr(scores: Sequence[float], weak: Sequence[float], strong: Sequence[float]) -> float:
    """Convenience: APGR only (nan when undefined)."""
    v = route_metrics(scores, weak, strong)["apgr"]
    return float("nan") if v is None else v


def threshold_for_share(scores: Sequence[float], share: float) -> float:
    """Threshold t whose share of ``score >= t`` is closest to ``share``
    (ties between candidates go to the one with fewer strong calls).

    A share of 0 maps to a threshold 1e-4 above the top score (so it survives
    rounding down to 4 places)."""
    s = sorted(scores, reverse=True)
    n = len(s)
    if n == 0:
        return 1.0
    want = share * n
    best_err, best_t = want, s[0] + 1e-4  # "nobody" candidate
    i = 0
    while i < n:
        v = s[i]
        j = i
        while j < n and s[j] == v:
            j += 1
        err = abs(j - want)  # j prompts have score >= v
        if err < best_err - 1e-9:
            best_err, best_t = err, v
        i = j
    return best_t
