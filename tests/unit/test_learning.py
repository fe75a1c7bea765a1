"""Fitting and judging scorers (routing_engine.learning): the code the label loop's trainer runs.

Every dataset here is synthetic with a known answer, so the tests say whether the fit finds it; none uses
the routing benchmark."""

import json
import math
import random

import pytest

from routing_engine import learning
from routing_engine.learning import LearningError, bootstrap_ci, compare, fit_scorer, route_metrics
from routing_engine.scorer import DENSE_FEATURES, FEATURE_SET, HASH_BUCKETS, FeatureVector, Scorer

D = len(DENSE_FEATURES)
A, B, C = DENSE_FEATURES[0], DENSE_FEATURES[1], DENSE_FEATURES[2]
FREE = {"signs": {}, "floors": {}, "caps": {}}


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def _data(n, logit, seed=1):
    """n vectors with independent standard-normal dense features, bucket 7 in about half of them, and
    soft targets sigmoid(logit(dense, has_bucket_7))."""
    rng = random.Random(seed)
    vectors, targets = [], []
    for _ in range(n):
        dense = tuple(rng.gauss(0.0, 1.0) for _ in range(D))
        has7 = rng.random() < 0.5
        hashed = ((3, 0.5), (7, 1.0)) if has7 else ((3, 0.5),)
        vectors.append(FeatureVector(dense, hashed))
        targets.append(_sigmoid(logit(dense, has7)))
    return vectors, targets


def _scorer_with(coef, name="prior"):
    spec = {
        "version": name,
        "feature_set": FEATURE_SET,
        "intercept": 0.0,
        "dense": {
            "names": list(DENSE_FEATURES),
            "mean": [0.0] * D,
            "scale": [1.0] * D,
            "coef": [coef.get(n, 0.0) for n in DENSE_FEATURES],
        },
        "hashed": {"buckets": HASH_BUCKETS, "coef": []},
    }
    return Scorer.from_spec(spec, name=name)


def test_fit_recovers_a_known_direction_in_dense_and_hashed_features():
    # Given targets driven by +2 on feature A, -1.5 on feature B and +1 when bucket 7 is present
    vectors, targets = _data(3000, lambda d, h: 2.0 * d[0] - 1.5 * d[1] + (1.0 if h else 0.0) - 0.5)
    # When a scorer is fitted without constraints
    s = fit_scorer(vectors, targets, version="t", l2=1.0, l2_hashed=1.0, **FREE)
    coef = s.dense_coef
    hashed = dict(map(tuple, s.spec()["hashed"]["coef"]))
    # Then it finds those effects and (almost) nothing else
    assert coef[A] == pytest.approx(2.0, rel=0.1)
    assert coef[B] == pytest.approx(-1.5, rel=0.1)
    assert max(abs(coef[n]) for n in DENSE_FEATURES[2:]) < 0.15
    assert hashed[7] == pytest.approx(1.0, abs=0.2)
    # and its scores are the probabilities the targets came from
    errs = [abs(s.score(v) - t) for v, t in zip(vectors[:200], targets[:200])]
    assert max(errs) < 0.08


def test_sign_constraints_floors_and_caps_bind_where_the_data_disagrees():
    # Given data where A lowers the target and C raises it strongly
    vectors, targets = _data(1500, lambda d, h: -1.0 * d[0] + 2.0 * d[2])
    # When A must not lower the score, B must raise it by at least 0.3, and C's effect is capped at 0.5
    s = fit_scorer(vectors, targets, version="t", signs={A: 1, B: 1, C: 1}, floors={B: 0.3}, caps={C: 0.5})
    coef = s.dense_coef
    # Then each coefficient sits on its bound
    assert coef[A] == 0.0
    assert coef[B] == pytest.approx(0.3)
    assert coef[C] == pytest.approx(0.5)


