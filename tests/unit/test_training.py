"""Scorer training (lambdas/scorer_trainer/training.py): split, fit, calibrate, compare, propose.

Labels here are made the way the labeller makes them (a feature vector of the prompt, a judged target), from the
simulated traffic and the simulated judge's rule (database questions need the strong model), so a scorer that
learns the rule is measurably better and one trained on noise is not.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime

import pytest

from local import simulated_traffic
from routing_engine import label_learning, learning
from routing_engine.config import ConfigError, parse_routing_config
from routing_engine.engine import Engine
from routing_engine.features import RequestFeatures
from routing_engine.scorer import FEATURE_SET, FeatureVector, bundled, vectorize
from scorer_trainer import training
from scorer_trainer.training import (
    APPCONFIG_HOSTED_MAX_BYTES,
    HOLDOUT_SHARE,
    ProposalTooLarge,
    TrainingInputError,
    in_holdout,
    learned_scorer_name,
    propose_config,
    route_training,
    train_from_config,
    train_route,
)
from tests.unit.label_fixtures import ROOT, ROUTE, fresh_eval, labelled_config, make_labels

NOW = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def learned():
    """Given 1,200 labels that follow the rule, when the route is trained: the report and the config."""
    doc = labelled_config(target_strong_share=0.2)
    config = parse_routing_config(json.dumps(doc))
    labels = make_labels(1200)
    return doc, config, labels, train_from_config(config, ROUTE, labels, now=NOW)


def test_fewer_usable_labels_than_min_labels_trains_nothing():
    # Given a route that needs 200 labels and has 150
    config = parse_routing_config(json.dumps(labelled_config(min_labels=200)))
    # When it is trained
    report = train_from_config(config, ROUTE, make_labels(150), now=NOW)
    # Then nothing is fitted and the report says why
    assert report.outcome == "too_few"
    assert report.candidate_scorer is None and report.candidate is None
    assert "150 usable labels, 200 needed" in report.reason
    with pytest.raises(TrainingInputError):
        propose_config(json.dumps(labelled_config()), ROUTE, report)


def test_the_holdout_split_is_a_deterministic_function_of_the_request_id():
    ids = [f"req-{i}" for i in range(4000)]
    first = {i for i in ids if in_holdout(i)}
    # the same ids in another order land on the same side, and about a quarter is held out
    assert first == {i for i in reversed(ids) if in_holdout(i)}
    assert abs(len(first) / len(ids) - HOLDOUT_SHARE) < 0.03
    # and the trainer's folds are a deterministic function of a key, about equal in size
    folds = [label_learning.fold_of(i) for i in ids]
    assert folds == [label_learning.fold_of(i) for i in ids]
    assert all(abs(folds.count(f) / len(ids) - 1 / label_learning.FOLDS) < 0.03 for f in range(label_learning.FOLDS))


def test_a_prompt_judged_several_times_is_in_one_fold(monkeypatch):
    # Given labels where every prompt was judged three times (against three weak models, say), under other ids
    labels = make_labels(300)
    tripled = [{**lab, "request_id": f"{lab['request_id']}-{k}"} for lab in labels for k in range(3)]
    seen = []
    real_fold_of = label_learning.fold_of

    def spy(key, folds=label_learning.FOLDS):
        seen.append(key)
        return real_fold_of(key, folds)

    monkeypatch.setattr(label_learning, "fold_of", spy)
    vectors = [FeatureVector.from_json(lab["features"]) for lab in tripled]
    label_learning.learn(
        vectors,
        [lab["target"] for lab in tripled],
        [lab["request_id"] for lab in tripled],
        current=bundled(),
        version="t",
        l2_hashed_grid=(32.0, 128.0),
        l2_dense_grid=(300.0,),
    )
    # Then the copies of a prompt share their fold (folds are drawn by the stored features, not the request id),
    # so no fold model has seen a prompt it is judged on
    fold = {}
    for v, key in zip(vectors, seen[: len(vectors)]):
        fold.setdefault(json.dumps(v.to_json()), set()).add(real_fold_of(key))
    assert len(fold) > 100 and all(len(f) == 1 for f in fold.values())


def test_each_label_is_judged_by_a_fold_model_that_never_saw_it(learned, monkeypatch):
    # Given the labels, when the route is trained, then every fold's fit leaves that fold's labels out,
    # and the final candidate is fitted on every usable label
    doc, config, labels, _ = learned
    fits = []
    real_fit = learning.fit_scorer

    def spy(vectors, targets, **kwargs):
        fits.append({json.dumps(v.to_json()) for v in vectors})
        return real_fit(vectors, targets, **kwargs)

    monkeypatch.setattr(learning, "fit_scorer", spy)
    report = train_from_config(config, ROUTE, labels, now=NOW)
    folds = report.labels["folds"]
    by_fold = [
        {
            json.dumps(lab["features"])
            for lab in labels
            if label_learning.fold_of(label_learning.prompt_key(FeatureVector.from_json(lab["features"])), folds) == f
        }
        for f in range(folds)
    ]
    assert report.labels["train"] == report.labels["out_of_fold"] == len(labels)
    assert len(fits) % folds == 1 and len(fits[-1]) == len({json.dumps(lab["features"]) for lab in labels})
    for k, seen in enumerate(fits[:-1]):
        only_here = by_fold[k % folds] - set().union(*(by_fold[f] for f in range(folds) if f != k % folds))
        assert only_here and not (only_here & seen)


def test_labels_that_follow_the_rule_give_a_better_scorer_beyond_noise(learned):
    _, _, _, report = learned
    # Then the candidate is better on the holdout with the gain's interval above 0
    assert report.outcome == "proposed"
    assert report.difference["ci"][0] > 0
    assert report.candidate["apgr"] > report.current["apgr"]
    assert report.current["ci"][0] <= report.current["apgr"] <= report.current["ci"][1]
    assert report.candidate["version"] == "tech_support-20261201T0630-n" + str(report.labels["train"])
    # and it has learned the rule: on fresh prompts (other templates, other seed) it ranks better than bundled
    vectors, targets = fresh_eval()
    fresh = learning.compare(bundled(), report.candidate_scorer, vectors, targets)
    assert fresh["difference"]["ci"][0] > 0


def test_labels_without_signal_are_not_better():
    # Given targets drawn at random, independent of the prompt
    rng = random.Random(5)
    coin = [rng.choice((0.0, 0.5, 1.0)) for _ in range(1000)]
    config = parse_routing_config(json.dumps(labelled_config()))
    # When trained, then the candidate is not proposed
    report = train_from_config(config, ROUTE, make_labels(1000, target=lambda i, p: coin[i]), now=NOW)
    assert report.outcome == "not_better"
    assert report.difference["ci"][0] <= 0


def test_all_ties_cannot_be_fitted_and_are_reported_not_better():
    config = parse_routing_config(json.dumps(labelled_config()))
    report = train_from_config(config, ROUTE, make_labels(300, target=lambda i, p: 0.5), now=NOW)
    assert report.outcome == "not_better"
    assert "no scorer could be fitted" in report.reason


def test_the_threshold_is_calibrated_to_the_target_share_on_training_labels(learned):
    doc, _, _, report = learned
    today = doc["routes"][ROUTE]["dynamic"]["rules"][0]["when"]["complexity"]["gte"]
    assert report.threshold["rule"] == "hard-question" and report.threshold["old"] == today
    assert report.strong_share["target"] == 0.2
    assert abs(report.strong_share["train"] - 0.2) < 0.03
    assert 0 <= report.threshold["new"] <= 1


def test_without_a_target_share_the_current_share_is_kept():
    # Given no target share, and a current threshold that sends some training labels to the strong model
    config = parse_routing_config(json.dumps(labelled_config()))
    inputs = route_training(config, ROUTE)
    labels = make_labels(800)
    scores = sorted(bundled().score(vectorize(p.text)) for p in simulated_traffic.generate(800, seed=1))
    current = scores[int(len(scores) * 0.7)]  # about 30% at or above
    # When trained
    report = train_route(ROUTE, inputs.labelling, inputs.scorer, labels, now=NOW, current_threshold=current)
    # Then the candidate's threshold sends about the share the current one sends, on the same labels
    train_scores = [bundled().score(vectorize(p.text)) for p in simulated_traffic.generate(800, seed=1)]
    share = sum(s >= current for s in train_scores) / len(train_scores)
    assert report.strong_share["target"] == round(share, 4)
    assert abs(report.strong_share["train"] - share) < 0.03


def test_unusable_labels_are_skipped_and_counted():
    labels = make_labels(260)
    labels[0]["features"] = {**labels[0]["features"], "fs": "v1"}  # another feature set
    labels[1]["target"] = 1.7  # not a probability
    labels[2].pop("request_id")
    old_pair = make_labels(5, seed=7, pair=("nova-pro", "claude-sonnet"))
    for lab in old_pair:
        lab["labelled_at"] = "2026-11-01T00:00:00Z"  # older than the rest: the newest label's pair is kept
    config = parse_routing_config(json.dumps(labelled_config(min_labels=20)))
    report = train_from_config(config, ROUTE, labels + old_pair, now=NOW)
    assert report.labels["skipped"] == {"feature_set": 1, "invalid": 2, "other_pair": 5}
    assert report.labels["usable"] == 257
    assert FEATURE_SET == "v3"


def with_rule(doc: dict, when: dict) -> dict:
    """`doc` with the labelled rule 'hard-question' testing `when` instead."""
    doc = copy.deepcopy(doc)
    rule = next(r for r in doc["routes"][ROUTE]["dynamic"]["rules"] if r["id"] == "hard-question")
    rule["when"] = when
    return doc


def strong_share_served(raw: bytes, labels: list[dict]) -> float:
    """The share of `labels` the ENGINE sends to the strong model through the labelled rule, with the proposed
    configuration's scorer and bounds (tech_support is a shadow route: its dynamic choice is decision.shadow)."""
    config = parse_routing_config(raw)
    engine = Engine(config, "proposal")
    scorer = config.scorer(config.routes[ROUTE].dynamic.scorer)
    hits = 0
    for lab in labels:
        f = RequestFeatures(
            estimated_tokens=100,
            message_count=1,
            has_images=False,
            has_documents=False,
            uses_tools=False,
            complexity=scorer.score(FeatureVector.from_json(lab["features"])),
        )
        hits += engine.decide(ROUTE, f).shadow["rule"] == "hard-question"
    return hits / len(labels)


