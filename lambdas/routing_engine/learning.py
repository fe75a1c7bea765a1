"""Fitting and judging routing scorers (pure Python, standard library only: it runs in a Lambda).

* :func:`fit_scorer` fits a :class:`routing_engine.scorer.Scorer` on feature vectors and soft targets
  ``t`` in [0, 1] (the probability that the strong model's answer is better; a tie is 0.5).
* :func:`target_from_verdicts` turns judge verdicts into such a target.
* The RouteLLM routing metrics (:func:`route_metrics`, :func:`apgr`, :func:`routing_curve`,
  :func:`threshold_for_share`), a seeded percentile bootstrap (:func:`bootstrap_ci`) and
  :func:`compare`, which says whether a candidate scorer beats the current one on labels, with a paired
  interval of the difference.

Model and loss
--------------
``score = sigmoid(b + sum_j c_j (x_j - mean_j) / scale_j + sum_k h_k v_k)`` over the dense features ``x``
(standardised) and the sparse hashed buckets ``v``.  The fit minimises the weighted soft-label
cross-entropy ``sum_i w_i CE(t_i, score_i)`` (weights normalised to mean 1, so the L2 strengths below are
in "rows": a strength of 10 weighs like ten rows of evidence) plus ``l2/2 |c - c0|^2`` and
``l2_hashed/2 |h - h0|^2``, where ``c0, h0`` are the ``prior`` scorer's weights (zero without one), under
the dense sign constraints (``c_j >= floor_j`` for a +1 feature, ``c_j <= -floor_j`` for -1) and caps
(``|c_j| <= cap_j``).  With a prior, its standardisation (mean, scale) is kept, so a few hundred labels
move a coefficient only as far as their evidence outweighs the pull back to the prior.  The intercept is
free.

Solver (block coordinate descent, deterministic, no randomness):

1. the intercept and the dense block take one projected Newton step (exact Hessian, Bertsekas'
   two-metric projection: a coefficient on its bound whose gradient pushes it out is held), with
   Armijo backtracking on the full loss;
2. every hashed bucket, in bucket order, takes one coordinate step ``-g / H`` with the curvature bound
   ``H = sum_i w_i v_ik^2 / 4 + l2_hashed`` (``p(1-p) <= 1/4``), which can never increase the loss;
3. the iteration's whole move is tried again, scaled by ``beta`` (doubled on success up to 16, halved on
   failure) and kept only if the loss falls: the two blocks trade off through correlated directions
   (common words against the intercept), which alternating steps follow slowly;

repeated until an iteration lowers the loss by less than ``tol`` (relative).  Why this and not L-BFGS or
plain gradient descent: the dense features are strongly correlated (characters, words, sentences), which
a Newton step handles in one go and first-order methods zig-zag on; the hashed part is sparse and heavily
regularised, so coordinate steps converge in a few passes at one visit per nonzero; and sign constraints
are exact projections in both blocks.  The problem is strictly convex, so the result is the unique
constrained optimum.  Cost: about 0.3 s per iteration on 9,280 rows with ~45 hashed nonzeros each,
~20 iterations; a dense-only fit converges in ~6 iterations (under a second).
"""

from __future__ import annotations

import bisect
import math
import operator
import random
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate, repeat
from typing import Any

from routing_engine import scorer as _scorer

__all__ = [
    "DEFAULT_L2",
    "DEFAULT_L2_HASHED",
    "DEFAULT_PRIOR_L2",
    "LearningError",
    "NUM_BINS",
    "apgr",
    "bootstrap_ci",
    "bootstrap_indices",
    "calibrate_threshold",
    "compare",
    "compare_scores",
    "cpt",
    "fit_scorer",
    "outcomes_from_targets",
    "percentile_interval",
    "quantile_edges",
    "route_metrics",
    "routing_curve",
    "target_from_verdicts",
    "threshold_for_share",
]

# L2 strengths, in rows of evidence (see the module docstring).  Without a prior, the dense coefficients
# are standardised and well determined by thousands of rows, so a light penalty suffices; a hashed bucket
# is one word-ish feature seen in a handful of prompts, so it needs a heavier one.  With a prior, the
# dense coefficients are pulled back to the prior's with DEFAULT_PRIOR_L2: a label's curvature is
# p(1 - p) <= 1/4 per standardised coefficient, so about 200-250 labels move the scorer halfway to what
# they alone would fit, and 2,000 labels about 90% of the way.
DEFAULT_L2 = 10.0
DEFAULT_L2_HASHED = 20.0
DEFAULT_PRIOR_L2 = 50.0
# The base scorer's logit as a feature (fit_scorer's ``base``): one well-determined coefficient, lightly held.
DEFAULT_L2_BASE = 1.0

NUM_BINS = 10


class LearningError(ValueError):
    """The training input cannot be fitted; the message says why, for a person."""


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------
def target_from_verdicts(verdicts: Sequence[float]) -> float:
    """Mean of judge verdicts: 1 = the strong model's answer is better, 0 = the weak one's, 0.5 = tie.

    Two verdicts with the answers in swapped order that disagree (1 and 0) cancel to 0.5: position bias
    is not evidence."""
    vals = list(verdicts)
    if not vals:
        raise LearningError("no verdicts")
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0.0 <= v <= 1.0:
            raise LearningError(f"a verdict must be a number in [0, 1], got {v!r}")
    return math.fsum(vals) / len(vals)


def outcomes_from_targets(targets: Sequence[float]) -> tuple[list[float], list[float]]:
    """A label with target t is the outcome pair (weak = 1 - t, strong = t) for the routing metrics."""
    ts = [float(t) for t in targets]
    return [1.0 - t for t in ts], ts


