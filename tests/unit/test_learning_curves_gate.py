"""benchmarks.learning_curves counts stored runs as the gate decides today, and re-decides stored gate inputs."""

from __future__ import annotations

import json
import random

from benchmarks import learning_curves


def test_runs_stored_before_the_cross_fitting_correction_are_counted_as_the_gate_decides_now():
    # Given a run stored by the round-2 gate (z over the per-label standard error, no variance_factor) at z 2.5,
    # and a run stored by today's gate at the same z
    old = {"proposed": True, "gate": {"z": 2.5}}
    new = {"proposed": True, "gate": {"z": 2.5, "variance_factor": 2.0}}
    # Then the old run is not proposed today (2.5 / sqrt 2 = 1.77 < 1.96), the new one is
    assert learning_curves._decided(old)["proposed"] is False
    assert learning_curves._decided(new)["proposed"] is True


def test_gates_re_decides_a_stored_run_without_refitting(tmp_path, capsys):
    # Given a stored run whose best setting's out-of-fold scores follow the targets and another setting's do not
    rng = random.Random(2)
    n = 400
    targets = [rng.choice((0.0, 0.5, 1.0)) for _ in range(n)]
    folds = [i % 4 for i in range(n)]
    good = [4.0 * (t - 0.5) + rng.gauss(0, 0.5) for t in targets]
    noise = [rng.gauss(0, 1) for _ in range(n)]
    rec = {
        "dataset": "mmlu",
        "split": 1,
        "n": n,
        "shuffled": False,
        "targets": targets,
        "folds": folds,
        "current": [rng.random() for _ in range(n)],
        "cv": [{"l2": 1.0, "l2_hashed": 1.0}, {"l2": 1.0, "l2_hashed": 2.0}],
        "cv_logits": [noise, good],
        "same_gain": 0.1,
        "fresh": {"weak": [], "strong": [], "serving": [], "learned": []},
    }
    path = tmp_path / "gate.jsonl"
    path.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    learning_curves.main(["gates", str(path)])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Then the gate reads the setting with the lower cross-validated loss and finds the gain
    assert out["selected"] > 5 and out["other_folds"] > 5
    assert out["fresh_gain"] == 0.1 and out["settings"] == 2
