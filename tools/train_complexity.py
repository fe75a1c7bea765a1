"""Train the weights of the production complexity score (``routing_engine.complexity``).

Usage (from the repo root)::

    python -m tools.train_complexity --data ../shared/eval/routing-benchmark/dev.jsonl \
        --out lambdas/routing_engine/complexity_weights.json
    python -m tools.train_complexity --data FILE --cv      # honest held-out APGR only

Input: JSONL with ``prompt, weak_score, strong_score`` (and ``source``,
``category``, ``id``), e.g. your own traffic labelled with both models.

Label definition
----------------
Soft target ``t = (1 + strong_score - weak_score) / 2`` (clipped to [0, 1]),
fitted by L2-regularised logistic regression (cross-entropy with soft labels)
under the prior-knowledge constraints declared next to the features
(``FEATURE_SIGNS``: a coefficient's sign; ``FEATURE_FLOORS``: a minimum effect
for the core multi-step markers), solved by projected Newton
(``--unconstrained`` drops them, for comparison).  The benchmark only holds
grade-school maths and multiple-choice exams, so unconstrained fits learn its
artefacts (e.g. money or numbers *lowering* the score); the constraints keep
every feature's direction sensible for traffic the benchmark does not cover.
The fitted ``sigmoid(f(x))`` estimates ``E[t | x]``, i.e. the score is
``(1 + expected gain of the strong model) / 2`` and ranking by it ranks by
expected gain: a prompt both models get right (or both get wrong) is a 0.5
"no gain" example, one only the strong model gets right is a 1, one only the
weak model gets right is a 0.

Rows are weighted so that every ``source`` carries the same total weight
(``--balance source``, default) so a large benchmark does not drown a small
one; ``--balance category`` equalises categories instead.

Reproducible: pure Python (no numpy), deterministic full-batch projected
Newton iterations (no random initialisation or sampling).  The "common words" list
used by the rarity feature is derived from the data: words that occur in at
least ``--common-min-cat-share`` of the categories (so they are general
English, not one subject's jargon).

Cross-validation (``--cv``): MMLU-style subjects are held out whole
(grouped K-fold by ``category``; single-category sources such as gsm8k are
split by item into the same K folds), plus leave-one-source-out
(train without a benchmark, test on it).  Reported APGRs are held-out.
"""
from __future__ import annotations

import argparse
import json
import math
import operator
import sys
import time
import zlib
from itertools import repeat
from pathlib import Path

from routing_engine.complexity import (
    _NUMBER_TOKENS,
    FEATURE_FLOORS,
    FEATURE_NAMES,
    FEATURE_SIGNS,
    raw_features,
    word_tokens,
)
from tools._data import DataError, load_jsonl
from tools._metrics import apgr

DEFAULT_L2 = 0.02
DEFAULT_FOLDS = 5


# --------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------
def common_words(rows: list[dict], min_cat_share: float = 0.5, min_df: float = 0.01,
                 max_words: int = 2000) -> list[str]:
    """Words with document frequency >= min_df in >= min_cat_share of categories."""
    by_cat: dict[str, list[str]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r["prompt"])
    n_cat = len(by_cat)
    cat_hits: dict[str, int] = {}
    mean_df: dict[str, float] = {}
    for prompts in by_cat.values():
        df: dict[str, int] = {}
        for p in prompts:
            for w in set(word_tokens(p)):
                if w.isalpha() and w.isascii():
                    df[w] = df.get(w, 0) + 1
        n = len(prompts)
        for w, c in df.items():
            frac = c / n
            mean_df[w] = mean_df.get(w, 0.0) + frac / n_cat
            if frac >= min_df:
                cat_hits[w] = cat_hits.get(w, 0) + 1
    need = max(1, math.ceil(min_cat_share * n_cat))
    words = [w for w, h in cat_hits.items() if h >= need]
    words.sort(key=lambda w: (-mean_df[w], w))
    return sorted(w.decode("ascii") for w in words[:max_words])


def targets(rows: list[dict]) -> list[float]:
    return [min(1.0, max(0.0, (1.0 + r["strong_score"] - r["weak_score"]) / 2.0)) for r in rows]


def sample_weights(rows: list[dict], balance: str) -> list[float]:
    if balance == "none":
        return [1.0] * len(rows)
    key = "source" if balance == "source" else "category"
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[key]] = counts.get(r[key], 0) + 1
    n, g = len(rows), len(counts)
    return [n / (g * counts[r[key]]) for r in rows]