@pytest.mark.parametrize("old", [0.9, 0.05])  # the new threshold below the old one, and above it
def test_a_gt_rule_is_proposed_with_one_gte_bound_that_sends_the_reported_share(old):
    # Given the labelled rule written with gt (not gte), and a target share of 0.6
    doc = with_rule(labelled_config(target_strong_share=0.6), {"complexity": {"gt": old}})
    labels = make_labels(1000)
    report = train_from_config(parse_routing_config(json.dumps(doc)), ROUTE, labels, now=NOW)
    assert report.outcome == "proposed" and report.threshold["op"] == "gt" and report.threshold["old"] == old
    # When it is proposed
    raw = propose_config(json.dumps(doc), ROUTE, report)
    # Then the engine, with the proposal, sends the training labels to the strong model at the reported share
    assert strong_share_served(raw, labels) == pytest.approx(report.strong_share["train"], abs=1e-4)
    assert abs(report.strong_share["train"] - 0.6) < 0.03
    # because the rule has one bound, gte at the new threshold (a gt rule becomes gte: calibrated as score >= t)
    rule = next(r for r in json.loads(raw)["routes"][ROUTE]["dynamic"]["rules"] if r["id"] == "hard-question")
    assert rule["when"] == {"complexity": {"gte": report.threshold["new"]}}
    assert f"threshold gt {old} -> gte {report.threshold['new']}" in report.summary()