# --------------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------------
def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _softplus(z: float) -> float:
    if z > 0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


def _data_loss(z: Sequence[float], t: Sequence[float], w: Sequence[float]) -> float:
    # CE(t, sigmoid(z)) = softplus(z) - t z
    return math.fsum(wi * (_softplus(zi) - ti * zi) for zi, ti, wi in zip(z, t, w))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (``a`` is symmetric positive definite here)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        p = m[col][col]
        if abs(p) < 1e-15:
            continue
        for r in range(col + 1, n):
            f = m[r][col] / p
            if f:
                mr, mc = m[r], m[col]
                for k in range(col, n + 1):
                    mr[k] -= f * mc[k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        s = m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))
        x[r] = s / m[r][r] if abs(m[r][r]) > 1e-15 else 0.0
    return x


def _bounds(names: Sequence[str], signs: Any, floors: Any, caps: Any) -> tuple[list[float], list[float]]:
    """Per-coefficient [lo, hi] from signs (+1: c >= floor, -1: c <= -floor) and caps (|c| <= cap)."""

    def aligned(value: Any, default: Any, what: str) -> list:
        if value is None:
            return [default] * len(names)
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise LearningError(f"{what}: unknown dense feature(s) {', '.join(unknown)}")
            return [value.get(n, default) for n in names]
        vals = list(value)
        if len(vals) != len(names):
            raise LearningError(f"{what}: expected {len(names)} values, got {len(vals)}")
        return vals

    sg = [int(s) for s in aligned(signs, 0, "signs")]
    fl = [float(f) for f in aligned(floors, 0.0, "floors")]
    cp = [float(c) for c in aligned(caps, math.inf, "caps")]
    lo, hi = [], []
    for n, s, f, c in zip(names, sg, fl, cp):
        if s not in (-1, 0, 1):
            raise LearningError(f"signs: {n} must be -1, 0 or +1, got {s}")
        if f < 0 or not math.isfinite(f):
            raise LearningError(f"floors: {n} must be a finite number >= 0, got {f}")
        if c < 0 or math.isnan(c) or (s and c < f):
            raise LearningError(f"caps: {n} must be a number >= 0 and >= its floor, got {c}")
        lo.append(f if s > 0 else -c)
        hi.append(-f if s < 0 else c)
    return lo, hi


