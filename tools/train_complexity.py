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
fitted by L2-regularised logistic regression (cross-entropy with soft labels).
The fitted ``sigmoid(f(x))`` estimates ``E[t | x]``, i.e. the score is
``(1 + expected gain of the strong model) / 2`` and ranking by it ranks by
expected gain: a prompt both models get right (or both get wrong) is a 0.5
"no gain" example, one only the strong model gets right is a 1, one only the
weak model gets right is a 0.

Rows are weighted so that every ``source`` carries the same total weight
(``--balance source``, default) so a large benchmark does not drown a small
one; ``--balance category`` equalises categories instead.

Reproducible: pure Python (no numpy), deterministic full-batch Newton
iterations (no random initialisation or sampling).  The "common words" list
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

from tools import _LAMBDAS  # noqa: F401  (puts <repo>/lambdas on sys.path)
from tools._data import DataError, load_jsonl
from tools._metrics import apgr

from routing_engine.complexity import _NUMBER_TOKENS, FEATURE_NAMES, raw_features, word_tokens

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


def fit_logistic(zcols: list[list[float]], y: list[float], w: list[float], l2: float,
                 iters: int = 30, tol: float = 1e-9) -> tuple[float, list[float]]:
    """Minimise sum_i w_i CE(y_i, sigmoid(b + c.x_i)) / sum(w) + l2/2 |c|^2 by Newton."""
    d = len(zcols)
    n = len(y)
    wsum = sum(w)
    wn = [wi / wsum for wi in w]
    mul, add = operator.mul, operator.add
    b = math.log(max(1e-6, sum(map(mul, wn, y))) / max(1e-6, 1 - sum(map(mul, wn, y))))
    c = [0.0] * d
    prev = float("inf")
    for _ in range(iters):
        z = [b] * n
        for a in range(d):
            if c[a]:
                z = list(map(add, z, map(mul, zcols[a], repeat(c[a]))))
        p = [1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)) for v in z]
        loss = 0.0
        for pi, yi, wi in zip(p, y, wn):
            pi = min(max(pi, 1e-12), 1 - 1e-12)
            loss -= wi * (yi * math.log(pi) + (1 - yi) * math.log(1 - pi))
        loss += 0.5 * l2 * sum(v * v for v in c)
        r = [wi * (pi - yi) for wi, pi, yi in zip(wn, p, y)]  # weighted residuals
        h = [wi * pi * (1 - pi) for wi, pi in zip(wn, p)]
        # parameters: [b, c_0..c_{d-1}]; columns with a leading column of ones
        cols = [None] + zcols
        grad = [sum(r)] + [sum(map(mul, r, zcols[a])) + l2 * c[a] for a in range(d)]
        hx = [h] + [list(map(mul, h, zcols[a])) for a in range(d)]
        hess = [[0.0] * (d + 1) for _ in range(d + 1)]
        hess[0][0] = sum(h)
        for a in range(d + 1):
            for bb in range(a, d + 1):
                if a == 0 and bb == 0:
                    continue
                col = cols[bb] if bb else None
                v = sum(hx[a]) if col is None else sum(map(mul, hx[a], col))
                if a and a == bb:
                    v += l2
                hess[a][bb] = hess[bb][a] = v
        step = _solve(hess, grad)
        b -= step[0]
        c = [ci - si for ci, si in zip(c, step[1:])]
        if abs(prev - loss) < tol:
            break
        prev = loss
    return b, c


def featurise(rows: list[dict], common: list[str]) -> list[list[float]]:
    cw = frozenset(w.encode("ascii") for w in common) | _NUMBER_TOKENS
    return [raw_features(r["prompt"], cw) for r in rows]


def train(rows: list[dict], l2: float = DEFAULT_L2, balance: str = "source",
          common: list[str] | None = None, feats: list[list[float]] | None = None,
          min_cat_share: float = 0.5) -> dict:
    """Fit and return a weights dict loadable by ``ComplexityModel``."""
    if common is None:
        common = common_words(rows, min_cat_share=min_cat_share)
    if feats is None:
        feats = featurise(rows, common)
    d = len(FEATURE_NAMES)
    cols = [[f[a] for f in feats] for a in range(d)]
    means, scales = _standardise(cols)
    zcols = [[(x - means[a]) / scales[a] for x in cols[a]] for a in range(d)]
    b, c = fit_logistic(zcols, targets(rows), sample_weights(rows, balance), l2)
    return {
        "version": "1",
        "label": "soft target (1 + strong_score - weak_score) / 2, logistic regression",
        "features": list(FEATURE_NAMES),
        "mean": [round(v, 8) for v in means],
        "scale": [round(v, 8) for v in scales],
        "coef": [round(v, 8) for v in c],
        "intercept": round(b, 8),
        "common_words": common,
        "meta": {"n_train": len(rows), "l2": l2, "balance": balance},
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
                   balance: str = "source", min_cat_share: float = 0.5) -> dict:
    folds = _group_folds(rows, k)
    oof = [0.0] * len(rows)
    for f in range(k):
        tr = [r for r, g in zip(rows, folds) if g != f]
        te_idx = [i for i, g in enumerate(folds) if g == f]
        weights = train(tr, l2=l2, balance=balance, min_cat_share=min_cat_share)
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
            weights = train(tr, l2=l2, balance=balance, min_cat_share=min_cat_share)
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
                        min_cat_share=args.common_min_cat_share)
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
                                      min_cat_share=args.common_min_cat_share)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
