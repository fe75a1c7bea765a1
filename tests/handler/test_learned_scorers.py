"""Learned scorers from their own profile (issue 14, item 5), through the router as a caller sees it.

The router reads the routing document and the learned-scorers document (here both from files, as local mode
does; in Lambda both from AppConfig). A route's learned scorer decides together with the threshold calibrated
for it; the dry-run trace, the answer and the request's log line name the version that decided; a learned entry
that no longer fits the routing document is ignored with a logged reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import json_lines
from tests.unit.engine_fixtures import scorer_spec

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "config" / "routing.json"
ROUTER_ARN = "arn:aws:bedrock:us-east-1:123456789012:prompt-router/nova"
PROMPT = "Explain what a database index is."


def learned_doc(threshold: float, *, rule: str = "hard-question", version: str = "auto-20261207T2200-n2000") -> dict:
    # every prompt scores 0.5: under the routing document's own bound (gte 0.5879) it is never hard; under the
    # threshold calibrated for this scorer it is hard exactly when 0.5 >= threshold
    return {"routes": {"auto": {"rule": rule, "threshold": threshold, "scorer": scorer_spec(0.0, version)}}}


@pytest.fixture
def serve(router_service, web_adapter, tmp_path):
    def start(learned: dict | None, routing: dict | None = None):
        env = {"PROMPT_ROUTER_ARN": ROUTER_ARN}
        if learned is not None:
            path = tmp_path / "learned-scorers.json"
            path.write_text(json.dumps(learned))
            env["ROUTER_LEARNED_FILE"] = str(path)
        router_service(routing or str(BUNDLED), env=env)

        def dry(prompt: str = PROMPT) -> dict:
            return web_adapter.post("/v1/route", {"task": "auto", "prompt": prompt, "dry_run": True}).json()

        return dry

    return start


def test_the_learned_scorer_decides_with_its_own_threshold_and_the_trace_names_its_version(serve):
    # Given a learned scorer for `auto` whose calibrated threshold is 0.45
    dry = serve(learned_doc(0.45))
    # When a prompt is routed (dry run)
    body = dry()
    # Then its complexity is the learned scorer's, the learned threshold applies, and the version is named
    assert body["decision"]["features"]["complexity"] == pytest.approx(0.5)
    assert body["routing"]["rule"] == "hard-question"
    assert body["decision"]["scorer"] == {"name": "auto-learned", "version": "auto-20261207T2200-n2000"}
    assert body["routing"]["scorer_version"] == "auto-20261207T2200-n2000"


def test_a_learned_threshold_never_applies_without_its_scorer(serve):
    # Given no learned scorer, the routing document's own scorer and bound decide
    body = serve(None)()
    assert body["decision"]["scorer"]["name"] == "bundled"
    # and a learned entry whose threshold says "hard" only for its own scorer changes both, or neither
    high = serve(learned_doc(0.55))()  # 0.5 < 0.55: not hard, even though the bundled bound is not used either
    assert high["routing"]["rule"] != "hard-question" and high["decision"]["scorer"]["name"] == "auto-learned"


def test_a_route_that_opts_out_keeps_its_own_scorer(serve):
    routing = json.loads(BUNDLED.read_text())
    routing["routes"]["auto"]["dynamic"]["learned"] = False
    body = serve(learned_doc(0.45), routing)()
    assert body["decision"]["scorer"]["name"] == "bundled"


def test_an_entry_whose_rule_was_edited_away_is_ignored_with_the_reason_logged(serve, captured_stdout):
    # Given a learned entry for a rule the routing document no longer has
    body = serve(learned_doc(0.45, rule="renamed-rule"))()
    # Then the route serves as the routing document says, and one warning names the route and why
    assert body["decision"]["scorer"]["name"] == "bundled"
    lines = [d for d in json_lines(captured_stdout.readouterr().out) if d.get("message") == "learned scorer ignored"]
    assert len(lines) == 1 and lines[0]["level"] == "WARNING"
    assert "route auto" in lines[0]["detail"] and "no rule 'renamed-rule'" in lines[0]["detail"]


def test_the_request_log_line_names_the_learned_scorer_version(serve, web_adapter, captured_stdout):
    serve(learned_doc(0.45))
    reply = web_adapter.post("/v1/route", {"task": "auto", "prompt": PROMPT})
    assert reply.status_code == 200
    (line,) = [d for d in json_lines(captured_stdout.readouterr().out) if d.get("message") in ("request routed",)]
    assert line["scorer_version"] == "auto-20261207T2200-n2000"