def _fit_arrays(
    dense_cols: list[list[float]],
    hashed_rows: Sequence[Sequence[tuple[int, float]]],
    t: list[float],
    w: list[float],
    *,
    l2: float | Sequence[float],
    l2_hashed: float,
    lo: list[float],
    hi: list[float],
    c0: list[float],
    h0: Mapping[int, float],
    b0: float | None,
    max_iter: int,
    tol: float,
) -> tuple[float, list[float], dict[int, float], dict]:
    """Minimise the loss of the module docstring over standardised dense columns and hashed rows.

    Returns (intercept, dense coefficients, hashed coefficients of buckets seen in the data, info)."""
    n = len(t)
    d = len(dense_cols)
    mul, add = operator.mul, operator.add
    l2v = [float(l2)] * d if isinstance(l2, int | float) else [float(x) for x in l2]  # per dense coefficient

    # Hashed columns: bucket -> (rows, values), in bucket order.
    cols_h: dict[int, tuple[list[int], list[float]]] = {}
    for i, row in enumerate(hashed_rows):
        for k, v in row:
            if v:
                entry = cols_h.get(k)
                if entry is None:
                    cols_h[k] = ([i], [v])
                else:
                    entry[0].append(i)
                    entry[1].append(v)
    buckets = sorted(cols_h)
    bound_h = {k: 0.25 * math.fsum(w[i] * v * v for i, v in zip(*cols_h[k])) + l2_hashed for k in buckets}
    # Per bucket: w_i v_ik (gathered against p) and sum_i w_i v_ik t_i, so a gradient is one C-level pass.
    wv_h = {k: [w[i] * v for i, v in zip(*cols_h[k])] for k in buckets}
    wvt_h = {k: math.fsum(x * t[i] for i, x in zip(cols_h[k][0], wv_h[k])) for k in buckets}
    exp = math.exp

    def project(c: list[float]) -> list[float]:
        return [min(h_, max(l_, x)) for x, l_, h_ in zip(c, lo, hi)]

    c = project(list(c0))
    h = {k: float(h0.get(k, 0.0)) for k in buckets}
    if b0 is None:
        tbar = math.fsum(map(mul, w, t)) / math.fsum(w)
        tbar = min(max(tbar, 1e-6), 1 - 1e-6)
        b = math.log(tbar / (1 - tbar))
    else:
        b = float(b0)

    # zh: the hashed part of every row's logit; z: the full logit.
    zh = [0.0] * n
    for k in buckets:
        hk = h[k]
        if hk:
            for i, v in zip(*cols_h[k]):
                zh[i] += hk * v

    def dense_logit(bb: float, cc: list[float]) -> list[float]:
        z = [bb] * n
        for j, cj in enumerate(cc):
            if cj:
                z = list(map(add, z, map(mul, dense_cols[j], [cj] * n)))
        return z

    def penalty_d(cc: list[float]) -> float:
        return 0.5 * math.fsum(lam * (x - y) ** 2 for lam, x, y in zip(l2v, cc, c0))

    def penalty(cc: list[float], hh: Mapping[int, float]) -> float:
        ph = math.fsum((hh[k] - h0.get(k, 0.0)) ** 2 for k in buckets)
        return penalty_d(cc) + 0.5 * l2_hashed * ph

    zd = dense_logit(b, c)
    z = list(map(add, zd, zh))
    loss = _data_loss(z, t, w) + penalty(c, h)
    info: dict = {"iterations": 0, "converged": False}
    beta = 1.0
    for it in range(max_iter):
        info["iterations"] = it + 1
        start_loss = loss
        b_old, c_old, h_old, zh_old = b, list(c), dict(h), list(zh)
        # ---- 1. projected Newton step on (intercept, dense) ----------------------------------------
        p = list(map(_sigmoid, z))
        r = [wi * (pi - ti) for wi, pi, ti in zip(w, p, t)]
        q = [wi * pi * (1.0 - pi) for wi, pi in zip(w, p)]
        grad_b = math.fsum(r)
        grad = [sum(map(mul, r, dense_cols[j])) + l2v[j] * (c[j] - c0[j]) for j in range(d)]
        free = [j for j in range(d) if not ((c[j] <= lo[j] and grad[j] > 0) or (c[j] >= hi[j] and grad[j] < 0))]
        qx = [q] + [list(map(mul, q, dense_cols[j])) for j in free]
        cols: list[list[float] | None] = [None] + [dense_cols[j] for j in free]
        m = len(cols)
        hess = [[0.0] * m for _ in range(m)]
        for a_ in range(m):
            for b_ in range(a_, m):
                col = cols[b_]
                v = sum(qx[a_]) if col is None else sum(map(mul, qx[a_], col))
                if a_ and a_ == b_:
                    v += l2v[free[a_ - 1]]
                hess[a_][b_] = hess[b_][a_] = v
        hess[0][0] += 1e-9 * n  # keeps the intercept's row regular when every p saturates
        step = _solve(hess, [grad_b] + [grad[j] for j in free])
        full = [0.0] * d
        for k_, j in enumerate(free):
            full[j] = step[k_ + 1]
        alpha = 1.0
        pen_h = penalty(c, h) - penalty_d(c)  # the hashed part only
        for _ls in range(40):
            nb = b - alpha * step[0]
            nc = project([ci - alpha * si for ci, si in zip(c, full)])
            decrease = grad_b * (b - nb) + math.fsum(g * (ci - ni) for g, ci, ni in zip(grad, c, nc))
            nzd = dense_logit(nb, nc)
            nz = list(map(add, nzd, zh))
            new_loss = _data_loss(nz, t, w) + penalty_d(nc) + pen_h
            if new_loss <= loss - 1e-4 * decrease:
                b, c, zd, z, loss = nb, nc, nzd, nz, new_loss
                break
            alpha *= 0.5
        # ---- 2. one coordinate pass over the hashed buckets ----------------------------------------
        if buckets:
            p = list(map(_sigmoid, z))
            for k in buckets:
                rows, vals = cols_h[k]
                g = sum(map(mul, wv_h[k], map(p.__getitem__, rows))) - wvt_h[k] + l2_hashed * (h[k] - h0.get(k, 0.0))
                delta = -g / bound_h[k]
                if abs(delta) < 1e-12:
                    continue
                h[k] += delta
                for i, v in zip(rows, vals):
                    zi = z[i] + delta * v
                    z[i] = zi
                    p[i] = 1.0 / (1.0 + exp(-zi)) if zi > -700.0 else 0.0
            zh = list(map(operator.sub, z, zd))  # the dense part did not move during the pass
            loss = _data_loss(z, t, w) + penalty(c, h)
        # ---- 3. extrapolate along this iteration's move (the blocks trade off slowly otherwise) ------
        if it:
            nb = b + beta * (b - b_old)
            nc = project([x + beta * (x - y) for x, y in zip(c, c_old)])
            nh = {k: h[k] + beta * (h[k] - h_old[k]) for k in buckets}
            nzh = [x + beta * (x - y) for x, y in zip(zh, zh_old)]  # the hashed logit is linear in h
            nzd = dense_logit(nb, nc)
            nz = list(map(add, nzd, nzh))
            new_loss = _data_loss(nz, t, w) + penalty(nc, nh)
            if new_loss < loss:
                b, c, h, zh, zd, z, loss = nb, nc, nh, nzh, nzd, nz, new_loss
                beta = min(beta * 2.0, 16.0)
            else:
                beta = max(beta / 2.0, 0.25)
        if start_loss - loss <= tol * max(1.0, abs(loss)):
            info["converged"] = True
            break
    info["loss"] = loss
    return b, c, h, info


