"""The offline routing evaluation / calibration tool (tools.routing_eval) and the trainer (tools.train_complexity).

No test here asserts quality on data a scorer was trained on: quality is asserted out of sample, on
synthetic data whose rule is known."""

import json
import random

import pytest

from routing_engine import learning, scorer
from tools import routing_eval, train_complexity
from tools._metrics import route_metrics

# 10 items: 3 where only the strong model is right, 7 where both are right.
# weak quality 0.7, strong 1.0.
OUTCOMES = [(0.0, 1.0)] * 3 + [(1.0, 1.0)] * 7
FILLER = (
    "table chair window garden river paper music coffee window orange yellow simple people "
    "morning letter summer travel market street picture"
).split()


def _rows(prompts=None):
    prompts = prompts or [f"prompt {i}" for i in range(len(OUTCOMES))]
    return [
        {"id": f"x{i}", "source": "toy", "category": "toy", "prompt": p, "weak_score": w, "strong_score": s}
        for i, (p, (w, s)) in enumerate(zip(prompts, OUTCOMES))
    ]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _database_rule_rows(n=400, seed=0):
    """Prompts whose length says nothing and whose topic says everything: the weak model fails exactly
    the prompts about databases. A multi-category source ("exam", 8 categories) and a single-category one
    ("maths")."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hard = rng.random() < 0.3
        words = [rng.choice(FILLER) for _ in range(rng.randint(4, 40))]
        words.insert(rng.randrange(len(words) + 1), "database" if hard else "holiday")
        source = "exam" if i % 4 else "maths"
        rows.append(
            {
                "id": f"r{i}",
                "source": source,
                "category": f"subject-{i % 8}" if source == "exam" else "maths",
                "prompt": " ".join(words).capitalize() + "?",
                "weak_score": 0.0 if hard else 1.0,
                "strong_score": 1.0,
            }
        )
    return rows


def test_oracle_score_gets_the_maximal_apgr_and_reversed_a_low_one():
    rows = _rows()
    oracle = [r["strong_score"] - r["weak_score"] for r in rows]
    m = routing_eval.evaluate(rows, oracle, resamples=50)["toy"]["scorer"]
    # Curve (0, .7) -> (.3, 1.0) -> (1, 1.0): APGR = 1 - 0.3 / 2.
    assert m["apgr"] == pytest.approx(0.85)
    assert m["cpt50"] == pytest.approx(0.15)
    assert m["cpt80"] == pytest.approx(0.24)
    rev = routing_eval.evaluate(rows, [-s for s in oracle], resamples=50)["toy"]["scorer"]
    assert rev["apgr"] == pytest.approx(0.15)
    # constant score = random-like straight line
    const = route_metrics([0.5] * 10, [w for w, _ in OUTCOMES], [s for _, s in OUTCOMES])
    assert const["apgr"] == pytest.approx(0.5)


def test_every_figure_has_an_interval_containing_it_that_narrows_with_data_and_is_seeded():
    # Given a noisy score on 100 and on 2,000 items drawn the same way
    def group(n, seed):
        rng = random.Random(seed)
        scores, weak, strong = [], [], []
        for _ in range(n):
            need = rng.random() < 0.3
            scores.append(rng.random() + (0.5 if need else 0.0))
            weak.append(0.0 if need else 1.0)
            strong.append(1.0)
        return scores, [float(len(str(s))) for s in scores], weak, strong

    small = routing_eval.figures(*group(100, 1), resamples=300, seed=5)
    large = routing_eval.figures(*group(2000, 2), resamples=300, seed=5)
    for fig in (small, large):
        for who in ("scorer", "length_baseline", "random"):
            for m in ("apgr", "cpt50", "cpt80"):
                lo, hi = fig[who][f"{m}_ci"]
                assert lo <= fig[who][m] <= hi, (who, m)
    width = lambda fig: fig["scorer"]["apgr_ci"][1] - fig["scorer"]["apgr_ci"][0]  # noqa: E731
    assert width(large) < width(small) / 2
    # random routing: expectation 0.5, with the spread of a no-skill router on this many items
    assert small["random"]["apgr"] == 0.5
    assert small["random"]["apgr_ci"][0] < 0.5 < small["random"]["apgr_ci"][1]
    # same seed, same intervals; another seed, other intervals
    assert routing_eval.figures(*group(100, 1), resamples=300, seed=5) == small
    assert (
        routing_eval.figures(*group(100, 1), resamples=300, seed=6)["scorer"]["apgr_ci"] != small["scorer"]["apgr_ci"]
    )


def test_category_folds_hold_out_whole_subjects_and_split_single_category_sources_by_item():
    rows = _database_rule_rows(200)
    splits = routing_eval.make_splits(rows, "category", 5)
    tested = [i for sp in splits for i in sp["test"]]
    assert sorted(tested) == list(range(len(rows)))  # every item scored exactly once
    for sp in splits:
        train, test = set(sp["train"]), set(sp["test"])
        assert not train & test
        assert train | test == set(range(len(rows)))
        train_subjects = {rows[i]["category"] for i in train if rows[i]["source"] == "exam"}
        test_subjects = {rows[i]["category"] for i in test if rows[i]["source"] == "exam"}
        assert not train_subjects & test_subjects
    # the single-category source is spread over the folds, not held out whole
    assert sum(any(rows[i]["source"] == "maths" for i in sp["test"]) for sp in splits) == 5


def test_source_and_holdout_splits_never_train_on_what_they_score():
    rows = _database_rule_rows(200)
    for sp in routing_eval.make_splits(rows, "source"):
        assert {rows[i]["source"] for i in sp["train"]}.isdisjoint({rows[i]["source"] for i in sp["test"]})
    (sp,) = routing_eval.make_splits(rows, holdout_by="category", holdout=["subject-1", "subject-2"])
    assert {rows[i]["category"] for i in sp["test"]} == {"subject-1", "subject-2"}
    assert not {rows[i]["category"] for i in sp["train"]} & {"subject-1", "subject-2"}


def test_out_of_sample_scores_come_from_models_that_never_saw_the_item(monkeypatch):
    # Given a spy on the trainer
    rows = _database_rule_rows(200)
    vectors = [train_complexity.vectorize_prompt(r["prompt"]) for r in rows]
    seen = []
    real_train = train_complexity.train

    def spy(train_rows, *args, **kwargs):
        seen.append({r["id"] for r in train_rows})
        return real_train(train_rows, *args, **kwargs)

    monkeypatch.setattr(train_complexity, "train", spy)
    # When scores are computed out of sample by category folds
    splits = routing_eval.make_splits(rows, "category", 5)
    scores = routing_eval.out_of_sample_scores(rows, vectors, splits, train_complexity.default_settings())
    # Then each fold's model was trained on none of the items it scored, and every item has a score
    assert len(seen) == len(splits)
    for trained_ids, sp in zip(seen, splits):
        assert trained_ids.isdisjoint({rows[i]["id"] for i in sp["test"]})
    assert all(s is not None for s in scores)


def test_out_of_sample_scorer_learns_a_rule_length_cannot_see(tmp_path, capsys):
    # Given prompts where only the topic decides whether the weak model fails
    data = _write(tmp_path / "d.jsonl", _database_rule_rows(400))
    # When evaluated with subjects held out, the models trained with hashed word features
    assert routing_eval.main(["--data", str(data), "--cv", "category", "--hashed", "on", "--resamples", "300"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    # Then the out-of-sample scorer beats the length baseline, with an interval that excludes it
    overall = report["overall"]
    assert report["evaluation"]["in_sample"] is False
    assert overall["n"] == 400
    assert overall["vs_length_baseline"]["beats_length_baseline"] == "yes"
    assert overall["scorer"]["apgr_ci"][0] > overall["length_baseline"]["apgr"]
    assert overall["scorer"]["apgr_ci"][0] > overall["random"]["apgr_ci"][1]
    assert report["evaluation"]["training_settings"]["hashed"] is True
    assert "beats length?" in captured.err and "overall" in captured.err


def test_cli_reports_per_source_overall_baselines_and_writes_scores(tmp_path, capsys):
    rows = _rows() + [dict(r, id="y" + r["id"], source="other") for r in _rows()]
    data = _write(tmp_path / "d.jsonl", rows)
    out = tmp_path / "scores.jsonl"
    assert routing_eval.main(["--data", str(data), "--scores-out", str(out), "--resamples", "50"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"evaluation", "toy", "other", "overall"}
    assert report["overall"]["n"] == 20
    for key in ("scorer", "length_baseline", "random"):
        assert set(report["toy"][key]) == {"apgr", "cpt50", "cpt80", "apgr_ci", "cpt50_ci", "cpt80_ci"}
    assert report["toy"]["random"]["apgr"] == 0.5
    # "prompt 0" .. "prompt 9" have one length and one score: neither ranks, so the difference is exactly 0
    assert report["toy"]["vs_length_baseline"] == {
        "apgr_difference": 0.0,
        "ci": [0.0, 0.0],
        "beats_length_baseline": "within noise",
    }
    lines = out.read_text().splitlines()
    assert len(lines) == 20
    first = json.loads(lines[0])
    assert first["id"] == "x0"
    assert first["score"] == pytest.approx(scorer.bundled().score(train_complexity.vectorize_prompt(rows[0]["prompt"])))


def test_trainer_is_deterministic_and_the_evaluator_flags_its_training_file_as_in_sample(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _database_rule_rows(120))
    other = _write(tmp_path / "e.jsonl", _database_rule_rows(120, seed=1))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert train_complexity.main(["--data", str(data), "--out", str(a), "--l2-hashed", "5"]) == 0
    assert train_complexity.main(["--data", str(data), "--out", str(b), "--l2-hashed", "5"]) == 0
    assert a.read_bytes() == b.read_bytes()
    trained = scorer.Scorer.from_spec(json.loads(a.read_text()))
    assert train_complexity.settings_of(trained)["l2_hashed"] == 5.0
    assert train_complexity.settings_of(trained)["hashed"] is True
    dense_only = tmp_path / "dense.json"
    assert train_complexity.main(["--data", str(data), "--out", str(dense_only), "--no-hashed"]) == 0
    dense = scorer.Scorer.from_spec(json.loads(dense_only.read_text()))
    assert dense.spec()["hashed"]["coef"] == [] and dense.version.endswith("-dense")
    # the evaluator trains its out-of-sample models the way the scorer it is given was trained
    assert train_complexity.settings_of(dense)["hashed"] is False
    assert trained.meta["trained_on"]["rows"] == 120
    capsys.readouterr()
    assert routing_eval.main(["--data", str(data), "--weights", str(a), "--resamples", "20"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["evaluation"]["in_sample"] is True and "in-sample" in report["evaluation"]["warning"]
    assert routing_eval.main(["--data", str(other), "--weights", str(a), "--resamples", "20"]) == 0
    assert json.loads(capsys.readouterr().out)["evaluation"]["in_sample"] is False


def test_calibration_hits_requested_share_and_prints_the_rule(tmp_path, capsys):
    prompts = [
        "Hi",
        "What time is it?",
        "Translate 'cat' to French.",
        "Name a primary colour.",
        "Sam has 3 apples and buys 12 more at $2 each. He gives 1/4 away. How many are left?",
        "Explain why the sky is blue in two sentences.",
        "A train leaves at 3 pm going 60 mph; another leaves at 4 pm going 80 mph. "
        "When does the second catch up, and how far have they travelled? Show the steps.",
        "List three fruits.",
        "Is 17 prime?",
        "Which of the following is NOT a mammal?\nA. Whale\nB. Bat\nC. Shark\nD. Dog\nAnswer:",
    ]
    data = _write(tmp_path / "d.jsonl", _rows(prompts))
    args = [
        "--data",
        str(data),
        "--calibrate",
        "--target-strong-share",
        "0.3",
        "--strong-model",
        "big",
        "--weak-model",
        "small",
        "--resamples",
        "20",
    ]
    assert routing_eval.main(args) == 0
    captured = capsys.readouterr()
    cal = json.loads(captured.out)["calibration"]
    assert cal["strong_share"] == pytest.approx(0.3)
    th = cal["threshold"]
    assert th == round(th, 4)
    bundled = scorer.bundled()
    assert sum(bundled.score(train_complexity.vectorize_prompt(p)) >= th for p in prompts) == 3
    assert cal["appconfig_snippet"] == {
        "dynamic": {
            "scorer": "bundled",
            "rules": [{"id": "complexity-to-strong", "when": {"complexity": {"gte": th}}, "target": {"model": "big"}}],
            "default": {"model": "small"},
        }
    }
    assert cal["scorer"]["version"] == bundled.version
    assert '"complexity-to-strong"' in captured.err


def test_calibration_by_pgr_reaches_the_target(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _rows([f"q {i} " + "why? " * i for i in range(10)]))
    assert routing_eval.main(["--data", str(data), "--calibrate", "--target-pgr", "0.8", "--resamples", "20"]) == 0
    cal = json.loads(capsys.readouterr().out)["calibration"]
    assert cal["pgr"] >= 0.8
    assert cal["appconfig_snippet"]["dynamic"]["default"] == {"model": "claude-haiku"}


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"prompt": "a", "weak_score": 1, "strong_score": 1}\n{not json}\n', ":2:"),
        ('{"prompt": "a", "weak_score": 1, "strong_score": 1}\n\n{"prompt": "b"}\n', ":3:"),
        ('{"prompt": "a", "weak_score": "x", "strong_score": 1}\n', ":1:"),
    ],
    ids=["bad-json", "missing-field", "bad-number"],
)
def test_malformed_input_exits_2_naming_the_line(tmp_path, capsys, content, expected):
    data = tmp_path / "bad.jsonl"
    data.write_text(content)
    assert routing_eval.main(["--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def _one_class_then_mixed():
    # source "flat": both models always right (every target 0.5); source "mixed": some gains
    flat = [
        {
            "id": f"f{i}",
            "source": "flat",
            "category": "flat",
            "prompt": f"hello {i}",
            "weak_score": 1.0,
            "strong_score": 1.0,
        }
        for i in range(20)
    ]
    return flat + [dict(r, source="mixed", category="mixed") for r in _rows()]


@pytest.mark.parametrize(
    "args, rows, expected",
    [
        (["--cv", "subject"], None, "unknown --cv value 'subject'"),
        (["--cv", "source"], None, "needs at least two sources"),
        (["--holdout-by", "source", "--holdout", "nope"], None, "no rows with source 'nope'"),
        (["--holdout-by", "model", "--holdout", "x"], None, "unknown --holdout-by value"),
        (["--holdout", "x"], None, "--holdout needs --holdout-by"),
        (["--cv", "source"], _one_class_then_mixed(), "single class"),
        (["--weights", "/nonexistent/spec.json"], None, "weights file not found"),
        (["--resamples", "0"], None, "--resamples"),
    ],
    ids=[
        "unknown-cv",
        "one-source",
        "unknown-holdout",
        "bad-holdout-by",
        "holdout-alone",
        "fold-one-class",
        "missing-weights",
        "no-resamples",
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, args, rows, expected):
    data = _write(tmp_path / "d.jsonl", rows or _rows())
    assert routing_eval.main(["--data", str(data), *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_exits_2(tmp_path, capsys):
    assert routing_eval.main(["--data", str(tmp_path / "nope.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
    assert train_complexity.main(["--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.json")]) == 2


def test_trainer_refuses_a_single_class_file(tmp_path, capsys):
    rows = [dict(r, weak_score=1.0, strong_score=1.0) for r in _rows()]
    data = _write(tmp_path / "d.jsonl", rows)
    assert train_complexity.main(["--data", str(data), "--out", str(tmp_path / "o.json")]) == 2
    assert "single class" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()
    with pytest.raises(learning.LearningError):
        train_complexity.train(rows)


def test_a_length_floor_makes_the_score_lean_on_length_and_the_evaluator_retrains_with_it():
    # Given rows where only the topic matters (database prompts are hard), length says nothing
    rows = _database_rule_rows()
    free = train_complexity.train(rows, hashed=False, version="free")
    leaning = train_complexity.train(rows, hashed=False, length_floor=3.0, version="floor")
    # Then with a length floor the score follows prompt length: a long easy prompt outscores a short hard one
    short_hard = train_complexity.vectorize_prompt("Database?")
    long_easy = train_complexity.vectorize_prompt(" ".join(FILLER[:30]) + " holiday?")
    assert leaning.score(long_easy) > leaning.score(short_hard)
    assert leaning.dense_coef["log_chars"] >= 3.0 > free.dense_coef["log_chars"]
    # and the setting travels in the spec, so out-of-sample evaluation retrains with it
    assert train_complexity.settings_of(leaning)["length_floor"] == 3.0
    assert train_complexity.settings_of(free)["length_floor"] == 0.0


def test_the_l2_grid_keeps_the_strength_whose_worst_source_holds_up_not_the_best_average(monkeypatch):
    # Given two sources of 20 prompts, longest first, where the weak model fails every other one of the first ten
    failing = {0, 2, 4, 6, 8}
    rows = [
        {
            "id": f"{src}{i}",
            "source": src,
            "category": src,
            "prompt": "x" * (50 - i),
            "weak_score": 0.0 if i in failing else 1.0,
            "strong_score": 1.0,
        }
        for src in ("exam", "maths")
        for i in range(20)
    ]
    vectors = [train_complexity.vectorize_prompt(str(r["prompt"])) for r in rows]

    # and out-of-sample scorers: with L2 1 perfect on "exam" and behind length on "maths" (its first prompt ranked
    # last), with L2 10 in length's order on both
    def fake_scores(rows, _vectors, _splits, settings):
        scores = []
        for r in rows:
            i = int(r["id"][len(r["source"]) :])
            if settings["l2"] == 1.0 and r["source"] == "exam":
                scores.append(100.0 * (i in failing) - i)
            elif settings["l2"] == 1.0 and i == 0:
                scores.append(-100.0)
            else:
                scores.append(float(-i))
        return scores

    monkeypatch.setattr(routing_eval, "out_of_sample_scores", fake_scores)
    l2, table = train_complexity.choose_l2(rows, vectors, [1.0, 10.0], {"hashed": False})
    by_l2 = {e["l2"]: e for e in table}
    # Then L2 1 has the better mean difference from length but trails length on maths
    assert by_l2[1.0]["mean"] > by_l2[10.0]["mean"]
    assert by_l2[1.0]["apgr_minus_length"]["source/maths"] < 0.0 == by_l2[10.0]["worst"]
    # and the choice is L2 10: not worse than length on any source
    assert l2 == 10.0


def test_the_trainer_records_the_l2_it_chose_and_refuses_a_bad_grid_in_one_line(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _database_rule_rows(120))
    out = tmp_path / "w.json"
    assert train_complexity.main(["--data", str(data), "--out", str(out), "--no-hashed", "--l2-grid", "3,30"]) == 0
    err = capsys.readouterr().err
    spec = json.loads(out.read_text())
    chosen = spec["meta"]["fit"]["l2"]
    assert chosen in (3.0, 30.0) and f"chosen l2 {chosen:g}" in err
    assert spec["meta"]["l2_choice"]["grid"] == [3.0, 30.0] and len(spec["meta"]["l2_choice"]["table"]) == 2
    # the evaluator retrains its out-of-sample models with the chosen strength
    assert train_complexity.settings_of(scorer.Scorer.from_spec(spec))["l2"] == chosen
    for bad in ("three", "-1", "inf", ","):
        assert train_complexity.main(["--data", str(data), "--out", str(out), "--l2-grid", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("train_complexity: error: --l2-grid") and len(err.strip().splitlines()) == 1
