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
    report = label_learning.gate(targets, folds, cand, cur)
    # Then the gain is the mean per-label gain (2t - 1)(r_candidate - r_serving), as before centring
    mean, d = _uncentred_gain(targets, folds, cand, cur)
    assert math.isclose(report["gain"], mean, abs_tol=1e-6)
    # and its standard error is smaller than the uncentred one's, so the gate has more power
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    assert report["se"] < 0.9 * sd / math.sqrt(n)
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