# --------------------------------------------------------------------------
# Logistic regression with soft labels, full-batch Newton (pure Python)
# --------------------------------------------------------------------------
def _standardise(cols: list[list[float]]) -> tuple[list[float], list[float]]:
    means, scales = [], []
    for c in cols:
        n = len(c)
        m = sum(c) / n
        v = sum((x - m) ** 2 for x in c) / n
        means.append(m)
        scales.append(math.sqrt(v) if v > 1e-12 else 1.0)
    return means, scales


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a is SPD here)."""
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


def _loss_at(zcols: list[list[float]], y: list[float], wn: list[float], l2: float,
             b: float, c: list[float]) -> tuple[float, list[float]]:
    """Regularised weighted cross-entropy and the fitted probabilities."""
    mul, add = operator.mul, operator.add
    z = [b] * len(y)
    for a, ca in enumerate(c):
        if ca:
            z = list(map(add, z, map(mul, zcols[a], repeat(ca))))
    p = [1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)) for v in z]
    loss = 0.0
    for pi, yi, wi in zip(p, y, wn):
        pi = min(max(pi, 1e-12), 1 - 1e-12)
        loss -= wi * (yi * math.log(pi) + (1 - yi) * math.log(1 - pi))
    loss += 0.5 * l2 * sum(v * v for v in c)
    return loss, p


def fit_logistic(zcols: list[list[float]], y: list[float], w: list[float], l2: float,
                 iters: int = 60, tol: float = 1e-10,
                 signs: list[int] | None = None,
                 floors: list[float] | None = None) -> tuple[float, list[float]]:
    """Minimise sum_i w_i CE(y_i, sigmoid(b + c.x_i)) / sum(w) + l2/2 |c|^2
    subject to sign constraints: ``signs[a]`` = +1 forces ``c[a] >= 0``, -1 forces
    ``c[a] <= 0``, 0 leaves it free (``signs=None``: all free).  ``floors[a]``
    (>= 0) tightens a sign constraint to a minimum effect size:
    ``c[a] >= floors[a]`` for +1, ``c[a] <= -floors[a]`` for -1.

    Projected Newton (Bertsekas' two-metric projection): a coefficient sitting on
    its bound whose gradient pushes it further out is held fixed; a Newton step is
    taken in the remaining coordinates, projected back onto the feasible box, with
    Armijo backtracking along the projection arc.  Without active bounds this is
    plain Newton.  The problem is strictly convex, so the result is the unique
    constrained optimum; the procedure is deterministic.
    """
    d = len(zcols)
    signs = list(signs) if signs is not None else [0] * d
    floors = list(floors) if floors is not None else [0.0] * d
    lo = [fl if sg > 0 else -math.inf for sg, fl in zip(signs, floors)]
    hi = [-fl if sg < 0 else math.inf for sg, fl in zip(signs, floors)]
    wsum = sum(w)
    wn = [wi / wsum for wi in w]
    mul = operator.mul
    ybar = sum(map(mul, wn, y))
    b = math.log(max(1e-6, ybar) / max(1e-6, 1 - ybar))

    def project(v: list[float]) -> list[float]:
        return [min(h, max(l, x)) for x, l, h in zip(v, lo, hi)]

    c = project([0.0] * d)  # feasible start

    loss, p = _loss_at(zcols, y, wn, l2, b, c)
    for _ in range(iters):
        r = [wi * (pi - yi) for wi, pi, yi in zip(wn, p, y)]  # weighted residuals
        h = [wi * pi * (1 - pi) for wi, pi in zip(wn, p)]
        grad_b = sum(r)
        grad = [sum(map(mul, r, zcols[a])) + l2 * c[a] for a in range(d)]
        # coefficients held at their bound this iteration
        free = [a for a in range(d)
                if not ((c[a] <= lo[a] and grad[a] > 0) or (c[a] >= hi[a] and grad[a] < 0))]
        # Newton system over [b] + free coefficients
        hx = [h] + [list(map(mul, h, zcols[a])) for a in free]
        cols = [None] + [zcols[a] for a in free]
        m = len(cols)
        hess = [[0.0] * m for _ in range(m)]
        for i in range(m):
            for j in range(i, m):
                v = sum(hx[i]) if cols[j] is None else sum(map(mul, hx[i], cols[j]))
                if i and i == j:
                    v += l2
                hess[i][j] = hess[j][i] = v
        step = _solve(hess, [grad_b] + [grad[a] for a in free])
        full = [0.0] * d
        for k, a in enumerate(free):
            full[a] = step[k + 1]
        # Armijo backtracking along the projection arc
        alpha, accepted = 1.0, False
        for _ls in range(40):
            nb = b - alpha * step[0]
            nc = project([ci - alpha * si for ci, si in zip(c, full)])
            decrease = grad_b * (b - nb) + sum(g * (ci - ni) for g, ci, ni in zip(grad, c, nc))
            new_loss, new_p = _loss_at(zcols, y, wn, l2, nb, nc)
            if new_loss <= loss - 1e-4 * decrease:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            break
        done = abs(loss - new_loss) < tol
        b, c, loss, p = nb, nc, new_loss, new_p
        if done:
            break
    return b, c


def featurise(rows: list[dict], common: list[str]) -> list[list[float]]:
    cw = frozenset(w.encode("ascii") for w in common) | _NUMBER_TOKENS
    return [raw_features(r["prompt"], cw) for r in rows]


def train(rows: list[dict], l2: float = DEFAULT_L2, balance: str = "source",
          common: list[str] | None = None, feats: list[list[float]] | None = None,
          min_cat_share: float = 0.5, constrained: bool = True) -> dict:
    """Fit and return a weights dict loadable by ``ComplexityModel``.

    ``constrained`` applies the sign constraints and minimum effects declared
    next to the features (``FEATURE_SIGNS``/``FEATURE_FLOORS``)."""
    if common is None:
        common = common_words(rows, min_cat_share=min_cat_share)
    if feats is None:
        feats = featurise(rows, common)
    d = len(FEATURE_NAMES)
    cols = [[f[a] for f in feats] for a in range(d)]
    means, scales = _standardise(cols)
    zcols = [[(x - means[a]) / scales[a] for x in cols[a]] for a in range(d)]
    signs = [FEATURE_SIGNS.get(n, 0) for n in FEATURE_NAMES] if constrained else None
    floors = [FEATURE_FLOORS.get(n, 0.0) for n in FEATURE_NAMES] if constrained else None
    b, c = fit_logistic(zcols, targets(rows), sample_weights(rows, balance), l2,
                        signs=signs, floors=floors)
    return {
        "version": "2",
        "label": "soft target (1 + strong_score - weak_score) / 2, logistic regression"
                 + (" with sign constraints" if constrained else ""),
        "features": list(FEATURE_NAMES),
        "mean": [round(v, 8) for v in means],
        "scale": [round(v, 8) for v in scales],
        "coef": [round(v, 8) for v in c],
        "intercept": round(b, 8),
        "common_words": common,
        "meta": {"n_train": len(rows), "l2": l2, "balance": balance,
                 "signs": {n: v for n, v in FEATURE_SIGNS.items()} if constrained else {},
                 "floors": dict(FEATURE_FLOORS) if constrained else {}},
    }


def _scores_from(weights: dict, feats: list[list[float]]) -> list[float]:
    m, s, c, b = weights["mean"], weights["scale"], weights["coef"], weights["intercept"]
    out = []
    for f in feats:
        z = b + sum(ci * (x - mi) / si for ci, x, mi, si in zip(c, f, m, s))
        out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))
    return out


# --------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------
def _fold_of(row: dict, multi_cat_sources: set[str], k: int) -> int:
    key = row["category"] if row["source"] in multi_cat_sources else str(row["id"])
    return zlib.crc32(key.encode("utf-8")) % k


def _group_folds(rows: list[dict], k: int) -> list[int]:
    """Grouped folds: whole categories for multi-category sources (balanced by
    size, deterministic), items for single-category sources."""
    cats_per_source: dict[str, set[str]] = {}
    for r in rows:
        cats_per_source.setdefault(r["source"], set()).add(r["category"])
    multi = {s for s, cs in cats_per_source.items() if len(cs) > 1}
    # greedy size-balanced assignment of categories to folds
    sizes: dict[str, int] = {}
    for r in rows:
        if r["source"] in multi:
            sizes[r["category"]] = sizes.get(r["category"], 0) + 1
    load = [0] * k
    cat_fold: dict[str, int] = {}
    for cat in sorted(sizes, key=lambda c: (-sizes[c], c)):
        f = min(range(k), key=lambda i: (load[i], i))
        cat_fold[cat] = f
        load[f] += sizes[cat]
    return [cat_fold[r["category"]] if r["source"] in multi else _fold_of(r, multi, k)
            for r in rows]


def cross_validate(rows: list[dict], k: int = DEFAULT_FOLDS, l2: float = DEFAULT_L2,
                   balance: str = "source", min_cat_share: float = 0.5,
                   constrained: bool = True) -> dict:
    folds = _group_folds(rows, k)
    oof = [0.0] * len(rows)
    for f in range(k):
        tr = [r for r, g in zip(rows, folds) if g != f]
        te_idx = [i for i, g in enumerate(folds) if g == f]
        weights = train(tr, l2=l2, balance=balance, min_cat_share=min_cat_share,
                            constrained=constrained)
        feats = featurise([rows[i] for i in te_idx], weights["common_words"])
        for i, s in zip(te_idx, _scores_from(weights, feats)):
            oof[i] = s
    result: dict = {"grouped_kfold": {"k": k}}
    sources = sorted({r["source"] for r in rows})
    for src in sources:
        idx = [i for i, r in enumerate(rows) if r["source"] == src]
        result["grouped_kfold"][src] = _apgr_pair(rows, idx, oof)
    if len(sources) > 1:
        result["leave_source_out"] = {}
        for src in sources:
            tr = [r for r in rows if r["source"] != src]
            te = [r for r in rows if r["source"] == src]
            weights = train(tr, l2=l2, balance=balance, min_cat_share=min_cat_share,
                            constrained=constrained)
            s = _scores_from(weights, featurise(te, weights["common_words"]))
            result["leave_source_out"][src] = _apgr_pair(te, list(range(len(te))), s)
    return result


def _apgr_pair(rows: list[dict], idx: list[int], scores: list[float]) -> dict:
    weak = [rows[i]["weak_score"] for i in idx]
    strong = [rows[i]["strong_score"] for i in idx]
    return {
        "n": len(idx),
        "apgr_heldout": round(apgr([scores[i] for i in idx], weak, strong), 4),
        "apgr_length_baseline": round(
            apgr([float(len(rows[i]["prompt"])) for i in idx], weak, strong), 4),
    }


# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.train_complexity", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="labelled JSONL file")
    p.add_argument("--out", help="where to write the weights JSON")
    p.add_argument("--l2", type=float, default=DEFAULT_L2, help="L2 strength (default %(default)s)")
    p.add_argument("--balance", choices=("source", "category", "none"), default="source")
    p.add_argument("--common-min-cat-share", type=float, default=0.5)
    p.add_argument("--unconstrained", action="store_true",
                   help="ignore the sign constraints / minimum effects (for comparison)")
    p.add_argument("--cv", action="store_true", help="report held-out APGR (grouped by category)")
    p.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    args = p.parse_args(argv)
    if not args.out and not args.cv:
        p.error("give --out and/or --cv")
    try:
        rows = load_jsonl(args.data)
    except DataError as exc:
        print(f"train_complexity: error: {exc}", file=sys.stderr)
        return 2
    report: dict = {}
    if args.out:
        t0 = time.perf_counter()
        weights = train(rows, l2=args.l2, balance=args.balance,
                        min_cat_share=args.common_min_cat_share,
                        constrained=not args.unconstrained)
        feats = featurise(rows, weights["common_words"])
        scores = _scores_from(weights, feats)
        report["train"] = {}
        for src in sorted({r["source"] for r in rows}):
            idx = [i for i, r in enumerate(rows) if r["source"] == src]
            report["train"][src] = _apgr_pair(rows, idx, scores)
            report["train"][src]["apgr_train"] = report["train"][src].pop("apgr_heldout")
        Path(args.out).write_text(json.dumps(weights, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        report["weights"] = str(args.out)
        report["train_seconds"] = round(time.perf_counter() - t0, 2)
    if args.cv:
        report["cv"] = cross_validate(rows, k=args.folds, l2=args.l2, balance=args.balance,
                                      min_cat_share=args.common_min_cat_share,
                                      constrained=not args.unconstrained)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
