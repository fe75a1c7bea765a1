"""tools.learn_from_outcomes: the real-outcome harness's contract (labels as the labeller stores them, the verdict
rule, one score per row not trained on, the summary line, one-line errors)."""

from __future__ import annotations

import json
import random

import pytest

from labeller.labelling import features_of
from tools import learn_from_outcomes as harness

FILLER = "table chair window garden river paper music coffee orange yellow simple people morning letter".split()


def _rows(n=240, seed=0):
    """Prompts where only the topic decides: the weak model fails exactly the ones about databases."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hard = i % 3 == 0
        words = [rng.choice(FILLER) for _ in range(rng.randint(5, 30))]
        words.insert(rng.randrange(len(words) + 1), "database index" if hard else "holiday plans")
        rows.append(
            {
                "id": f"r{i}",
                "prompt": " ".join(words).capitalize() + "?",
                "weak_score": 0.0 if hard else 1.0,
                "strong_score": 1.0,
                "source": "toy",
            }
        )
    return rows


def _write(tmp_path, rows, ids):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    id_file = tmp_path / "ids.txt"
    id_file.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return data, id_file, tmp_path / "scores.jsonl"


@pytest.mark.parametrize(
    ("weak", "strong", "expected"),
    [(0.0, 1.0, 1.0), (1.0, 0.0, 0.0), (1.0, 1.0, 0.5), (0.0, 0.0, 0.5), (0.2, 0.5, 0.8), (0.000138, 0.5, 0.999862)],
)
def test_the_verdict_is_the_strong_models_edge_centred_on_a_tie(weak, strong, expected):
    # right/wrong outcomes give 1 / 0 / tie; a judge's win probability for the weak answer p gives 1 - p
    assert harness.verdict(weak, strong) == pytest.approx(expected)


def test_named_rows_become_the_labels_the_labeller_would_store():
    row = {"id": "a", "prompt": "Explain why the sky is blue.", "weak_score": 0.0, "strong_score": 1.0}
    label = harness.label_of(row, "auto", ("weak-m", "strong-m"), "judge-m", harness._parse_now(None))
    assert label["features"] == features_of({"messages": [{"role": "user", "text": row["prompt"]}], "system": None})
    assert label["verdicts"] == [1.0, 1.0] and label["target"] == 1.0
    assert (label["weak_model"], label["strong_model"], label["request_id"]) == ("weak-m", "strong-m", "a")
    assert "sky" not in json.dumps(label)  # features, not text


def test_it_trains_on_the_named_rows_and_scores_every_other_row(tmp_path, capsys):
    # Given 240 rows, 160 of them named for training
    rows = _rows()
    data, ids, out = _write(tmp_path, rows, [r["id"] for r in rows[:160]])
    # When the harness runs
    assert harness.main(["--data", str(data), "--train-ids", str(ids), "--scores-out", str(out)]) == 0
    # Then every row not named has exactly one score line, in the data's order
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == [r["id"] for r in rows[160:]]
    assert all(isinstance(x["score"], float) and 0 <= x["score"] <= 1 for x in lines)
    # and the scores rank the rows the weak model fails above the others (the learned rule)
    hard = [x["score"] for x, r in zip(lines, rows[160:]) if r["weak_score"] == 0.0]
    easy = [x["score"] for x, r in zip(lines, rows[160:]) if r["weak_score"] == 1.0]
    assert min(hard) > max(easy)
    # and the last stdout line is one JSON object with the decision, the label count and the gate's figures
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["labels"] == 160 and summary["scored"] == 80
    assert summary["proposed"] is True and summary["gate"]["proposed"] is True
    assert summary["gate"]["ci"][0] > 0 and summary["gate"]["n"] == 160
    assert summary["scorer"]["spec_bytes"] < 1_000_000


def test_without_signal_nothing_is_proposed_but_every_other_row_is_still_scored(tmp_path, capsys):
    rows = _rows()
    rng = random.Random(3)
    outcomes = [r["weak_score"] for r in rows]
    rng.shuffle(outcomes)
    for r, w in zip(rows, outcomes):
        r["weak_score"] = w  # verdicts no longer follow the topic
    data, ids, out = _write(tmp_path, rows, [r["id"] for r in rows[:160]])
    assert harness.main(["--data", str(data), "--train-ids", str(ids), "--scores-out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["proposed"] is False
    assert len(out.read_text().splitlines()) == 80


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_data", "data file not found"),
        ("missing_ids", "ids file not found"),
        ("unknown_id", "'nope' not in the data"),
        ("no_fields", "has no weak_score"),
        ("bad_route", "no route 'nowhere'"),
    ],
)
def test_bad_input_fails_in_one_line_without_a_traceback(tmp_path, capsys, case, message):
    rows = _rows(40)
    data, ids, out = _write(tmp_path, rows, [r["id"] for r in rows[:30]] + (["nope"] if case == "unknown_id" else []))
    if case == "no_fields":
        rows[5].pop("weak_score")
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    argv = ["--data", str(data), "--train-ids", str(ids), "--scores-out", str(out)]
    if case == "missing_data":
        argv[1] = str(tmp_path / "absent.jsonl")
    if case == "missing_ids":
        argv[3] = str(tmp_path / "absent.txt")
    if case == "bad_route":
        argv += ["--route", "nowhere"]
    assert harness.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_every_fit_keeps_at_most_the_specs_share_of_hashed_weights(monkeypatch):
    # Given a cap far below the labels' vocabulary, when the route's scorer is learned
    from routing_engine import label_learning, learning, scorer

    monkeypatch.setattr(label_learning, "MAX_SPEC_HASHED", 40)
    sizes = []
    real_fit = learning.fit_scorer

    def spy(*args, **kwargs):
        s = real_fit(*args, **kwargs)
        sizes.append(len(s.spec()["hashed"]["coef"]))
        return s

    monkeypatch.setattr(learning, "fit_scorer", spy)
    rows = _rows(160)
    vectors = [scorer.vectorize(r["prompt"]) for r in rows]
    result = label_learning.learn(
        vectors,
        [harness.verdict(r["weak_score"], r["strong_score"]) for r in rows],
        [r["id"] for r in rows],
        current=scorer.bundled(),
        version="t",
    )
    # Then every fit, in the folds and the final one, is within it (the folds judge what would be proposed)
    assert sizes and max(sizes) <= 40
    assert len(result.candidate.spec()["hashed"]["coef"]) <= 40