def test_a_prior_holds_with_few_labels_and_yields_to_many():
    # Given a prior that puts all its weight on A, and labels that say only B matters
    prior = _scorer_with({A: 1.0})

    def truth(d, _has_bucket_7):
        return 1.5 * d[1]

    few_v, few_t = _data(60, truth, seed=2)
    many_v, many_t = _data(4000, truth, seed=3)
    # When fitted on 60 labels with and without the prior, and on 4,000 labels with it
    with_prior = fit_scorer(few_v, few_t, prior=prior, version="t", **FREE).dense_coef
    without = fit_scorer(few_v, few_t, version="t", **FREE).dense_coef
    many = fit_scorer(many_v, many_t, prior=prior, version="t", **FREE).dense_coef
    # Then few labels leave the prior's A mostly in place, while moving B where the evidence is
    assert with_prior[A] > 0.6
    assert abs(without[A]) < 0.3
    assert 0.1 < with_prior[B] < without[B]
    # and many labels override it
    assert many[A] < 0.3
    assert many[B] == pytest.approx(1.5, rel=0.2)


def test_fit_is_deterministic_and_its_spec_round_trips():
    vectors, targets = _data(500, lambda d, h: d[0] + (0.5 if h else 0.0), seed=4)
    a = fit_scorer(vectors, targets, version="v1", meta={"trained_on": "synthetic"}, name="x")
    b = fit_scorer(vectors, targets, version="v1", meta={"trained_on": "synthetic"}, name="x")
    assert json.dumps(a.spec(), sort_keys=True) == json.dumps(b.spec(), sort_keys=True)
    again = Scorer.from_spec(a.spec())
    assert [again.score(v) for v in vectors[:50]] == [a.score(v) for v in vectors[:50]]
    assert a.name == "x" and a.version == "v1"
    assert a.meta["trained_on"] == "synthetic" and a.meta["labels"] == 500
    assert len(json.dumps(a.spec())) < 40_000


def test_sample_weights_shift_the_fit_toward_the_heavier_rows():
    # Rows where A helps (first half) and rows where it hurts (second half)
    v1, t1 = _data(600, lambda d, h: 1.0 * d[0], seed=5)
    v2, t2 = _data(600, lambda d, h: -1.0 * d[0], seed=6)
    heavy_first = fit_scorer(v1 + v2, t1 + t2, sample_weights=[3.0] * 600 + [1.0] * 600, version="t", **FREE)
    heavy_second = fit_scorer(v1 + v2, t1 + t2, sample_weights=[1.0] * 600 + [3.0] * 600, version="t", **FREE)
    assert heavy_first.dense_coef[A] > 0.3 > -0.3 > heavy_second.dense_coef[A]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"targets": [0.5, 1.5]}, "targets[1]"),
        ({"targets": [0.5, 0.5]}, "single class"),
        ({"targets": [0.0]}, "2 vectors but 1 targets"),
        ({"sample_weights": [1.0, -1.0]}, "sample weights"),
        ({"signs": {"no_such_feature": 1}}, "no_such_feature"),
        ({"vectors": ["text", "more"]}, "vectors[0]"),
    ],
)
def test_bad_training_input_is_refused_with_a_reason(kwargs, message):
    args = {"vectors": [FeatureVector((0.0,) * D, ()), FeatureVector((1.0,) * D, ())], "targets": [0.0, 1.0]}
    args.update(kwargs)
    with pytest.raises(LearningError, match=message.replace("[", r"\[").replace("]", r"\]")):
        fit_scorer(args.pop("vectors"), args.pop("targets"), version="t", **args)


def test_target_from_verdicts():
    assert learning.target_from_verdicts([1, 1]) == 1.0
    assert learning.target_from_verdicts([1, 0]) == 0.5  # position bias cancels out
    assert learning.target_from_verdicts([0.5, 0]) == 0.25
    for bad in ([], [2], [float("nan")], [True]):
        with pytest.raises(LearningError):
            learning.target_from_verdicts(bad)


def test_apgr_and_cpt_match_a_hand_computed_curve():
    # 4 prompts; only the 2nd and 4th by score need the strong model. The curve (share, quality) is
    # (0, .5), (.25, .75), (.5, .75), (.75, 1), (1, 1): area .8125, so APGR = (.8125 - .5) / .5.
    m = route_metrics([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0], [1, 1, 1, 1])
    assert m["apgr"] == pytest.approx(0.625)
    assert m["cpt50"] == pytest.approx(0.25)
    assert m["cpt80"] == pytest.approx(0.5 + 0.25 * 0.3 / 0.5)
    # the same items ranked the other way round recover the gap late
    assert learning.apgr([0.4, 0.3, 0.2, 0.1], [1, 0, 1, 0], [1, 1, 1, 1]) == pytest.approx(0.375)
    # no quality gap, or no items: undefined, not a number
    assert learning.apgr([0.1, 0.2], [1, 1], [1, 1]) is None
    assert learning.apgr([], [], []) is None


