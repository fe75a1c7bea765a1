"""How a route's scorer is learned from its judged labels, and when a new one is proposed (pure Python: it runs in
the scorer trainer Lambda).

One call, :func:`learn`, on the labels' feature vectors (what the labeller stores: no text), their targets (the
share of the judge's verdicts that favour the strong model, a tie 0.5) and their keys (request ids):

1. **Folds.** Every label falls in one of ``FOLDS`` folds by a hash of its stored features (``prompt_key``;
   deterministic: the same label is in the same fold on every run, and a prompt judged twice, or by several weak
   models, is one prompt in one fold).
2. **Features.** The dense features, standardised on the training labels; the hashed tokens (word unigrams and
   bigrams, CJK bigrams) weighted by their inverse document frequency among the training labels, counted from the
   stored vectors (``idf = ln((1 + n) / (1 + df)) + 1``; a bucket seen in fewer than ``MIN_DF`` labels is left
   out). The serving scorer's logit is *not* a feature by default (``with_base=True`` adds it, as
   ``learning.fit_scorer``'s ``base``): on judged chat instructions the bundled scorer ranks below random, and as
   a feature it cost the learned scorer about 0.006 APGR at 500 labels (0.533 with it, 0.539 without, the TF-IDF
   reference 0.539; 5 splits); the gate still compares the candidate with the serving scorer. No sign
   constraint, floor or cap: on judged chat traffic longer prompts need the strong model slightly *less*, which
   a constraint would forbid.
3. **Regularisation by cross-validation.** For each setting of (dense L2, hashed L2) tried (at
   ``L2_DENSE_GRID[0]``, the two middle values of ``L2_HASHED_GRID`` and then further along the grid while the
   loss falls; then the other dense strengths at the best hashed one), one fit per fold on the other folds; the
   setting with the lowest cross-validated soft-label cross-entropy wins.
4. **The gate: a paired, per-prompt comparison on every label, out of fold.** For the winning setting, each
   label has a score from a model that did not see it. Within each fold both scorers' scores become percentile
   ranks ``r`` in [0, 1] (ties share their mid-rank). Sending label i to the strong model gains
   ``g_i = 2 t_i - 1`` (the routing metrics' outcome pair for target t); a routing curve's mean quality over all
   strong-call shares is ``mean(weak) + mean(g_i r_i)`` (each label goes strong for a share r_i of the
   thresholds), so the candidate's gain over the serving scorer is the mean of the per-label differences
   ``d_i = g_i (r_cand_i - r_serving_i)``. Both rank sets of a fold have the same sum, so ``g_i`` may be centred
   on the fold's mean (``2 (t_i - mean t)``) without changing the mean of ``d``, only its variance (large when
   most labels favour one model). **Proposed** when the one-sided 97.5% lower bound ``mean - 1.96 se`` is above
   0, with ``se = sqrt(CROSS_FIT_VARIANCE) sd(d) / sqrt(n)``. The factor: out-of-fold scores are not
   independent. Fold k's model learnt fold j's targets and fold j's model learnt fold k's, so a chance
   agreement between the targets of two folds is counted twice, once in each fold's ``d``, while ``sd(d)``
   sees it once. For a model linear in its targets with a symmetric influence (ridge-like: a heavily
   regularised logistic fit is close) that part of the variance is twice what ``sd(d)`` estimates, the part
   from the serving scorer's ranks is estimated right, so the true variance is at most twice the per-label
   one. Measured on shuffled verdicts (no signal), the per-label z spread with a root mean square of 1.51 on
   MMLU at 2,000 labels and 1.17 on chat at 500 (1.41 expected when the learnt part dominates), and 2 of 17
   MMLU runs passed the uncorrected bound; corrected, 0 of 40 MMLU and 0 of 23 chat runs are proposed, and 17
   of 21 MMLU splits whose fresh prompts gained at least 0.02 APGR (README, "What N judged labels buy").
   Every label counts, and labels both scorers rank alike cancel out of the variance.
5. **The candidate** is then fitted on all labels with the chosen setting (its quality is what step 4
   estimated for the procedure).

Cost: 4 or 5 settings x ``FOLDS`` fits, plus one (measured in the README: 2,000 and 10,000 labels).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from routing_engine import learning

__all__ = [
    "FOLDS",
    "CROSS_FIT_VARIANCE",
    "GATE_Z",
    "L2_DENSE_GRID",
    "L2_HASHED_GRID",
    "MAX_SPEC_HASHED",
    "MIN_DF",
    "LearnResult",
    "fold_of",
    "gate",
    "idf_weights",
    "learn",
    "percentile_ranks",
    "prompt_key",
]

FOLDS = 4
MIN_DF = 2
# At most this many hashed weights in a learned spec (~20 bytes each in the routing configuration: ~240 KB).
MAX_SPEC_HASHED = 12_000
# L2 strengths in rows of evidence (learning.fit_scorer): hashed tokens (idf-weighted, count / sqrt(n) values,
# so a typical token's value is about 1) and the dense features (standardised). A light dense penalty lets the
# dense features decide; a heavy one leaves the tokens and the serving scorer's logit to do it.
L2_HASHED_GRID = (2.0, 8.0, 32.0, 128.0, 512.0)
L2_DENSE_GRID = (300.0, 3.0)
# One-sided 97.5%: a candidate is proposed when its gain's lower confidence bound (mean - GATE_Z * se) is above
# 0, so a candidate no better than the serving scorer is proposed in at most 2.5% of runs. At one-sided 95%
# (z = 1.645) 2 of 20 runs on shuffled chat verdicts were proposed (z 1.75 and 1.84): README, "the gate".
GATE_Z = 1.959964
# The gate's variance over the per-label one: each pair of labels in different folds enters the out-of-fold gain
# twice (each fold's model learnt the other's targets), so the per-label variance is at most half the true one
# (module docstring, step 4).
CROSS_FIT_VARIANCE = 2.0


def fold_of(key: str, folds: int = FOLDS) -> int:
    """The fold of a label: the first 8 bytes of SHA-256(key) modulo ``folds``."""
    return int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "big") % folds


def prompt_key(v: Any) -> str:
    """What identifies a prompt among stored vectors (no text is stored): its features. Folds are drawn by it,
    so a prompt judged more than once (by several weak models, or asked twice) is one prompt in one fold: with
    folds by request id its copies sat on both sides, and the gate and the cross-validation scored memorised
    prompts (on chat-dev, where every instruction is judged against 4 weak models, the gate's z fell from about
    3.5 to 2 when this was fixed)."""
    return repr((tuple(v.dense), tuple(v.hashed)))


def idf_weights(vectors: Sequence[Any], min_df: int = MIN_DF) -> dict[int, float]:
    """Smoothed inverse document frequency of every hashed bucket present in at least ``min_df`` vectors."""
    df: Counter[int] = Counter()
    for v in vectors:
        df.update(k for k, x in v.hashed if x)
    n = len(vectors)
    return {k: math.log((1.0 + n) / (1.0 + c)) + 1.0 for k, c in df.items() if c >= min_df}


def percentile_ranks(scores: Sequence[float]) -> list[float]:
    """Mid-ranks scaled to [0, 1] (0 the lowest score, 1 the highest; ties share their mean rank)."""
    n = len(scores)
    if n < 2:
        return [0.5] * n
    order = sorted(range(n), key=scores.__getitem__)
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid = (i + j) / 2.0 / (n - 1)
        for k in range(i, j + 1):
            ranks[order[k]] = mid
        i = j + 1
    return ranks


def gate(
    targets: Sequence[float],
    folds: Sequence[int],
    candidate: Sequence[float],
    current: Sequence[float],
    *,
    z: float = GATE_Z,
    variance_factor: float = CROSS_FIT_VARIANCE,
) -> dict:
    """The paired per-prompt comparison of step 4 (module docstring): {"gain", "ci", "se", "z", "n", "proposed",
    ...}; ``se`` includes ``variance_factor`` (the cross-fitting correction), ``z`` is ``gain / se``."""
    n = len(targets)
    d = [0.0] * n
    groups: dict[int, list[int]] = {}
    for i, f in enumerate(folds):
        groups.setdefault(f, []).append(i)
    for idx in groups.values():
        rc = percentile_ranks([candidate[i] for i in idx])
        rs = percentile_ranks([current[i] for i in idx])
        # Within a fold both rank sets have the same sum, so the gains may be centred on the fold's mean target
        # without changing the mean of d: (2 t - 1) and 2 (t - mean t) give the same sum, the second with less
        # variance when the targets lean one way (most labels favour one model).
        centre = math.fsum(targets[i] for i in idx) / len(idx)
        for i, a, b in zip(idx, rc, rs):
            d[i] = 2.0 * (targets[i] - centre) * (a - b)
    if n < 2:
        return {"statistic": "rank-weighted gain", "gain": None, "ci": None, "se": None, "n": n, "proposed": False}
    mean = math.fsum(d) / n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1))
    se = sd * math.sqrt(variance_factor / n)
    lo, hi = mean - z * se, mean + z * se
    return {
        "statistic": "rank-weighted gain",
        "gain": round(mean, 6),
        "ci": [round(lo, 6), round(hi, 6)],
        "se": round(se, 6),
        "z": round(mean / se, 3) if se > 0 else None,
        "n": n,
        "folds": len(groups),
        "variance_factor": variance_factor,
        "proposed": lo > 0,
    }


@dataclass
class LearnResult:
    candidate: Any  # the Scorer fitted on all labels with the chosen setting
    setting: dict  # {"l2", "l2_hashed"}
    gate: dict  # gate()'s figures
    out_of_fold: list[float]  # every label's candidate score from the fold model that did not see it
    current: list[float]  # the serving scorer's scores of the same labels
    cv: list[dict] = field(default_factory=list)  # [{"l2", "l2_hashed", "cross_entropy"}] per setting tried
    seconds: float = 0.0
    folds: list[int] = field(default_factory=list)  # every label's fold (-1: in no usable fold)
    cv_logits: list[list[float]] = field(default_factory=list)  # per setting tried (cv's order): out-of-fold logits


def _cross_entropy(logits: Sequence[float], targets: Sequence[float]) -> float:
    total = 0.0
    for z, t in zip(logits, targets):
        total += (z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))) - t * z
    return total


def _fit(vectors, targets, *, setting: dict, base: Any, version: str, meta=None, name: str = ""):
    """One fit of the recipe; every fit (fold or final) keeps at most MAX_SPEC_HASHED hashed weights, so the folds
    judge the scorer that would be proposed, and no fit is refused as too large (Scorer.from_spec)."""
    return learning.fit_scorer(
        vectors,
        targets,
        l2=setting["l2"],
        l2_hashed=setting["l2_hashed"],
        signs={},
        floors={},
        caps={},
        idf=idf_weights(vectors),
        base=base,
        version=version,
        meta=meta,
        name=name,
        max_hashed=MAX_SPEC_HASHED,
        tol=1e-6,
        max_iter=40,
    )


def learn(
    vectors: Sequence[Any],
    targets: Sequence[float],
    keys: Sequence[str],
    *,
    current: Any,
    version: str,
    meta: dict | None = None,
    name: str = "",
    folds: int = FOLDS,
    l2_hashed_grid: Sequence[float] = L2_HASHED_GRID,
    l2_dense_grid: Sequence[float] = L2_DENSE_GRID,
    with_base: bool = False,
) -> LearnResult:
    """Steps 1-5 of the module docstring. ``current``: the serving scorer (the gate's reference; with
    ``with_base``, also a feature when it computes the vectors' feature set). Raises learning.LearningError when nothing can be fitted
    (every target equal, too few labels for the folds)."""
    started = time.perf_counter()
    n = len(vectors)
    if n != len(targets) or n != len(keys):
        raise learning.LearningError(f"{n} vectors, {len(targets)} targets and {len(keys)} keys: they must match")
    t = [float(x) for x in targets]
    if n < 2 * folds:
        raise learning.LearningError(f"{n} labels are too few for {folds} folds")
    if max(t) - min(t) < 1e-12:
        raise learning.LearningError(f"every target is {t[0]}: a single class, nothing to learn")
    fold = [fold_of(prompt_key(v), folds) for v in vectors]
    same_source = getattr(current, "source", None) is not None and current.source.feature_set == getattr(
        vectors[0], "feature_set", None
    )
    base = current if same_source and with_base else None
    cur_scores = [current.score(v) for v in vectors]
    parts = []
    for f in range(folds):
        train = [i for i in range(n) if fold[i] != f]
        test = [i for i in range(n) if fold[i] == f]
        if test and len({t[i] for i in train}) > 1:
            parts.append((train, test))
    if len(parts) < 2:
        raise learning.LearningError("the labels leave fewer than two usable folds")

    def cross_fit(setting: dict) -> tuple[float, list[float]]:
        oof = [0.0] * n
        loss = 0.0
        for train, test in parts:
            model = _fit([vectors[i] for i in train], [t[i] for i in train], setting=setting, base=base, version="cv")
            z = [model.logit(vectors[i]) for i in test]
            loss += _cross_entropy(z, [t[i] for i in test])
            for i, zi in zip(test, z):
                oof[i] = zi
        return loss / sum(len(te) for _, te in parts), oof

    tried: list[tuple[float, dict, list[float]]] = []

    def attempt(lam_d: float, lam_h: float) -> float:
        setting = {"l2": float(lam_d), "l2_hashed": float(lam_h)}
        loss, oof = cross_fit(setting)
        tried.append((loss, setting, oof))
        return loss

    # The hashed strength: the two middle values of the grid, then one step further the way the loss falls.
    grid = sorted(float(x) for x in l2_hashed_grid)
    mid = max(0, len(grid) // 2 - 1)
    losses = {k: attempt(l2_dense_grid[0], grid[k]) for k in range(mid, min(mid + 2, len(grid)))}
    step = -1 if losses[mid] <= losses.get(mid + 1, math.inf) else 1
    k = (mid if step < 0 else mid + 1) + step
    while 0 <= k < len(grid):
        losses[k] = attempt(l2_dense_grid[0], grid[k])
        if losses[k] >= losses[k - step]:
            break
        k += step
    best_h = min(tried, key=lambda x: x[0])[1]["l2_hashed"]
    for lam_d in l2_dense_grid[1:]:
        setting = {"l2": float(lam_d), "l2_hashed": best_h}
        loss, oof = cross_fit(setting)
        tried.append((loss, setting, oof))
    loss, setting, oof = min(tried, key=lambda x: x[0])
    held = sorted(i for _, te in parts for i in te)
    held_set = set(held)
    report = gate([t[i] for i in held], [fold[i] for i in held], [oof[i] for i in held], [cur_scores[i] for i in held])
    candidate = _fit(
        vectors,
        t,
        setting=setting,
        base=base,
        version=version,
        meta=meta,
        name=name,
    )
    return LearnResult(
        candidate=candidate,
        setting=setting,
        gate=report,
        out_of_fold=[1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0 for z in oof],
        current=cur_scores,
        cv=[{**s, "cross_entropy": round(lo, 6)} for lo, s, _ in tried],
        seconds=time.perf_counter() - started,
        folds=[fold[i] if i in held_set else -1 for i in range(n)],
        cv_logits=[o for _, _, o in tried],
    )