def test_a_rule_with_both_gt_and_gte_is_trained_from_the_bound_that_applies():
    # Given a rule a proposal before the gt fix wrote: the old gt beside a lower gte (both apply in the engine)
    doc = with_rule(labelled_config(target_strong_share=0.6), {"complexity": {"gt": 0.9, "gte": 0.59}})
    report = train_from_config(parse_routing_config(json.dumps(doc)), ROUTE, make_labels(1000), now=NOW)
    # Then the report's old threshold is the one that caps the rule, and the proposal keeps one gte bound only
    assert (report.threshold["op"], report.threshold["old"]) == ("gt", 0.9)
    rule = json.loads(propose_config(json.dumps(doc), ROUTE, report))["routes"][ROUTE]["dynamic"]["rules"][0]
    assert rule["when"] == {"complexity": {"gte": report.threshold["new"]}}


@pytest.mark.parametrize(
    "when, names",
    [
        ({"complexity": {"gte": 0.3, "lte": 0.6}}, "lte"),
        ({"complexity": {"gt": 0.3, "lt": 0.9}}, "lt"),
        ({"complexity": {"gte": 0.3}, "estimated_tokens": {"lt": 4000}}, "estimated_tokens"),
    ],
)
def test_a_rule_whose_range_cannot_be_calibrated_is_refused_before_any_training(learned, when, names):
    # Given a labelled rule with an upper complexity bound, or another condition
    doc = with_rule(labelled_config(target_strong_share=0.2), when)
    # Then the configuration is refused (so no router or trainer ever serves it), naming what is in the way
    with pytest.raises(ConfigError, match=names):
        parse_routing_config(json.dumps(doc))
    # and a report made for the rule before it changed is not proposed against it either
    _, _, _, learned_report = learned
    with pytest.raises((TrainingInputError, ConfigError)):
        propose_config(json.dumps(doc), ROUTE, learned_report)


