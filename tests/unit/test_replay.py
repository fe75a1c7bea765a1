"""What-if replay (tools.replay): the router's own log lines, re-decided under a new configuration.

The log in tests/data/replay/router-log.jsonl was written by the local server (`python -m local.server
--latency-scale 0`, metrics on, faults claude-opus=ThrottlingException:0.3 and nova-pro=stream_error:0.5) under
tests/data/replay/routing.json, for the traffic of `python -m tools._replay_traffic`. The CloudWatch export shapes
are built from those same lines, as CloudWatch would wrap them.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pytest

from tools import replay

DATA = Path(__file__).resolve().parents[1] / "data" / "replay"
LOG = DATA / "router-log.jsonl"
CONFIG = json.loads((DATA / "routing.json").read_text())
LINES = LOG.read_text().splitlines()
REQUESTS = [json.loads(line) for line in LINES if '"message":"request ' in line]
REPLAYABLE = [r for r in REQUESTS if "features" in r and not r.get("dry_run")]


def _config(tmp_path, change=None, name="new.json") -> str:
    config = copy.deepcopy(CONFIG)
    if change is not None:
        change(config)
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return str(path)


def _run(tmp_path, change=None, decisions=LOG, **kwargs) -> dict:
    return replay.run(str(decisions), _config(tmp_path, change), **kwargs)


def _price(model: str, input_tokens: int, output_tokens: int, config=CONFIG) -> float:
    p = config["models"][model]["price"]
    return input_tokens / 1_000_000 * p["input_per_million"] + output_tokens / 1_000_000 * p["output_per_million"]


# --- input formats ------------------------------------------------------------------------------


def _csv_export(tmp_path) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["@timestamp", "@message"])
    for i, line in enumerate(LINES):
        writer.writerow([f"2026-12-01 08:50:{i % 60:02d}.000", line])
    path = tmp_path / "insights.csv"
    path.write_text("\ufeff" + buf.getvalue(), encoding="utf-8")  # the console's export starts with a BOM
    return path


def _insights_json_export(tmp_path) -> Path:
    path = tmp_path / "insights.json"
    path.write_text(
        json.dumps([{"@timestamp": "2026-12-01 08:50:00.000", "@message": line} for line in LINES], indent=2)
    )
    return path


def _get_query_results(tmp_path) -> Path:
    rows = [
        [
            {"field": "@timestamp", "value": "2026-12-01 08:50:00.000"},
            {"field": "@message", "value": line},
            {"field": "@ptr", "value": "CmAKJwoj..."},
        ]
        for line in LINES
    ]
    path = tmp_path / "query-results.json"
    path.write_text(
        json.dumps({"results": rows, "statistics": {"recordsMatched": len(rows)}, "status": "Complete"}, indent=4)
    )
    return path


def _filter_log_events(tmp_path) -> Path:
    """Two pages of `aws logs filter-log-events --output json`, written one after the other."""
    events = [
        {
            "logStreamName": "2026/12/01/[$LATEST]abc",
            "timestamp": 1796115028000 + i,
            "message": line + "\n",
            "ingestionTime": 1796115029000 + i,
            "eventId": str(i),
        }
        for i, line in enumerate(LINES)
    ]
    half = len(events) // 2
    pages = [
        {"events": events[:half], "searchedLogStreams": [], "nextToken": "t1"},
        {"events": events[half:], "searchedLogStreams": []},
    ]
    path = tmp_path / "events.json"
    path.write_text("\n".join(json.dumps(p, indent=4) for p in pages))
    return path


def _get_log_events(tmp_path) -> Path:
    events = [
        {"timestamp": 1796115028000 + i, "message": line, "ingestionTime": 1796115029000 + i}
        for i, line in enumerate(LINES)
    ]
    path = tmp_path / "stream.json"
    path.write_text(json.dumps({"events": events, "nextForwardToken": "f/1", "nextBackwardToken": "b/1"}))
    return path


@pytest.mark.parametrize(
    "export, shape",
    [
        (_csv_export, "logs-insights-csv"),
        (_insights_json_export, "logs-insights-json"),
        (_get_query_results, "logs-insights-json"),
        (_filter_log_events, "cloudwatch-log-events"),
        (_get_log_events, "cloudwatch-log-events"),
    ],
)
def test_every_cloudwatch_export_shape_replays_like_the_router_lines(tmp_path, export, shape):
    """Given the same log lines as router JSON lines and as a CloudWatch export,
    when both are replayed under the same new configuration,
    then the export is recognised and gives exactly the JSON lines' report."""
    new = _config(tmp_path, lambda c: c["routes"]["faq"].update(model="nova-lite"))
    direct = replay.run(str(LOG), new)
    exported = replay.run(str(export(tmp_path)), new)
    assert direct["input"]["format"] == "jsonl"
    assert exported["input"]["format"] == shape
    assert exported["routes"] == direct["routes"]
    assert exported["input"]["skipped"] == direct["input"]["skipped"]


