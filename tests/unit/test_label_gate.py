"""The trainer's acceptance gate (routing_engine.label_learning.gate): what it estimates and when it proposes."""

from __future__ import annotations

import math
import random

from routing_engine import label_learning


def _uncentred_gain(targets, folds, cand, cur):
    d = []
    for f in set(folds):
        idx = [i for i, x in enumerate(folds) if x == f]
        rc = label_learning.percentile_ranks([cand[i] for i in idx])
        rs = label_learning.percentile_ranks([cur[i] for i in idx])
        d.extend((2 * targets[i] - 1) * (a - b) for i, a, b in zip(idx, rc, rs))
    return sum(d) / len(d), d


def test_the_gain_is_the_routing_curve_gain_and_centring_only_narrows_its_interval():
    # Given labels that mostly favour the strong model (as judged chat labels do) and a candidate that ranks
    # the strong-model labels a little higher than the serving scorer does
    rng = random.Random(3)
    n = 2000
    targets = [1.0 if rng.random() < 0.8 else rng.choice((0.0, 0.5)) for _ in range(n)]
    folds = [i % 4 for i in range(n)]
    cur = [rng.random() for _ in range(n)]
    cand = [c + 0.15 * t + rng.gauss(0, 0.3) for c, t in zip(cur, targets)]
    report = label_learning.gate(targets, folds, cand, cur, variance_factor=1.0)
    # Then the gain is the mean per-label gain (2t - 1)(r_candidate - r_serving), as before centring
    mean, d = _uncentred_gain(targets, folds, cand, cur)
    assert math.isclose(report["gain"], mean, abs_tol=1e-6)
    # and its standard error is smaller than the uncentred one's, so the gate has more power
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    assert report["se"] < 0.9 * sd / math.sqrt(n)
    # and the gate as the trainer runs it widens that standard error by the cross-fitting factor, same gain
    default = label_learning.gate(targets, folds, cand, cur)
    assert default["gain"] == report["gain"]
    assert math.isclose(default["se"], report["se"] * math.sqrt(label_learning.CROSS_FIT_VARIANCE), rel_tol=1e-3)
    report = default
    # and it is proposed because the one-sided lower bound (gain - 1.96 se) is above 0
    assert report["proposed"] and math.isclose(
        report["ci"][0], report["gain"] - label_learning.GATE_Z * report["se"], abs_tol=1e-5
    )


def test_a_candidate_unrelated_to_the_labels_is_rarely_proposed():
    # Given 200 runs where the candidate's scores have nothing to do with the targets
    rng = random.Random(11)
    proposed = 0
    for _ in range(200):
        n = 400
        targets = [rng.choice((0.0, 0.5, 1.0, 1.0)) for _ in range(n)]
        folds = [i % 4 for i in range(n)]
        cur = [rng.random() for _ in range(n)]
        cand = [rng.random() for _ in range(n)]
        proposed += label_learning.gate(targets, folds, cand, cur)["proposed"]
    # Then it is proposed in about 2.5% of them (one-sided test), far from the 50% a coin would give
    assert proposed <= 12


def _cross_fitted_null(rng: random.Random, n: int = 400, folds: int = 4) -> tuple[list, list, list, list]:
    """One run of the trainer's situation with no signal: targets unrelated to the prompts, and each fold's
    "model" learnt from the other folds' targets (a prompt's score is the mean target of the training labels of
    its topic, a linear smoother like a heavily regularised fit), so two folds' models learnt each other's
    targets."""
    topic = [rng.randrange(n // 8) for _ in range(n)]
    targets = [rng.choice((0.0, 0.5, 0.5, 1.0)) for _ in range(n)]
    fold = [rng.randrange(folds) for _ in range(n)]
    cand = [0.0] * n
    for f in range(folds):
        sums: dict[int, list[float]] = {}
        for i in range(n):
            if fold[i] != f:
                sums.setdefault(topic[i], []).append(targets[i] - 0.5)
        for i in range(n):
            if fold[i] == f:
                xs = sums.get(topic[i], [])
                cand[i] = sum(xs) / (len(xs) + 2.0) + 1e-9 * rng.random()
    cur = [rng.random() for _ in range(n)]
    return targets, fold, cand, cur


def test_the_cross_fitting_factor_keeps_a_learnt_candidate_without_signal_at_its_error_rate():
    # Given 300 runs where each fold's candidate learnt the other folds' targets and the targets carry no signal
    rng = random.Random(5)
    naive = corrected = 0
    zs = []
    for _ in range(300):
        targets, fold, cand, cur = _cross_fitted_null(rng)
        plain = label_learning.gate(targets, fold, cand, cur, variance_factor=1.0)
        zs.append(plain["z"])
        naive += plain["proposed"]
        corrected += label_learning.gate(targets, fold, cand, cur)["proposed"]
    # Then the per-label standard error is too small: the z values spread wider than a standard normal's (here
    # 1.25: half of the variance is the serving scorer's ranks, estimated right), and the uncorrected gate
    # proposes about twice as often as its nominal 2.5% (7.5 of 300)
    rms = math.sqrt(sum(z * z for z in zs) / len(zs))
    assert rms > 1.15
    assert naive >= 14
    # and with the cross-fitting factor it proposes at most at its nominal rate
    assert corrected <= 8