def test_labels_of_another_pair_are_skipped_even_when_newest():
    # Given 1,000 labels of the configured pair (claude-haiku / claude-sonnet) and one LATER label of another pair
    labels = make_labels(1000)
    stale = make_labels(1, seed=8, pair=("claude-haiku", "claude-opus"))[0]
    stale["labelled_at"] = "2026-12-01T06:00:00Z"  # e.g. a DLQ redrive of a sample from before the pair changed
    config = parse_routing_config(json.dumps(labelled_config(target_strong_share=0.2)))
    # When trained
    report = train_from_config(config, ROUTE, labels + [stale], now=NOW)
    # Then it trains on the configured pair, and the other pair's label is counted and skipped
    assert report.labels["usable"] == 1000 and report.labels["skipped"] == {"other_pair": 1}
    assert report.outcome == "proposed"


def test_the_proposal_is_compact_in_the_documents_key_order(learned):
    doc, _, _, report = learned
    raw = propose_config(json.dumps(doc, indent=2), ROUTE, report)
    proposed = json.loads(raw)
    assert raw == json.dumps(proposed, ensure_ascii=False, separators=(",", ":")).encode()  # no indent, no spaces
    assert "scorers" not in doc and list(proposed) == [*doc, "scorers"]
    assert list(proposed["routes"]) == list(doc["routes"])
    assert list(proposed["routes"][ROUTE]) == list(doc["routes"][ROUTE])
    assert len(raw) < 60_000  # a whole learned spec included, idf-weighted words and bigrams (~90 KB indented)


def test_a_proposal_over_appconfigs_hosted_limit_is_refused(learned, monkeypatch):
    doc, _, _, report = learned
    # AWS::AppConfig::HostedConfigurationVersion: "configurations must be 1 MB or smaller"
    assert APPCONFIG_HOSTED_MAX_BYTES == 1_048_576
    size = len(propose_config(json.dumps(doc), ROUTE, report))
    monkeypatch.setattr(training, "APPCONFIG_HOSTED_MAX_BYTES", size - 1)
    with pytest.raises(ProposalTooLarge, match=f"is {size:,} bytes, over AppConfig's hosted limit") as info:
        propose_config(json.dumps(doc), ROUTE, report)
    assert isinstance(info.value, ValueError)
    monkeypatch.setattr(training, "APPCONFIG_HOSTED_MAX_BYTES", size)  # exactly at the limit is fine
    assert len(propose_config(json.dumps(doc), ROUTE, report)) == size