def _fit_lbfgs(
    dense_cols: list[list[float]],
    hashed_rows: Sequence[Sequence[tuple[int, float]]],
    t: list[float],
    w: list[float],
    *,
    l2: Sequence[float],
    l2_hashed: float,
    c0: list[float],
    h0: Mapping[int, float],
    b0: float | None,
    max_iter: int,
    tol: float,
    memory: int = 10,
) -> tuple[float, list[float], dict[int, float], dict]:
    """The same loss as :func:`_fit_arrays` without bounds, by L-BFGS over (intercept, dense, hashed).

    Each evaluation is one pass over the rows (the hashed logits, row by row) and one over the buckets (the
    hashed gradient, bucket by bucket), both with C-level ``sum(map(...))``: about 20x faster than coordinate
    steps on tens of thousands of idf-weighted word and bigram buckets, which is what a route's labels give."""
    n, d = len(t), len(dense_cols)
    mul, add = operator.mul, operator.add
    keys = sorted({k for row in hashed_rows for k, v in row if v})
    col = {k: j for j, k in enumerate(keys)}
    p_h = len(keys)
    r_idx = [[col[k] for k, v in row if v] for row in hashed_rows]
    r_val = [[v for k, v in row if v] for row in hashed_rows]
    c_rows: list[list[int]] = [[] for _ in range(p_h)]
    c_vals: list[list[float]] = [[] for _ in range(p_h)]
    for i, (ix, vx) in enumerate(zip(r_idx, r_val)):
        for j, v in zip(ix, vx):
            c_rows[j].append(i)
            c_vals[j].append(v)
    lam = list(l2)
    h0v = [float(h0.get(k, 0.0)) for k in keys]
    if b0 is None:
        tbar = min(max(math.fsum(map(mul, w, t)) / math.fsum(w), 1e-6), 1 - 1e-6)
        b0 = math.log(tbar / (1 - tbar))
    x = [float(b0)] + list(c0) + h0v
    exp, log1p = math.exp, math.log1p
    wt = list(map(mul, w, t))

    def fg(theta: list[float]) -> tuple[float, list[float]]:
        b, c, h = theta[0], theta[1 : d + 1], theta[d + 1 :]
        z = [b] * n
        for j in range(d):
            if c[j]:
                z = list(map(add, z, map(mul, dense_cols[j], repeat(c[j], n))))
        if p_h:
            hg = h.__getitem__
            z = list(map(add, z, (sum(map(mul, vx, map(hg, ix))) for ix, vx in zip(r_idx, r_val))))
        loss = 0.0
        r = [0.0] * n
        for i, zi in enumerate(z):
            if zi > 0:
                e = exp(-zi)
                loss += w[i] * (zi + log1p(e))
                r[i] = w[i] / (1.0 + e) - wt[i]
            else:
                e = exp(zi)
                loss += w[i] * log1p(e)
                r[i] = w[i] * e / (1.0 + e) - wt[i]
        loss -= math.fsum(map(mul, wt, z))
        dc = [a - b_ for a, b_ in zip(c, c0)]
        dh = list(map(operator.sub, h, h0v))
        loss += 0.5 * math.fsum(map(mul, lam, map(mul, dc, dc))) + 0.5 * l2_hashed * sum(map(mul, dh, dh))
        g = [math.fsum(r)]
        g.extend(sum(map(mul, r, dense_cols[j])) + lam[j] * dc[j] for j in range(d))
        rg = r.__getitem__
        g.extend(sum(map(mul, vals, map(rg, rows))) + l2_hashed * dhj for vals, rows, dhj in zip(c_vals, c_rows, dh))
        return loss, g

    f, g = fg(x)
    s_hist: list[list[float]] = []
    y_hist: list[list[float]] = []
    rho: list[float] = []
    info: dict = {"iterations": 0, "converged": False, "solver": "lbfgs"}

    def dot(a: Sequence[float], b: Sequence[float]) -> float:
        return sum(map(mul, a, b))

    for it in range(max_iter):
        info["iterations"] = it + 1
        q = list(g)
        alphas = []
        for s_, y_, r_ in zip(reversed(s_hist), reversed(y_hist), reversed(rho)):
            a = r_ * dot(s_, q)
            alphas.append(a)
            q = list(map(operator.sub, q, map(mul, y_, repeat(a))))
        if s_hist:
            gamma = dot(s_hist[-1], y_hist[-1]) / dot(y_hist[-1], y_hist[-1])
        else:
            gamma = 1.0 / max(1.0, math.sqrt(dot(g, g)))
        q = [gamma * v for v in q]
        for s_, y_, r_, a in zip(s_hist, y_hist, rho, reversed(alphas)):
            bta = r_ * dot(y_, q)
            q = list(map(add, q, map(mul, s_, repeat(a - bta))))
        direction = [-v for v in q]
        slope = dot(g, direction)
        if slope >= 0:  # not a descent direction: restart from the gradient
            s_hist, y_hist, rho = [], [], []
            direction = [-v * gamma for v in g]
            slope = dot(g, direction)
        step = 1.0
        for _ in range(30):
            xn = list(map(add, x, map(mul, direction, repeat(step))))
            fn, gn = fg(xn)
            if fn <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s_new = list(map(operator.sub, xn, x))
        y_new = list(map(operator.sub, gn, g))
        sy = dot(s_new, y_new)
        if sy > 1e-12:
            s_hist.append(s_new)
            y_hist.append(y_new)
            rho.append(1.0 / sy)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
                rho.pop(0)
        done = f - fn <= tol * max(1.0, abs(fn))
        x, f, g = xn, fn, gn
        if done:
            info["converged"] = True
            break
    info["loss"] = f
    h_out = {k: x[d + 1 + j] for j, k in enumerate(keys)}
    return x[0], x[1 : d + 1], h_out, info


def _check_vector(v: Any, i: int, d: int, buckets: int) -> None:
    if not isinstance(v, _scorer.FeatureVector):
        raise LearningError(f"vectors[{i}]: expected a FeatureVector, got {type(v).__name__}")
    if len(v.dense) != d:
        raise LearningError(f"vectors[{i}]: {len(v.dense)} dense features, this code has {d}")
    for x in v.dense:
        if not math.isfinite(x):
            raise LearningError(f"vectors[{i}]: a dense feature is not a finite number")
    for k, x in v.hashed:
        if not 0 <= k < buckets or not math.isfinite(x):
            raise LearningError(f"vectors[{i}]: hashed bucket {k} out of range or value not finite")