def test_resampled_metrics_agree_with_route_metrics():
    rng = random.Random(9)
    scores = [rng.random() for _ in range(300)]
    weak = [float(rng.random() < 0.6) for _ in scores]
    strong = [float(rng.random() < 0.3 + 0.6 * s) for s in scores]
    ranked = learning.RankedScores(scores, weak, strong)
    idx = [rng.randrange(300) for _ in range(300)]
    direct = route_metrics([scores[i] for i in idx], [weak[i] for i in idx], [strong[i] for i in idx])
    fast = ranked.metrics(idx)
    for key in ("apgr", "cpt50", "cpt80"):
        assert fast[key] == pytest.approx(direct[key], abs=1e-12)


def test_bootstrap_interval_is_seeded_contains_the_estimate_and_narrows_with_data():
    rng = random.Random(3)
    small = [rng.gauss(0.0, 1.0) for _ in range(60)]
    large = [rng.gauss(0.0, 1.0) for _ in range(3000)]

    def mean_of(xs):
        return lambda idx: sum(xs[i] for i in idx) / len(idx)

    a = bootstrap_ci(mean_of(small), len(small), resamples=400, seed=1)
    assert a == bootstrap_ci(mean_of(small), len(small), resamples=400, seed=1)
    assert a != bootstrap_ci(mean_of(small), len(small), resamples=400, seed=2)
    assert a[0] <= sum(small) / len(small) <= a[1]
    b = bootstrap_ci(mean_of(large), len(large), resamples=400, seed=1)
    assert b[0] <= sum(large) / len(large) <= b[1]
    assert (b[1] - b[0]) < (a[1] - a[0]) / 3
    # a metric undefined on some resamples is left out, not averaged in
    lo, hi = bootstrap_ci(lambda idx: None if idx[0] % 2 else 1.0, 10, resamples=50)
    assert (lo, hi) == (1.0, 1.0)


@pytest.mark.parametrize("offset", [1.0, 0.0], ids=["strong-usually-better", "even-labels"])
def test_compare_prefers_the_scorer_that_ranks_the_labels_and_pairs_the_resamples(offset):
    # Given labels where A decides whether the strong model's answer is better (with offset 0 the strong
    # model wins as often as it loses: the quality gap APGR divides by is about zero)
    vectors, targets = _data(800, lambda d, h: 3.0 * d[0] + offset, seed=7)
    good = _scorer_with({A: 1.0}, name="good")
    useless = _scorer_with({B: 1.0}, name="useless")
    # When the candidate that follows A is compared with one that follows an unrelated feature
    r = compare(useless, good, vectors, targets, resamples=300)
    # Then it is better, with a paired interval of the difference above zero
    assert r["verdict"] == "better"
    assert r["difference"]["auc_ci"][0] > 0
    if offset:
        assert r["difference"]["ci"][0] > 0
        assert r["candidate"]["apgr"] > r["current"]["apgr"]
        assert r["current"]["ci"][0] <= r["current"]["apgr"] <= r["current"]["ci"][1]
    assert compare(good, useless, vectors, targets, resamples=300)["verdict"] == "worse"
    # and the same scorer against itself differs by exactly nothing on every (shared) resample
    same = compare(good, good, vectors, targets, resamples=100)
    assert same["difference"]["auc"] == 0.0 and same["difference"]["auc_ci"] == [0.0, 0.0]
    assert same["verdict"] == "within noise"


def test_threshold_calibration_hits_the_share():
    vectors, _ = _data(100, lambda d, h: 0.0, seed=8)
    s = _scorer_with({A: 1.0})
    cal = learning.calibrate_threshold(s, vectors, 0.3)
    assert cal["strong_share"] == pytest.approx(0.3, abs=0.011)
    assert sum(s.score(v) >= cal["threshold"] for v in vectors) == round(cal["strong_share"] * 100)
    assert cal["threshold"] == round(cal["threshold"], 4)
    with pytest.raises(LearningError):
        learning.calibrate_threshold(s, vectors, 1.5)


def test_old_metric_imports_keep_working():
    from tools import _metrics

    assert _metrics.route_metrics is route_metrics
    assert _metrics.threshold_for_share([0.1, 0.2, 0.3], 1 / 3) == 0.3