def test_the_proposal_is_the_current_config_with_the_new_scorer_and_threshold(learned):
    doc, _, _, report = learned
    raw = propose_config(json.dumps(doc), ROUTE, report)
    proposed = json.loads(raw)
    config = parse_routing_config(raw)  # it validates
    name = learned_scorer_name(ROUTE)
    assert name == "tech_support-learned"
    assert config.routes[ROUTE].dynamic.scorer == name
    rule = next(r for r in config.routes[ROUTE].dynamic.rules if r.id == "hard-question")
    assert rule.when["complexity"].gte == report.threshold["new"]
    # the scorer in the document scores as the candidate does
    v = vectorize("How do I choose a primary key for a database table?")
    assert config.scorer(name).score(v) == pytest.approx(report.candidate_scorer.score(v), abs=1e-9)
    assert config.scorer(name).version == report.candidate["version"]
    # everything else is as it was
    expected = copy.deepcopy(doc)
    expected["scorers"] = {name: proposed["scorers"][name]}
    expected["routes"][ROUTE]["dynamic"]["scorer"] = name
    expected["routes"][ROUTE]["dynamic"]["rules"][0]["when"]["complexity"]["gte"] = report.threshold["new"]
    assert proposed == expected


def test_a_proposal_that_would_not_validate_is_refused(learned):
    doc, _, _, report = learned
    broken = copy.deepcopy(doc)
    broken["routes"]["faq"]["model"] = "ghost"
    with pytest.raises(ConfigError, match="routes.faq.model"):
        propose_config(json.dumps(broken), ROUTE, report)


def test_a_route_without_labelling_cannot_be_trained():
    config = parse_routing_config((ROOT / "config" / "routing.json").read_bytes())
    with pytest.raises(TrainingInputError, match="no labelling"):
        route_training(config, "faq")
    with pytest.raises(TrainingInputError, match="no route 'nope'"):
        route_training(config, "nope")


def test_the_report_is_json_and_names_what_a_reviewer_needs(learned):
    _, _, _, report = learned
    item = json.loads(json.dumps(report.as_dict()))
    assert set(item) >= {
        "route",
        "outcome",
        "labels",
        "current",
        "candidate",
        "difference",
        "threshold",
        "strong_share",
    }
    assert "spec" not in json.dumps(item) and "coef" not in json.dumps(item)
    assert len(report.summary()) < 1024


# --- the offline command (tools/train_scorer.py) -------------------------------------------------


def write_inputs(tmp_path, labels, doc):
    labels_file, config_file = tmp_path / "labels.jsonl", tmp_path / "routing.json"
    labels_file.write_text("".join(json.dumps(lab) + "\n" for lab in labels), encoding="utf-8")
    config_file.write_text(json.dumps(doc), encoding="utf-8")
    return labels_file, config_file


def test_the_offline_command_writes_the_same_proposal_as_the_trainer(tmp_path, learned, capsys):
    from tools.train_scorer import main

    doc, _, labels, report = learned
    labels_file, config_file = write_inputs(tmp_path, labels + make_labels(30, route="faq"), doc)
    out, report_file = tmp_path / "proposal.json", tmp_path / "report.json"
    code = main(
        [
            "--labels",
            str(labels_file),
            "--config",
            str(config_file),
            "--route",
            ROUTE,
            "--out",
            str(out),
            "--report",
            str(report_file),
            "--now",
            "2026-12-01T06:30:00Z",
            "--learned-out",
            str(tmp_path / "learned.json"),
        ]
    )
    assert code == 0
    # the learned-scorers document is byte for byte what the trainer Lambda proposes to its profile
    from routing_engine.config import parse_routing_config
    from scorer_trainer.training import propose_learned

    assert (tmp_path / "learned.json").read_bytes() == propose_learned(
        None, parse_routing_config(json.dumps(doc)), ROUTE, report
    )
    written = json.loads(report_file.read_text())
    assert written["outcome"] == "proposed" and written["labels"]["usable"] == len(labels)  # faq labels left out
    assert written["difference"] == report.difference
    assert out.read_bytes() == propose_config(json.dumps(doc), ROUTE, report)
    assert json.loads(capsys.readouterr().out)["outcome"] == "proposed"