def _prior_parts(
    prior: Any, names: Sequence[str], buckets: int
) -> tuple[list[float], list[float], list[float], dict[int, float], float]:
    spec = prior.spec()
    dense = spec.get("dense") or {}
    if list(dense.get("names", ())) != list(names):
        raise LearningError("prior: its dense features are not this code's; it cannot be a prior")
    hashed = spec.get("hashed") or {}
    if int(hashed.get("buckets", buckets)) != buckets:
        raise LearningError("prior: its hash bucket count is not this code's")
    mean = [float(x) for x in dense["mean"]]
    scale = [float(x) or 1.0 for x in dense["scale"]]
    coef = [float(x) for x in dense["coef"]]
    h0 = {int(k): float(v) for k, v in hashed.get("coef", ())}
    return mean, scale, coef, h0, float(spec.get("intercept", 0.0))


def fit_scorer(
    vectors: Sequence[Any],
    targets: Sequence[float],
    *,
    sample_weights: Sequence[float] | None = None,
    prior: Any = None,
    l2: float | None = None,
    l2_hashed: float | None = None,
    signs: Mapping[str, int] | Sequence[int] | None = None,
    floors: Mapping[str, float] | Sequence[float] | None = None,
    caps: Mapping[str, float] | Sequence[float] | None = None,
    version: str,
    meta: Mapping[str, Any] | None = None,
    name: str = "",
    max_iter: int = 60,
    tol: float = 1e-8,
    digits: int = 6,
    idf: Mapping[int, float] | None = None,
    base: Any = None,
    l2_base: float = DEFAULT_L2_BASE,
    max_hashed: int | None = None,
) -> Any:
    """Fit a :class:`Scorer` to ``vectors`` (FeatureVectors) and soft ``targets`` in [0, 1].

    ``signs``/``floors``/``caps`` default to the scorer module's ``DENSE_SIGNS``/``DENSE_FLOORS``/
    ``DENSE_CAPS`` (pass ``{}`` for each to fit unconstrained).  ``l2`` defaults to :data:`DEFAULT_L2`, or :data:`DEFAULT_PRIOR_L2` with a
    ``prior``; ``l2_hashed`` to :data:`DEFAULT_L2_HASHED`.  Coefficients are rounded to ``digits``
    significant digits in the spec (it travels in the routing configuration).  Raises
    :class:`LearningError` on bad input.

    ``idf``: a weight per hashed bucket (inverse document frequency, :func:`idf_weights`); the fit sees
    ``idf[k] * v_k``, buckets without a weight are left out, and the spec carries ``h_k * idf[k]`` (so scoring
    needs no idf table).  ``base``: a scorer of the same feature set whose (standardised) logit is one more
    feature, penalised by ``l2_base`` only: the fit uses the base scorer's knowledge as far as these labels
    support it (its coefficient can be 0, or negative), and the spec folds it in, so the result is one plain
    linear scorer.  ``max_hashed``: keep at most this many hashed weights (the largest), for the spec's size."""
    if n_vectors := len(vectors):
        source = _scorer.feature_source(getattr(vectors[0], "feature_set", _scorer.FEATURE_SET))
    else:
        source = _scorer.LEXICAL
    lexical = source is _scorer.LEXICAL  # the sign priors, floors and caps are the lexical features
    names = tuple(source.dense_names)
    d = len(names)
    buckets = int(source.buckets)
    n = n_vectors
    if n == 0:
        raise LearningError("no training rows")
    if len(targets) != n:
        raise LearningError(f"{n} vectors but {len(targets)} targets")
    t = []
    for i, x in enumerate(targets):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or not 0.0 <= x <= 1.0:
            raise LearningError(f"targets[{i}]: must be a number in [0, 1], got {x!r}")
        t.append(float(x))
    if max(t) - min(t) < 1e-12:
        raise LearningError(f"every target is {t[0]}: a single class, nothing to learn")
    if sample_weights is None:
        w = [1.0] * n
    else:
        if len(sample_weights) != n:
            raise LearningError(f"{n} vectors but {len(sample_weights)} sample weights")
        w = [float(x) for x in sample_weights]
        if any(not math.isfinite(x) or x < 0 for x in w) or math.fsum(w) <= 0:
            raise LearningError("sample weights must be finite, >= 0 and not all zero")
        s = math.fsum(w) / n
        w = [x / s for x in w]
    for i, v in enumerate(vectors):
        _check_vector(v, i, d, buckets)
    for what, val in (("l2", l2), ("l2_hashed", l2_hashed)):
        if val is not None and (not math.isfinite(val) or val < 0):
            raise LearningError(f"{what} must be a finite number >= 0, got {val}")
    lo, hi = _bounds(
        names,
        (_scorer.DENSE_SIGNS if lexical else None) if signs is None else signs,
        (_scorer.DENSE_FLOORS if lexical else None) if floors is None else floors,
        (_scorer.DENSE_CAPS if lexical else None) if caps is None else caps,
    )

    if base is not None and tuple(getattr(getattr(base, "source", None), "dense_names", ())) != names:
        raise LearningError("base: its feature set is not the vectors'; it cannot be a feature")
    if idf is not None and any(not (math.isfinite(x) and x > 0) for x in idf.values()):
        raise LearningError("idf weights must be finite numbers above 0")
    cols = [[v.dense[j] for v in vectors] for j in range(d)]
    if prior is not None:
        mean, scale, c0, h0, b0 = _prior_parts(prior, names, buckets)
        lam = DEFAULT_PRIOR_L2 if l2 is None else float(l2)
        b_init: float | None = b0
    else:
        mean, scale = [], []
        for col in cols:
            mu = math.fsum(col) / n
            var = math.fsum((x - mu) ** 2 for x in col) / n
            mean.append(mu)
            scale.append(math.sqrt(var) if var > 1e-12 else 1.0)
        c0, h0, b_init = [0.0] * d, {}, None
        lam = DEFAULT_L2 if l2 is None else float(l2)
    lam_h = DEFAULT_L2_HASHED if l2_hashed is None else float(l2_hashed)
    zcols = [[(x - mu) / sc for x in col] for col, mu, sc in zip(cols, mean, scale)]
    hashed_rows: list = [v.hashed for v in vectors]
    if idf is not None:
        get = idf.get
        hashed_rows = [tuple((k, x * get(k)) for k, x in row if k in idf) for row in hashed_rows]  # type: ignore[operator]
        h0 = {k: x / idf[k] for k, x in h0.items() if k in idf}
    lams: float | list[float] = lam
    base_mu = base_sd = 0.0
    if base is not None:  # the base scorer's logit, standardised, as one more dense column
        z0 = [base.logit(v) for v in vectors]
        base_mu = math.fsum(z0) / n
        base_sd = math.sqrt(math.fsum((x - base_mu) ** 2 for x in z0) / n) or 1.0
        zcols.append([(x - base_mu) / base_sd for x in z0])
        lams = [lam] * d + [float(l2_base)]
        c0, lo, hi = list(c0) + [0.0], list(lo) + [-math.inf], list(hi) + [math.inf]
    if all(math.isinf(x) for x in lo + hi) and any(hashed_rows):  # unbounded, with tokens: L-BFGS is far faster
        b, c, h, info = _fit_lbfgs(
            zcols,
            hashed_rows,
            t,
            w,
            l2=lams if isinstance(lams, list) else [lams] * len(zcols),
            l2_hashed=lam_h,
            c0=c0,
            h0=h0,
            b0=b_init,
            max_iter=max(max_iter, 200),
            tol=tol,
        )
    else:
        b, c, h, info = _fit_arrays(
            zcols,
            hashed_rows,
            t,
            w,
            l2=lams,
            l2_hashed=lam_h,
            lo=lo,
            hi=hi,
            c0=c0,
            h0=h0,
            b0=b_init,
            max_iter=max_iter,
            tol=tol,
        )
    coef_h = dict(h0)
    coef_h.update(h)
    if idf is not None:
        coef_h = {k: x * idf[k] for k, x in coef_h.items()}
    base_coef = 0.0
    if base is not None:  # fold a * (z0 - mu0) / sd0 into the intercept, the dense and the hashed weights
        base_coef, c = c[-1], c[:-1]
        f = base_coef / base_sd
        w0, b0_base = base.raw_weights()
        c = [cj + f * wj * sj for cj, wj, sj in zip(c, w0, scale)]
        b += f * (b0_base - base_mu + math.fsum(wj * mj for wj, mj in zip(w0, mean)))
        for k, x in base.hashed_weights().items():
            coef_h[k] = coef_h.get(k, 0.0) + f * x
    if max_hashed is not None and len(coef_h) > max_hashed:
        keep = sorted(coef_h, key=lambda k: -abs(coef_h[k]))[:max_hashed]
        coef_h = {k: coef_h[k] for k in keep}

    def rnd(x: float) -> float:
        return float(f"{x:.{digits}g}") if x else 0.0

    spec_meta = dict(meta or {})
    spec_meta.setdefault("labels", n)
    spec_meta.setdefault(
        "fit",
        {
            "l2": lam,
            "l2_hashed": lam_h,
            "prior": getattr(prior, "version", None) if prior is not None else None,
            **({"base": getattr(base, "version", None), "base_coef": round(base_coef, 4)} if base is not None else {}),
            **({"idf": True} if idf is not None else {}),
            "iterations": info["iterations"],
            "converged": info["converged"],
        },
    )
    spec = {
        "version": str(version),
        "feature_set": source.feature_set,
        "intercept": rnd(b),
        "dense": {
            "names": list(names),
            "mean": [rnd(x) for x in mean],
            "scale": [rnd(x) for x in scale],
            "coef": [rnd(x) for x in c],
        },
        "hashed": {
            "buckets": buckets,
            "coef": [[k, rnd(v)] for k, v in sorted(coef_h.items()) if rnd(v)],
        },
        "meta": spec_meta,
    }
    return _scorer.Scorer.from_spec(spec, name=name)


