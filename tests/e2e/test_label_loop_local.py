"""Local mode runs the whole label loop (issue 9, item 6): simulated traffic through the real router with
sampling on, the real labelling code with a simulated judge whose rule is "database questions need the strong
model", the real trainer, and a proposal whose scorer has learned the rule, measured on FRESH prompts.

One loop run (800 requests, simulated latencies 0) is shared by the tests of this module; it takes about 10 s on an
idle machine (`python -m local.label_loop` runs 3,000 by default). 800 keeps every assertion with room to spare:
with seed 11 the holdout interval of the difference starts at 0.063 and the fresh-prompt gain's at 0.064 (0.119
and 0.092 with 1,500, which took twice as long; the labeller's writes to moto's DynamoDB are most of the time).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local import simulated_traffic
from local.label_loop import main, run_loop
from routing_engine.config import parse_routing_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 800
SEED = 11


@pytest.fixture(scope="module")
def loop():
    doc = json.loads((ROOT / "config" / "routing.json").read_text())
    return run_loop(requests=REQUESTS, config_doc=doc, route="tech_support", seed=SEED, eval_n=600)


def test_every_request_is_answered_sampled_and_labelled(loop):
    assert loop.answered == REQUESTS
    assert loop.sample_outcomes.get("sent") == REQUESTS
    assert loop.label_outcomes == {"stored": REQUESTS}
    assert loop.label_cost_usd > 0


def test_the_trainer_proposes_a_scorer_that_is_better_out_of_fold(loop):
    report = loop.report
    assert report["outcome"] == "proposed"
    assert report["labels"]["usable"] == report["labels"]["out_of_fold"] == REQUESTS
    assert report["difference"]["gate"]["proposed"] is True and report["difference"]["gate"]["ci"][0] > 0
    assert report["difference"]["ci"][0] > 0


def test_the_proposal_validates_and_routes_with_the_new_scorer(loop):
    config = parse_routing_config(loop.proposal)
    policy = config.routes["tech_support"].dynamic
    assert policy.scorer == "tech_support-learned"
    assert config.scorer(policy.scorer).version == loop.report["candidate"]["version"]
    rule = next(r for r in policy.rules if r.id == "hard-question")
    assert rule.when["complexity"].gte == loop.report["threshold"]["new"]


def test_the_learned_scorers_document_routes_like_the_reviewed_proposal(loop):
    # What the trainer Lambda would deploy (its own profile), applied to the routing document as the routers apply
    # it, is the same route as the proposal with the scorer written in
    from local.label_loop import loop_config
    from routing_engine.config import apply_learned, parse_learned_scorers

    learned = parse_learned_scorers(loop.learned)
    proposal = parse_routing_config(loop.proposal)
    doc = json.loads((ROOT / "config" / "routing.json").read_text())
    routing = parse_routing_config(json.dumps(loop_config(doc, "tech_support", 0.2)))  # what the loop served
    assert routing.routes["tech_support"] != proposal.routes["tech_support"]
    effective = apply_learned(routing, learned)
    assert effective.applied == {"tech_support": loop.report["candidate"]["version"]}
    assert effective.config.routes["tech_support"] == proposal.routes["tech_support"]


def test_the_retrained_scorer_beats_the_bundled_one_on_fresh_prompts(loop):
    # fresh: held-out templates and another seed, judged by the same simulated judge
    fresh = loop.fresh
    assert fresh["n"] == 600 and fresh["database_prompts"] > 80
    assert fresh["retrained"]["apgr"] > fresh["bundled"]["apgr"]
    assert fresh["gain"]["ci"][0] > 0  # the paired bootstrap interval of the gain is above 0


def test_no_prompt_or_answer_text_is_in_the_label_table(loop):
    dump = json.dumps(loop.table_items, ensure_ascii=False)
    assert len(loop.table_items) == REQUESTS + 2  # the labels, one budget item, one report
    prompts = simulated_traffic.generate(REQUESTS, seed=SEED)
    assert not [p.text for p in prompts if p.text in dump]
    for word in ("sourdough", "PostgreSQL", "Datenbank", "データベース", "SIMULATED", "simulated answer"):
        assert word not in dump


def test_the_command_writes_the_proposal_and_the_report(tmp_path):
    out, report = tmp_path / "proposal.json", tmp_path / "report.json"
    code = main(["--requests", "300", "--eval", "0", "--out", str(out), "--report", str(report)])
    assert code == 0
    summary = json.loads(report.read_text())
    assert summary["labels"] == {"stored": 300}
    # with 300 labels the gain may or may not clear its interval: a proposal is written exactly when it does
    assert out.exists() == (summary["report"]["outcome"] == "proposed")
    if out.exists():
        parse_routing_config(out.read_bytes())


def test_bad_input_is_one_line_and_exit_2():
    run = subprocess.run(
        [sys.executable, "-m", "local.label_loop", "--requests", "10", "--route", "nope"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "no route 'nope'" in run.stderr


def band_rule_config() -> dict:
    doc = json.loads((ROOT / "config" / "routing.json").read_text())
    rule = next(r for r in doc["routes"]["tech_support"]["dynamic"]["rules"] if r["id"] == "hard-question")
    rule["when"]["complexity"]["lte"] = 0.6
    return doc


@pytest.mark.parametrize(
    "config, args, message",
    [
        ([], [], "the configuration must be a JSON object, not an array"),
        ({"models": {}, "routes": {"r": {}}}, ["--route", "r"], "'models' must be a non-empty object"),
        ({"models": {"m": {}}, "routes": []}, [], "the configuration has no 'routes' object"),
        ({"models": {"m": {}}, "routes": {"r": "x"}}, ["--route", "r"], "routes.r must be a JSON object, not a string"),
        ("band", [], ("rule 'hard-question'", "calibrat", "lte")),  # refused by validation, before any traffic
        (None, ["--out", "{tmp}/no-such-dir/proposal.json"], "--out {tmp}/no-such-dir/proposal.json: the directory"),
        (None, ["--report", "{tmp}/no-such-dir/report.json"], "--report {tmp}/no-such-dir/report.json: the directory"),
        (None, ["--eval", "-1"], "--eval must be 0 or more"),
    ],
)
def test_every_bad_input_is_one_line_and_exit_2(tmp_path, capsys, config, args, message):
    # Given a configuration that is not a routing configuration the loop can run, or an output it cannot write
    argv = ["--requests", "5"] + [a.replace("{tmp}", str(tmp_path)) for a in args]
    if config is not None:
        path = tmp_path / "routing.json"
        path.write_text(json.dumps(band_rule_config() if config == "band" else config), encoding="utf-8")
        argv += ["--config", str(path)]
    # When the command runs
    code = main(argv)
    # Then it says what is wrong in one line on stderr, with exit 2, before any traffic
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("label_loop: ")
    assert all(
        part.replace("{tmp}", str(tmp_path)) in err for part in ((message,) if isinstance(message, str) else message)
    )


def test_a_report_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, capsys):
    # Given a --report path that is a directory (its parent exists, so it is only found out when written)
    code = main(["--requests", "20", "--eval", "0", "--report", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"label_loop: cannot write {tmp_path}: ")