def test_a_message_wrapped_or_prefixed_by_the_log_platform_is_unwrapped(tmp_path):
    """Given request lines with a runtime prefix, or wrapped in another JSON object under "message",
    when replayed, then they count as the request lines they carry."""
    line = next(r for r in REPLAYABLE if r["route"] == "faq")
    raw = json.dumps(line)
    path = tmp_path / "wrapped.jsonl"
    path.write_text(
        "\n".join(
            [
                f"2026-12-01T08:50:10.923Z\t6b12\tINFO\t{raw}",
                json.dumps({"timestamp": "2026-12-01T08:50:10Z", "level": "INFO", "message": raw}),
                json.dumps({"time": "x", "message": line}),
            ]
        )
        + "\n"
    )
    out = _run(tmp_path, decisions=path)
    assert out["routes"]["faq"]["requests"] == 3


# --- the same configuration reproduces the log -----------------------------------------------------------


def test_replaying_under_the_configuration_that_wrote_the_log_changes_nothing(tmp_path):
    """Given the log and the very configuration the router used,
    when replayed, then every logged decision is reproduced: same model, same rule, nothing rejected."""
    out = _run(tmp_path)
    total = out["total"]
    assert total["requests"] == total["replayed"] == len(REPLAYABLE)
    assert total["changed"] == 0
    assert total["rejected"] == {} and total["no_capable_model"]["count"] == 0
    assert total["before"]["models"] == total["after"]["models"]


# --- a route moves to another model ---------------------------------------------------------------------


def test_moving_a_route_to_another_model_shows_the_new_mix_and_cost_on_the_logged_tokens(tmp_path):
    """Given faq served by claude-haiku in the log,
    when replayed with faq -> nova-lite,
    then faq's mix moves to nova-lite and its cost after is nova-lite's price on the logged tokens."""
    out = _run(tmp_path, lambda c: c["routes"]["faq"].update(model="nova-lite"))
    faq = out["routes"]["faq"]
    plain = [r for r in REPLAYABLE if r["route"] == "faq" and not r["features"]["risk"]]
    forced = [r for r in REPLAYABLE if r["route"] == "faq" and r["features"]["risk"]]  # us-ssn -> claude-sonnet
    assert faq["before"]["models"]["claude-haiku"]["count"] == len(plain)
    assert faq["after"]["models"]["nova-lite"] == {"count": len(plain), "share": round(len(plain) / faq["replayed"], 4)}
    assert "claude-haiku" not in faq["after"]["models"]
    assert faq["after"]["models"]["claude-sonnet"]["count"] == len(forced)  # the risk policy still forces it
    expected_before = sum(r["cost_usd"] for r in plain + forced)
    expected_after = sum(_price("nova-lite", r["input_tokens"], r["output_tokens"]) for r in plain) + sum(
        _price("claude-sonnet", r["input_tokens"], r["output_tokens"]) for r in forced
    )
    assert faq["before"]["cost_usd"] == pytest.approx(expected_before, abs=1e-6)
    assert faq["after"]["cost_usd"] == pytest.approx(expected_after, abs=1e-6)
    assert faq["after"]["cost_estimated"] == 0
    assert faq["changed_by_rule"] == {
        "static -> static": {"count": len(plain), "models": {"claude-haiku -> nova-lite": len(plain)}}
    }
    assert out["routes"]["auto"]["changed"] == 0  # other routes untouched