# --------------------------------------------------------------------------------------------------
# Routing metrics as defined in RouteLLM (Ong et al. 2024, lm-sys/RouteLLM)
# --------------------------------------------------------------------------------------------------
# Matches ``routellm/evals/benchmarks.py`` + ``routellm/evals/evaluate.py``:
# * thresholds = the 11 edges of ``pd.qcut(scores, 10)`` (linear-interpolated quantiles at 0%, 10%, ...,
#   100% of the scores);
# * for every edge but the last, prompts with ``score >= edge`` go to the strong model; for the last edge
#   (the maximum) ``score > edge`` (i.e. nobody);
# * each point is (actual strong-call share, mean outcome); ties in the scores therefore move the share
#   away from the nominal 10% steps, as in RouteLLM;
# * APGR = (trapz(quality, share) - weak * span) / ((strong - weak) * span);
# * CPT(x) = the strong-call share at which the curve first reaches PGR >= x, linearly interpolated
#   between curve points.
def quantile_edges(scores: Sequence[float], bins: int = NUM_BINS) -> list[float]:
    """Linear-interpolated quantiles at 0, 1/bins, ..., 1 (numpy/pandas default)."""
    return _edges_sorted(sorted(scores), bins)


def _edges_sorted(s: Sequence[float], bins: int) -> list[float]:
    n = len(s)
    edges = []
    for i in range(bins + 1):
        pos = (n - 1) * i / bins
        lo = int(math.floor(pos))
        hi = min(lo + 1, n - 1)
        edges.append(s[lo] + (s[hi] - s[lo]) * (pos - lo))
    return edges


