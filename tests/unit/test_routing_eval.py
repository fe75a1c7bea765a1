"""The offline routing evaluation / calibration tool (tools.routing_eval)."""
import json
from pathlib import Path

import pytest

from routing_engine.complexity import complexity_score
from tools import routing_eval
from tools._metrics import route_metrics

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "routing-benchmark" / "dev.jsonl"

# 10 items: 3 where only the strong model is right, 7 where both are right.
# weak quality 0.7, strong 1.0.
OUTCOMES = [(0.0, 1.0)] * 3 + [(1.0, 1.0)] * 7


def _rows(prompts=None):
    prompts = prompts or [f"prompt {i}" for i in range(len(OUTCOMES))]
    return [
        {"id": f"x{i}", "source": "toy", "category": "toy", "prompt": p,
         "weak_score": w, "strong_score": s}
        for i, (p, (w, s)) in enumerate(zip(prompts, OUTCOMES))
    ]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_oracle_score_gets_the_maximal_apgr_and_reversed_a_low_one():
    rows = _rows()
    oracle = [r["strong_score"] - r["weak_score"] for r in rows]
    m = routing_eval.evaluate(rows, oracle)["toy"]["complexity"]
    # Curve (0, .7) -> (.3, 1.0) -> (1, 1.0): APGR = 1 - 0.3 / 2.
    assert m["apgr"] == pytest.approx(0.85)
    assert m["cpt50"] == pytest.approx(0.15)
    assert m["cpt80"] == pytest.approx(0.24)
    rev = routing_eval.evaluate(rows, [-s for s in oracle])["toy"]["complexity"]
    assert rev["apgr"] == pytest.approx(0.15)
    # constant score = random-like straight line
    const = route_metrics([0.5] * 10, [w for w, _ in OUTCOMES], [s for _, s in OUTCOMES])
    assert const["apgr"] == pytest.approx(0.5)


def test_cli_reports_per_source_overall_baselines_and_writes_scores(tmp_path, capsys):
    rows = _rows() + [dict(r, id="y" + r["id"], source="other") for r in _rows()]
    data = _write(tmp_path / "d.jsonl", rows)
    out = tmp_path / "scores.jsonl"
    assert routing_eval.main(["--data", str(data), "--scores-out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"toy", "other", "overall"}
    assert report["overall"]["n"] == 20
    for key in ("complexity", "length_baseline", "random"):
        assert set(report["toy"][key]) == {"apgr", "cpt50", "cpt80"}
    assert report["toy"]["random"]["apgr"] == 0.5
    lines = out.read_text().splitlines()
    assert len(lines) == 20
    first = json.loads(lines[0])
    assert first["id"] == "x0"
    assert first["score"] == pytest.approx(complexity_score(rows[0]["prompt"]))


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
    args = ["--data", str(data), "--calibrate", "--target-strong-share", "0.3",
            "--strong-model", "big", "--weak-model", "small"]
    assert routing_eval.main(args) == 0
    captured = capsys.readouterr()
    cal = json.loads(captured.out)["calibration"]
    assert cal["strong_share"] == pytest.approx(0.3)
    th = cal["threshold"]
    assert th == round(th, 4)
    assert sum(complexity_score(p) >= th for p in prompts) == 3
    assert cal["appconfig_snippet"] == {
        "dynamic": {
            "rules": [{"id": "complexity-to-strong", "when": {"complexity": {"gte": th}},
                       "target": {"model": "big"}}],
            "default": {"model": "small"},
        }
    }
    assert '"complexity-to-strong"' in captured.err


def test_calibration_by_pgr_reaches_the_target(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _rows([f"q {i} " + "why? " * i for i in range(10)]))
    assert routing_eval.main(["--data", str(data), "--calibrate", "--target-pgr", "0.8"]) == 0
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


def test_missing_file_exits_2(tmp_path, capsys):
    assert routing_eval.main(["--data", str(tmp_path / "nope.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.skipif(not DEV.is_file(), reason=f"routing benchmark not present at {DEV}")
def test_dev_benchmark_production_score_beats_length_baseline_on_both_sources(capsys):
    assert routing_eval.main(["--data", str(DEV)]) == 0
    report = json.loads(capsys.readouterr().out)
    for source in ("gsm8k", "mmlu"):
        ours = report[source]["complexity"]["apgr"]
        assert ours > report[source]["length_baseline"]["apgr"], source
        assert ours > 0.5