@pytest.mark.parametrize(
    "change, message",
    [
        ("missing_labels", "cannot read the labels file"),
        ("bad_line", "labels.jsonl:2: not a JSON object"),
        ("bad_config", "invalid routing configuration"),
        ("unlabelled_route", "has no labelling section"),
        ("bad_now", "--now 'yesterday' is not an ISO date-time"),
        ("band_rule", ("rule 'hard-question'", "calibrat", "lte")),  # the trainer's (or validation's) refusal
        ("unwritable_report", "cannot write"),
    ],
)
def test_the_offline_command_refuses_bad_input_in_one_line(tmp_path, capsys, change, message):
    from tools.train_scorer import main

    doc = labelled_config()
    labels_file, config_file = write_inputs(tmp_path, make_labels(3), doc)
    args = {"--labels": str(labels_file), "--config": str(config_file), "--route": ROUTE}
    if change == "missing_labels":
        args["--labels"] = str(tmp_path / "nope.jsonl")
    elif change == "bad_line":
        labels_file.write_text(labels_file.read_text().splitlines()[0] + "\n{oops\n", encoding="utf-8")
    elif change == "bad_config":
        config_file.write_text(json.dumps({**doc, "default_route": "ghost"}), encoding="utf-8")
    elif change == "unlabelled_route":
        args["--route"] = "faq"
    elif change == "bad_now":
        args["--now"] = "yesterday"
    elif change == "band_rule":
        config_file.write_text(json.dumps(with_rule(doc, {"complexity": {"gte": 0.5, "lte": 0.6}})), encoding="utf-8")
    elif change == "unwritable_report":
        args["--report"] = str(tmp_path / "no-such-dir" / "report.json")
    code = main([item for pair in args.items() for item in pair])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("train_scorer: ")
    assert all(part in err for part in ((message,) if isinstance(message, str) else message))


@pytest.mark.parametrize(
    "change, message",
    [
        ("unwritable_out", "cannot write "),
        ("too_large", "no proposal written: the proposed configuration is "),
    ],
)
def test_the_offline_command_refuses_a_proposal_it_cannot_write_in_one_line(
    tmp_path, learned, capsys, monkeypatch, change, message
):
    from tools.train_scorer import main

    # Given labels that give a better scorer
    doc, _, labels, _ = learned
    labels_file, config_file = write_inputs(tmp_path, labels, doc)
    out = tmp_path / "proposal.json"
    if change == "unwritable_out":
        out = tmp_path / "no-such-dir" / "proposal.json"
    else:  # a proposal over AppConfig's hosted limit
        monkeypatch.setattr(training, "APPCONFIG_HOSTED_MAX_BYTES", 1000)
    # When the command is asked to write the proposal
    code = main(["--labels", str(labels_file), "--config", str(config_file), "--route", ROUTE, "--out", str(out)])
    # Then it refuses in one line, with exit 2, and writes nothing
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("train_scorer: ") and message in err
    assert not out.exists()


# --- a quality target instead of a share -----------------------------------------------------------------


def test_share_for_quality_sends_the_highest_scores_until_the_gap_is_recovered():
    from scorer_trainer.training import share_for_quality

    # Given four labels: the two top-scored are strong wins (gain 1 each), then a tie, then a weak win (gain -1)
    scores, targets = [0.9, 0.8, 0.5, 0.1], [1.0, 1.0, 0.5, 0.0]
    # Then half of the total gain (1) takes one strong call, all of it (1 of 1 net) too; a tie adds nothing
    assert share_for_quality(scores, targets, 0.5) == 0.25
    assert share_for_quality(scores, targets, 1.0) == 0.25
    # And labels that show no gap (all ties) have nothing to recover
    assert share_for_quality(scores, [0.5] * 4, 0.8) is None


def test_a_quality_target_sets_the_threshold_to_the_fewest_strong_calls_that_meet_it():
    # Given a route asking to recover 90% of the judged quality gap, not a share
    doc = labelled_config()
    doc["routes"][ROUTE]["labelling"]["target_quality"] = 0.9
    config = parse_routing_config(json.dumps(doc))
    # When it is trained on labels that follow the rule
    report = train_from_config(config, ROUTE, make_labels(1200), now=NOW)
    # Then the report names the quality target, met, and a share below "everything to the strong model"
    assert report.strong_share["target_quality"] == 0.9 and report.strong_share["quality_met"] is True
    assert 0 < report.strong_share["target"] < 1
    assert report.strong_share["train"] == pytest.approx(report.strong_share["target"], abs=0.02)


def test_a_share_and_a_quality_target_together_are_refused():
    doc = labelled_config(target_strong_share=0.2)
    doc["routes"][ROUTE]["labelling"]["target_quality"] = 0.9
    with pytest.raises(ConfigError, match="target_strong_share or target_quality, not both"):
        parse_routing_config(json.dumps(doc))