def _curve_sorted(
    s: Sequence[float], gains: Sequence[float], weak_total: float, bins: int
) -> list[tuple[float, float, float]]:
    """Curve points from scores sorted ascending and the (strong - weak) gains in the same order."""
    n = len(s)
    suffix = list(accumulate(reversed(gains)))
    suffix.reverse()
    suffix.append(0.0)  # suffix[k] = sum of gains[k:]
    edges = _edges_sorted(s, bins)
    last = len(edges) - 1
    points = []
    for j, th in enumerate(edges):
        k = bisect.bisect_left(s, th) if j != last else bisect.bisect_right(s, th)
        points.append((th, (n - k) / n, (weak_total + suffix[k]) / n))
    points.sort(key=lambda p: p[1])
    return points


def routing_curve(
    scores: Sequence[float], weak: Sequence[float], strong: Sequence[float], bins: int = NUM_BINS
) -> list[tuple[float, float, float]]:
    """Return [(threshold, strong_share, quality)] sorted by strong_share."""
    n = len(scores)
    if n == 0:
        return []
    order = sorted(range(n), key=scores.__getitem__)
    return _curve_sorted([scores[i] for i in order], [strong[i] - weak[i] for i in order], float(sum(weak)), bins)


def _trapz(ys: Sequence[float], xs: Sequence[float]) -> float:
    return sum((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1]) / 2.0 for i in range(1, len(xs)))


def _metrics_from_curve(
    pts: list[tuple[float, float, float]], weak_acc: float, strong_acc: float, out: dict, with_curve: bool
) -> dict:
    xs = [p[1] for p in pts]
    ys = [p[2] for p in pts]
    span = xs[-1] - xs[0]
    gap = strong_acc - weak_acc
    if span <= 0:
        return out
    auc = _trapz(ys, xs)
    out["auc"] = auc / span
    if abs(gap) < 1e-12:
        return out
    out["apgr"] = (auc - weak_acc * span) / (gap * span)
    pgr = [(y - weak_acc) / gap for y in ys]
    out["cpt50"] = cpt(xs, pgr, 0.5)
    out["cpt80"] = cpt(xs, pgr, 0.8)
    if with_curve:
        out["curve"] = [{"threshold": t, "strong_share": x, "quality": y, "pgr": p} for (t, x, y), p in zip(pts, pgr)]
    return out


def route_metrics(
    scores: Sequence[float], weak: Sequence[float], strong: Sequence[float], bins: int = NUM_BINS
) -> dict:
    """APGR, CPT(50%), CPT(80%) and the curve for one score vector (None where undefined).

    ``auc`` is the mean quality under the routing curve (its area over the span of strong-call shares):
    APGR without the division by the quality gap, so it stays stable when the gap is near zero."""
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
        "auc": None,
    }
    if n == 0:
        return out
    return _metrics_from_curve(routing_curve(scores, weak, strong, bins), weak_acc, strong_acc, out, True)


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


def apgr(scores: Sequence[float], weak: Sequence[float], strong: Sequence[float]) -> float | None:
    """APGR only (None when undefined: no items, one score value, or no quality gap)."""
    return route_metrics(scores, weak, strong)["apgr"]


class RankedScores:
    """One score vector prepared for fast metrics on bootstrap resamples of its items."""

    __slots__ = ("scores", "gains", "weak", "strong", "rank", "bins")

    def __init__(self, scores: Sequence[float], weak: Sequence[float], strong: Sequence[float], bins: int = NUM_BINS):
        n = len(scores)
        self.scores = [float(s) for s in scores]
        self.weak = [float(x) for x in weak]
        self.strong = [float(x) for x in strong]
        self.gains = [s - w for s, w in zip(self.strong, self.weak)]
        order = sorted(range(n), key=self.scores.__getitem__)
        self.rank = [0] * n
        for pos, i in enumerate(order):
            self.rank[i] = pos
        self.bins = bins

    def metrics(self, idx: Sequence[int] | None = None) -> dict:
        """APGR/CPT50/CPT80 on the items ``idx`` (a resample, repeats allowed; None: all items)."""
        ids = list(range(len(self.scores))) if idx is None else list(idx)
        n = len(ids)
        out: dict = {"apgr": None, "cpt50": None, "cpt80": None, "auc": None}
        if n == 0:
            return out
        ids.sort(key=self.rank.__getitem__)
        s = list(map(self.scores.__getitem__, ids))
        g = list(map(self.gains.__getitem__, ids))
        weak_total = math.fsum(map(self.weak.__getitem__, ids))
        strong_total = math.fsum(map(self.strong.__getitem__, ids))
        pts = _curve_sorted(s, g, weak_total, self.bins)
        return _metrics_from_curve(pts, weak_total / n, strong_total / n, out, False)


def threshold_for_share(scores: Sequence[float], share: float) -> float:
    """Threshold t whose share of ``score >= t`` is closest to ``share``
    (ties between candidates go to the one with fewer strong calls).

    A share of 0 maps to a threshold 1e-4 above the top score (so it survives rounding down to 4 places)."""
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