def test_a_request_that_failed_without_tokens_is_priced_as_an_estimate(tmp_path):
    """Given analytics streams that failed mid-stream (features logged, no tokens),
    when replayed with analytics -> nova-lite,
    then their cost before and after are estimates from features.estimated_tokens and the route's max_tokens."""
    out = _run(tmp_path, lambda c: c["routes"]["analytics"].update(model="nova-lite"))
    analytics = out["routes"]["analytics"]
    failed = [r for r in REPLAYABLE if r["route"] == "analytics" and "input_tokens" not in r]
    served = [r for r in REPLAYABLE if r["route"] == "analytics" and "input_tokens" in r]
    assert failed and served
    assert analytics["before"]["cost_estimated"] == analytics["after"]["cost_estimated"] == len(failed)
    out_tokens = CONFIG["routes"]["analytics"]["max_tokens"]  # 2048, under both models' max_output_tokens
    expected_after = sum(_price("nova-lite", r["input_tokens"], r["output_tokens"]) for r in served) + sum(
        _price("nova-lite", r["features"]["estimated_tokens"], out_tokens) for r in failed
    )
    assert analytics["after"]["cost_usd"] == pytest.approx(expected_after, abs=1e-6)


# --- a rule change ----------------------------------------------------------------------------------------


def test_a_rule_change_shows_the_changed_decisions_by_old_and_new_rule(tmp_path):
    """Given auto's hard-question rule at complexity >= 0.5889 in the log,
    when replayed with the threshold at 0.7 and easy questions sent to claude-haiku instead of the prompt router,
    then the hard ones below 0.7 move from hard-question to the default, and easy-question changes model."""

    def change(c):
        rules = c["routes"]["auto"]["dynamic"]["rules"]
        rules[1]["when"]["complexity"]["gte"] = 0.7
        rules[2]["target"] = {"model": "claude-haiku"}

    auto = _run(tmp_path, change)["routes"]["auto"]
    hard = [r for r in REPLAYABLE if r.get("rule") == "hard-question" and r["features"]["complexity"] < 0.7]
    easy = [r for r in REPLAYABLE if r.get("rule") == "easy-question"]
    assert hard and easy
    by_rule = auto["changed_by_rule"]
    assert by_rule["hard-question -> default"]["count"] == len(hard)
    assert by_rule["easy-question -> easy-question"] == {
        "count": len(easy),
        "models": {"nova-router -> claude-haiku": len(easy)},
    }
    assert auto["changed"] == len(hard) + len(easy) == auto["changed_model"]
    assert auto["after"]["models"]["claude-haiku"]["count"] == len(easy)
    assert "nova-router" not in auto["after"]["models"]


def test_a_prompt_router_keeps_the_member_that_answered(tmp_path):
    """Given easy auto requests the prompt router answered with nova-lite,
    when replayed under the same rules, then their cost after prices nova-lite (the member that answered), not
    the dearest member."""
    auto = _run(tmp_path)["routes"]["auto"]
    assert auto["after"]["cost_estimated"] == 0
    assert auto["after"]["cost_usd"] == pytest.approx(auto["before"]["cost_usd"], abs=1e-6)


# --- requests that become impossible ----------------------------------------------------------------------