def calibrate_threshold(scorer: Any, vectors: Sequence[Any], share: float) -> dict:
    """The threshold (rounded down to 4 places, as a config carries it) that sends about ``share`` of
    ``vectors`` to the strong model, and the share it actually sends."""
    if not 0.0 <= share <= 1.0:
        raise LearningError(f"a strong-call share must be in [0, 1], got {share}")
    scores = [scorer.score(v) for v in vectors]
    th = math.floor(threshold_for_share(scores, share) * 1e4) / 1e4
    actual = sum(s >= th for s in scores) / len(scores) if scores else 0.0
    return {"threshold": th, "strong_share": actual, "n": len(scores)}


# --------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------
def bootstrap_indices(n: int, resamples: int = 1000, seed: int = 0):
    """The seeded resamples (lists of n item indices drawn with replacement); same seed, same lists."""
    rng = random.Random(seed)
    population = range(n)
    for _ in range(resamples):
        yield rng.choices(population, k=n)


def percentile_interval(values: Sequence[float | None], level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of the defined values (nan, nan when none is defined)."""
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    if not vals:
        return (math.nan, math.nan)
    a = (1.0 - level) / 2.0

    def q(p: float) -> float:
        pos = (len(vals) - 1) * p
        lo = int(math.floor(pos))
        hi = min(lo + 1, len(vals) - 1)
        return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)

    return (q(a), q(1.0 - a))


def bootstrap_ci(
    metric: Callable[[list[int]], float | None], n: int, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(idx)`` over seeded resamples of the n items.

    Resamples where the metric is undefined (None or nan) are left out of the percentiles."""
    if n <= 0:
        raise LearningError("bootstrap needs at least one item")
    if not 0.0 < level < 1.0:
        raise LearningError(f"level must be in (0, 1), got {level}")
    return percentile_interval([metric(idx) for idx in bootstrap_indices(n, resamples, seed)], level)


def compare(
    current: Any,
    candidate: Any,
    vectors: Sequence[Any],
    targets: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """APGR of two scorers on the same labels, each with its interval, and the paired bootstrap interval
    of the difference (candidate - current, the same resamples for both).

    ``verdict`` ("better" / "worse" / "within noise") comes from the paired interval of the difference in
    ``auc``, the mean quality under the routing curve.  On the same items it orders scorers exactly as
    APGR does when the strong model is better on average (APGR = (auc - weak) / gap), but it does not
    divide by the gap: with judged labels the gap (2 * mean target - 1) is often near zero, and APGR and
    its interval then explode while the comparison of the curves stays well defined."""
    n = len(vectors)
    if n == 0 or len(targets) != n:
        raise LearningError(f"compare needs matching vectors and targets ({n} vs {len(targets)})")
    out = compare_scores(
        [current.score(v) for v in vectors],
        [candidate.score(v) for v in vectors],
        targets,
        resamples=resamples,
        seed=seed,
        level=level,
    )
    for key, s in (("current", current), ("candidate", candidate)):
        out[key] = {"name": getattr(s, "name", ""), "version": getattr(s, "version", ""), **out[key]}
    return out


def compare_scores(
    current: Sequence[float],
    candidate: Sequence[float],
    targets: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """:func:`compare` on two scorers' scores of the same labels (e.g. a candidate's out-of-fold scores)."""
    n = len(targets)
    if n == 0 or len(current) != n or len(candidate) != n:
        raise LearningError(f"compare needs matching scores and targets ({len(current)}, {len(candidate)}, {n})")
    weak, strong = outcomes_from_targets(targets)
    cur = RankedScores(current, weak, strong)
    cand = RankedScores(candidate, weak, strong)
    vals: dict[str, list] = {"cur": [], "cand": [], "diff": [], "auc_diff": []}
    for idx in bootstrap_indices(n, resamples, seed):
        x, y = cur.metrics(idx), cand.metrics(idx)
        vals["cur"].append(x["apgr"])
        vals["cand"].append(y["apgr"])
        vals["diff"].append(None if x["apgr"] is None or y["apgr"] is None else y["apgr"] - x["apgr"])
        vals["auc_diff"].append(None if x["auc"] is None or y["auc"] is None else y["auc"] - x["auc"])
    p_cur, p_cand = cur.metrics(), cand.metrics()
    diff = None if p_cur["apgr"] is None or p_cand["apgr"] is None else p_cand["apgr"] - p_cur["apgr"]
    auc_diff = None if p_cur["auc"] is None or p_cand["auc"] is None else p_cand["auc"] - p_cur["auc"]
    d_lo, d_hi = percentile_interval(vals["diff"], level)
    a_lo, a_hi = percentile_interval(vals["auc_diff"], level)
    if auc_diff is None or math.isnan(a_lo):
        verdict = "undefined"
    elif a_lo > 0:
        verdict = "better"
    elif a_hi < 0:
        verdict = "worse"
    else:
        verdict = "within noise"

    def side(point: dict, key: str) -> dict:
        return {
            "apgr": point["apgr"],
            "ci": list(percentile_interval(vals[key], level)),
            "auc": point["auc"],
        }

    return {
        "n": n,
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "mean_target": math.fsum(strong) / n,
        "current": side(p_cur, "cur"),
        "candidate": side(p_cand, "cand"),
        "difference": {"apgr": diff, "ci": [d_lo, d_hi], "auc": auc_diff, "auc_ci": [a_lo, a_hi]},
        "verdict": verdict,
    }