def test_requests_a_change_makes_impossible_are_shown_as_rejected_or_without_a_capable_model(tmp_path):
    """Given SSN requests forced to claude-sonnet and free-tier analytics on nova-pro in the log,
    when replayed with SSNs rejected, nova-pro taken from the free tier and the tech_support route renamed,
    then they are counted as rejected (RiskRejected, UnknownRoute) or no capable model, with reason codes."""

    def change(c):
        c["risk_patterns"][0] = {"id": "us-ssn", "pattern": c["risk_patterns"][0]["pattern"], "action": "reject"}
        c["tiers"]["free"]["allowed_models"] = ["nova-lite", "claude-haiku"]
        c["routes"]["support"] = c["routes"].pop("tech_support")

    out = _run(tmp_path, change)
    ssn = [r for r in REPLAYABLE if "us-ssn" in r["features"]["risk"]]
    free_analytics = [r for r in REPLAYABLE if r["route"] == "analytics" and r["tier"] == "free"]
    support = [r for r in REPLAYABLE if r["route"] == "tech_support"]
    assert ssn and free_analytics and support
    rejected = out["total"]["rejected"]
    assert rejected["rejected_by_risk_policy"] == {
        "kind": "RiskRejected",
        "count": len(ssn),
        "reasons": {"risk pattern us-ssn": len(ssn)},
    }
    assert rejected["model_not_found"] == {
        "kind": "UnknownRoute",
        "count": len(support),
        "reasons": {"unknown name 'tech_support'": len(support)},
    }
    analytics = out["routes"]["analytics"]
    assert analytics["no_capable_model"] == {
        "count": len(free_analytics),
        "reasons": {"tier_not_allowed": len(free_analytics)},
    }
    assert analytics["after"]["models"]["(no capable model)"]["count"] == len(free_analytics)
    assert analytics["changed_by_rule"]["static -> (no capable model)"]["count"] == len(free_analytics)
    assert analytics["not_served_after"] == len(free_analytics)


def test_a_lower_cost_ceiling_finds_no_capable_model_over_the_ceiling(tmp_path):
    """Given creative requests on claude-opus for premium callers,
    when replayed with premium capped at a tiny cost per request,
    then they find no capable model, because of the cost ceiling."""
    out = _run(tmp_path, lambda c: c["tiers"]["premium"].update(max_cost_per_request_usd=0.000001))
    creative = out["routes"]["creative"]
    assert creative["no_capable_model"]["reasons"] == {"over_cost_ceiling": creative["replayed"]}


# --- complexity that was not logged -----------------------------------------------------------------------


def _creative_dynamic(c):
    c["routes"]["creative"].update(
        mode="dynamic",
        dynamic={
            "candidates": ["claude-sonnet", "claude-opus"],
            "rules": [
                {"id": "hard-creative", "when": {"complexity": {"gte": 0.6}}, "target": {"model": "claude-opus"}}
            ],
            "default": {"model": "claude-sonnet"},
        },
    )


def test_a_decision_that_needs_complexity_the_static_route_never_logged_is_not_replayable(tmp_path):
    """Given creative logged as a static route (no complexity score in its lines),
    when replayed with creative dynamic on complexity,
    then its requests are counted "not replayable: complexity not logged", nothing is invented."""
    out = _run(tmp_path, _creative_dynamic)
    creative = out["routes"]["creative"]
    n = len([r for r in REPLAYABLE if r["route"] == "creative"])
    assert creative["requests"] == n
    assert creative["replayed"] == 0
    assert creative["not_replayable"] == {replay.NOT_LOGGED: n}
    assert creative["after"]["models"] == {}
    assert "--assume-complexity" in out["notes"]["complexity"]


@pytest.mark.parametrize("assumed, model", [(0.9, "claude-opus"), (0.1, "claude-sonnet")])
def test_assume_complexity_replays_those_requests_with_the_given_score(tmp_path, assumed, model):
    """Given the same change, when replayed with --assume-complexity X,
    then the requests are replayed with X, counted as assumed, and the output says so."""
    out = _run(tmp_path, _creative_dynamic, assume_complexity=assumed)
    creative = out["routes"]["creative"]
    assert creative["replayed"] == creative["assumed_complexity"] == creative["requests"]
    assert list(creative["after"]["models"]) == [model]
    assert f"assumed {assumed}" in out["notes"]["complexity"]


def test_a_dynamic_route_whose_decision_does_not_read_complexity_replays_static_lines_exactly(tmp_path):
    """Given faq logged as static (no complexity),
    when replayed with faq dynamic on estimated_tokens only, or with a complexity rule that an earlier rule
    always pre-empts, then every faq request is replayed: the decision cannot depend on the missing score."""

    def change(c):
        c["routes"]["faq"].update(
            mode="dynamic",
            dynamic={
                "rules": [
                    {"id": "short", "when": {"estimated_tokens": {"lte": 100000}}, "target": {"model": "nova-lite"}},
                    {"id": "hard", "when": {"complexity": {"gte": 0.5}}, "target": {"model": "claude-sonnet"}},
                ],
                "default": {"model": "claude-haiku"},
            },
        )

    faq = _run(tmp_path, change)["routes"]["faq"]
    assert faq["not_replayable"] == {}
    assert faq["replayed"] == faq["requests"]
    assert faq["after"]["models"]["nova-lite"]["count"] == len(
        [r for r in REPLAYABLE if r["route"] == "faq" and not r["features"]["risk"]]
    )


# --- risk ids ----------------------------------------------------------------------------------------------


def test_logged_risk_ids_the_new_configuration_lacks_are_ignored_and_counted(tmp_path):
    """Given SSN requests logged with risk id us-ssn,
    when replayed with that pattern removed, then they route as any other request, and the dropped ids are
    counted; a pattern only the new configuration has is not re-evaluated."""

    def change(c):
        c["risk_patterns"] = [p for p in c["risk_patterns"] if p["id"] != "us-ssn"]
        c["risk_patterns"].append({"id": "anything", "pattern": "e", "action": "reject"})

    out = _run(tmp_path, change)
    faq = out["routes"]["faq"]
    assert faq["risk_ids_not_in_new_config"] == {"us-ssn": 1}
    assert faq["changed_by_rule"] == {"risk -> static": {"count": 1, "models": {"claude-sonnet -> claude-haiku": 1}}}
    assert out["total"]["rejected"] == {}  # the new "anything" pattern would match every prompt; it is not re-run
    assert "not re-evaluated" in out["notes"]["risk"]


# --- skipped lines and bad input -------------------------------------------------------------------------


def test_lines_that_are_not_requests_are_skipped_and_counted(tmp_path):
    """Given the log with configuration events, EMF documents, a dry run, failed requests that logged no
    features, and a few lines of other text,
    when replayed, then each kind is skipped and counted, and only the real requests are replayed."""
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(["INFO:     Started server process [4242]", "", *LINES, "not json {", "[1, 2]"]) + "\n")
    out = _run(tmp_path, decisions=path)
    skipped = out["input"]["skipped"]
    emf = sum(1 for line in LINES if line.startswith('{"_aws"'))
    assert skipped["not_request"] == {"EMF metrics document": emf, "configuration loaded": 2}
    assert skipped["not_json"] == 3  # the uvicorn line, "not json {" and a JSON list; the blank line is nothing
    assert skipped["dry_run"] == 1
    assert skipped["failed_without_features"] == {
        "rejected_by_risk_policy": 1,
        "model_not_found": 1,
        "no_capable_model": 1,
    }
    assert out["input"]["request_lines"] == len(REQUESTS)
    assert out["input"]["replayed"] == len(REPLAYABLE)


def _main(capsys, *args) -> tuple[int, str, str]:
    code = replay.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_invalid_new_configuration_exits_2_naming_the_field(tmp_path, capsys):
    """Given a new configuration whose faq route names an unknown model,
    when the tool runs, then it exits 2 with parse_routing_config's field-named error and no traceback."""
    bad = _config(tmp_path, lambda c: c["routes"]["faq"].update(model="gpt-nothing"))
    code, out, err = _main(capsys, "--decisions", str(LOG), "--config", bad)
    assert code == 2 and out == ""
    assert "routes.faq.model" in err and "gpt-nothing" in err
    assert "Traceback" not in err


def _file(name: str, text: str):
    """A decisions file of this content, made in the test's folder (its path, always a str)."""

    def make(folder) -> str:
        (folder / name).write_text(text)
        return str(folder / name)

    return make


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: str(p / "missing.jsonl"), "cannot read the decisions file"),
        (_file("config-only.jsonl", LINES[0] + "\n"), "no request lines"),
        # (written as `write_text("") and path` this case passed 0, and the tool read and closed file descriptor 0)
        (_file("empty.csv", ""), "no request lines"),
        (_file("cols.csv", "@timestamp,level\nx,y\n"), "no @message column"),
        (_file("broken.json", '{"events": ['), "not valid JSON"),
        (
            _file("failed.jsonl", "\n".join(line for line in LINES if "error_code" in line and "features" not in line)),
            "nothing to replay",
        ),
    ],
)
def test_bad_decision_files_exit_2_with_a_reason(tmp_path, capsys, make, expected):
    """Given a decisions file that is missing, has no request lines, or is no shape the tool knows,
    when the tool runs, then it exits 2 with one line saying why."""
    code, out, err = _main(capsys, "--decisions", make(tmp_path), "--config", _config(tmp_path))
    assert code == 2, err
    assert expected in err
    assert "Traceback" not in err


def test_an_unreadable_configuration_exits_2(tmp_path, capsys):
    code, _, err = _main(capsys, "--decisions", str(LOG), "--config", str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read the configuration" in err


def test_a_configuration_that_is_not_json_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    code, _, err = _main(capsys, "--decisions", str(LOG), "--config", str(path))
    assert code == 2 and "invalid routing configuration" in err


# --- output shapes and volume ----------------------------------------------------------------------------


def test_the_table_and_the_json_say_the_same_things(tmp_path, capsys):
    """Given a change, when printed as a table and as JSON,
    then the table shows each route's mix, cost, changes and rejections, and the JSON parses with the same totals."""
    new = _config(
        tmp_path,
        lambda c: (
            c["routes"]["faq"].update(model="nova-lite"),
            c["tiers"]["free"].update(allowed_models=["nova-lite", "claude-haiku"]),
        ),
    )
    code, table, _ = _main(capsys, "--decisions", str(LOG), "--config", new)
    assert code == 0
    assert "route faq:" in table and "route analytics:" in table and "TOTAL:" in table
    assert "claude-haiku -> nova-lite" in table
    assert "no capable model now: 3 (tier_not_allowed 3)" in table
    assert "Skipped:" in table and "dry runs 1" in table
    code, text, _ = _main(capsys, "--decisions", str(LOG), "--config", new, "--json")
    doc = json.loads(text)
    assert set(doc) == {"input", "config", "notes", "routes", "total", "speed"}
    assert doc["total"]["changed_by_rule"]["static -> static"]["count"] == 11


def test_repeat_replays_the_lines_that_many_times(tmp_path):
    """Given --repeat N, when replayed, then every count is N times larger (the speed figure's volume)."""
    once, thrice = _run(tmp_path), _run(tmp_path, repeat=3)
    assert thrice["input"]["lines"] == 3 * once["input"]["lines"]
    assert thrice["total"]["replayed"] == 3 * once["total"]["replayed"]
    assert thrice["speed"]["decisions"] == 3 * once["speed"]["decisions"]
    assert thrice["total"]["before"]["cost_usd"] == pytest.approx(3 * once["total"]["before"]["cost_usd"], abs=1e-6)


def test_a_decision_a_budget_made_is_replayed_without_budget_pressure_and_counted(tmp_path):
    """Given a line whose model was chosen by a spent budget (rule "budget"),
    when replayed, then it is decided as if no budget were under pressure, and counted as decided by a budget."""
    line = dict(
        next(r for r in REPLAYABLE if r["route"] == "faq" and not r["features"]["risk"]),
        model="nova-lite",
        rule="budget",
        reason="over the daily budget of tier standard: fallback -> nova-lite",
    )
    path = tmp_path / "budget.jsonl"
    path.write_text(json.dumps(line) + "\n")
    faq = _run(tmp_path, decisions=path)["routes"]["faq"]
    assert faq["before"]["decided_by_budget"] == 1
    assert faq["changed_by_rule"] == {"budget -> static": {"count": 1, "models": {"nova-lite -> claude-haiku": 1}}}


def test_a_malformed_request_line_is_skipped_and_counted(tmp_path):
    """Given a request line whose features are not what the router writes,
    when replayed, then it is counted as malformed and the rest replays."""
    good = next(r for r in REPLAYABLE if r["route"] == "faq")
    bad = dict(good, features=dict(good["features"], estimated_tokens="many"))
    path = tmp_path / "malformed.jsonl"
    path.write_text(json.dumps(bad) + "\n" + json.dumps(good) + "\n")
    out = _run(tmp_path, decisions=path)
    assert out["input"]["skipped"]["malformed"] == 1
    assert out["total"]["replayed"] == 1


@pytest.mark.parametrize("value", ["1.5", "-0.1", "hard"])
def test_assume_complexity_outside_0_to_1_is_refused(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exc:
        replay.main(["--decisions", str(LOG), "--config", _config(tmp_path), "--assume-complexity", value])
    assert exc.value.code == 2
    assert "a number in [0, 1]" in capsys.readouterr().err


def test_a_logged_scorer_version_is_carried_and_a_new_scorer_is_flagged(tmp_path):
    # Given the log's dynamic lines stamped with the scorer version that scored them (as the router logs it)
    from routing_engine.scorer import bundled

    lines = []
    for line in LINES:
        obj = json.loads(line) if '"message":"request ' in line else None
        if obj is not None and (obj.get("features") or {}).get("complexity") is not None:
            obj["scorer_version"] = "weights-of-last-month"
            line = json.dumps(obj)
        lines.append(line)
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(lines) + "\n")
    scored = sum(1 for r in REPLAYABLE if r["route"] == "auto" and r["features"].get("complexity") is not None)
    assert scored > 0

    # When replayed under a configuration whose `auto` scores with other weights (the bundled ones)
    out = _run(tmp_path, decisions=log)

    # then the replay still re-decides every line with the logged score, and says how many came from other weights
    assert out["routes"]["auto"]["replayed"] == sum(1 for r in REPLAYABLE if r["route"] == "auto")
    assert out["routes"]["auto"]["complexity_from_other_scorer"] == {"weights-of-last-month": scored}
    assert "complexity_from_other_scorer" not in out["routes"]["faq"]
    assert "weights-of-last-month" in replay.render(out)

    # and a line logged by the scorer the new route uses is not flagged
    same = log.read_text().replace("weights-of-last-month", bundled().version)
    log.write_text(same)
    assert "complexity_from_other_scorer" not in _run(tmp_path, decisions=log)["routes"]["auto"]


def test_the_logged_scorer_version_reaches_the_replayed_decision():
    line = {
        **next(r for r in REPLAYABLE if r["route"] == "auto" and r["features"].get("complexity") is not None),
        "scorer_version": "v-logged",
    }
    from routing_engine.config import parse_routing_config

    logged = replay.parse_logged(line, frozenset())
    assert logged.features.scorer_version == "v-logged"
    d = replay.Replayer(parse_routing_config(json.dumps(CONFIG)))._decide(logged, logged.features, "standard")
    assert d.scorer_version == "v-logged"


def _continuation_line(**change) -> dict:
    """A logged turn of a tool loop on `auto`: the whole conversation's features carry no complexity (a held
    conversation is decided on its task), its task's features do (hard: the strongest model)."""
    line = {
        "message": "request routed",
        "requested": "auto",
        "route": "auto",
        "model": "claude-opus",
        "mode": "dynamic",
        "rule": "hard-question",
        "tier": "standard",
        "features": {
            "estimated_tokens": 900,
            "complexity": None,
            "message_count": 7,
            "has_images": False,
            "has_documents": False,
            "uses_tools": True,
            "risk": [],
        },
        "conversation": {"affinity": True, "home_model": "claude-opus", "moved": False},
        "task_features": {
            "estimated_tokens": 60,
            "complexity": 0.66,
            "message_count": 1,
            "has_images": False,
            "has_documents": False,
            "uses_tools": True,
            "risk": [],
        },
    }
    line.update(change)
    return line


def test_a_logged_continuation_is_decided_again_on_its_task(tmp_path):
    """Given a tool-loop turn logged with its task's features, when replayed under the configuration that wrote it,
    then it is decided on the task as the router did (not counted as missing its complexity)."""
    log = tmp_path / "loop.jsonl"
    log.write_text(json.dumps(_continuation_line()) + "\n")
    out = replay.run(str(log), _config(tmp_path))
    auto = out["routes"]["auto"]
    assert auto["replayed"] == 1
    assert list(auto["after"]["models"]) == ["claude-opus"]


def test_a_logged_continuation_on_a_route_that_opts_out_needs_the_conversations_own_complexity(tmp_path):
    def per_turn(c):
        c["routes"]["auto"]["conversation_affinity"] = False

    log = tmp_path / "loop.jsonl"
    log.write_text(json.dumps(_continuation_line()) + "\n")
    out = replay.run(str(log), _config(tmp_path, per_turn))
    assert out["routes"]["auto"]["not_replayable"] == {replay.NOT_LOGGED: 1}


def test_cached_tokens_in_the_log_are_priced_at_the_new_model_s_cache_prices(tmp_path):
    """Given faq lines that read 10,000 tokens from the prompt cache,
    when replayed with faq -> nova-lite, which caches at $0.015 per million (and is priced at input without it),
    then the cost after prices those tokens at nova-lite's cache-read price, not its input price."""
    plain = [r for r in REPLAYABLE if r["route"] == "faq" and not r["features"]["risk"]]
    lines = [json.dumps({**r, "cache_read_tokens": 10_000}) for r in plain]
    log = tmp_path / "cached.jsonl"
    log.write_text("\n".join(lines) + "\n")

    def to_nova(c, caching: bool) -> None:
        c["routes"]["faq"].update(model="nova-lite")
        if caching:
            c["models"]["nova-lite"]["price"] |= {"cache_read_per_million": 0.015, "cache_write_per_million": 0.06}
            c["models"]["nova-lite"]["prompt_caching"] = {"fields": ["system", "messages"], "min_tokens": 1000}

    cached = _run(tmp_path, lambda c: to_nova(c, True), decisions=log)["routes"]["faq"]["after"]["cost_usd"]
    uncached = _run(tmp_path, lambda c: to_nova(c, False), decisions=log)["routes"]["faq"]["after"]["cost_usd"]
    tokens = sum(_price("nova-lite", r["input_tokens"], r["output_tokens"]) for r in plain)
    assert cached == pytest.approx(tokens + len(plain) * 10_000 * 0.015 / 1e6, abs=1e-6)
    assert uncached == pytest.approx(tokens + len(plain) * _price("nova-lite", 10_000, 0), abs=1e-6)


def test_learned_scorers_are_applied_as_the_routers_apply_them_and_the_report_names_the_versions(tmp_path, capsys):
    # Given the log, and a learned-scorers document with a scorer for `auto` (and one for a route that is gone)
    from routing_engine.scorer import bundled

    rule = next(r["id"] for r in CONFIG["routes"]["auto"]["dynamic"]["rules"] if "complexity" in r.get("when", {}))
    spec = bundled().spec()
    spec["version"] = "auto-20261207T2200-n2000"
    learned = tmp_path / "learned.json"
    learned.write_text(
        json.dumps(
            {
                "routes": {
                    "auto": {"rule": rule, "threshold": 0.0, "scorer": spec},
                    "gone": {"rule": rule, "threshold": 0.5, "scorer": spec},
                }
            }
        )
    )
    # When replayed under the same routing configuration with the learned scorers
    out = replay.run(str(LOG), _config(tmp_path), learned_path=str(learned))
    # Then the report says which entries applied and why the other did not, and which scorer decides `auto` now
    assert out["config"]["learned"]["applied"] == {"auto": "auto-20261207T2200-n2000"}
    assert "route 'gone' is not in the routing configuration" in out["config"]["learned"]["ignored"]["gone"]
    assert out["routes"]["auto"]["scorer"]["after"] == "auto-20261207T2200-n2000"
    # and the learned threshold (0: every request is hard) is applied with it
    assert out["routes"]["auto"]["changed"] > 0
    text = replay.render(out)
    assert "Learned scorers from" in text and "after: auto-20261207T2200-n2000" in text
    # and a learned document that does not validate exits 2 naming the field
    learned.write_text(json.dumps({"routes": {"auto": {"rule": rule, "threshold": 2, "scorer": spec}}}))
    code, _, err = _main(capsys, "--decisions", str(LOG), "--config", _config(tmp_path), "--learned", str(learned))
    assert code == 2 and "routes.auto.threshold" in err
