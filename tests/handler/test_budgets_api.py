"""Budgets through the HTTP app: 429 budget_exceeded with Retry-After, fallback, soft threshold, fail-open,
streams recorded at their end, and GET /v1/usage showing a caller only its own spend."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from router.adapters.spend_store import Spend
from router.budgets import BudgetGuard
from tests.unit.test_budgets import Clock, FakeSpendStore

NOW = datetime(2026, 12, 1, 22, 30, tzinfo=UTC).timestamp()  # 1 h 30 min before the day resets
DAY = "d2026-12-01"


@pytest.fixture
def budgeted(router_service, routing_config):
    """`budgeted(tier_budget=None, caller_budgets=None, dynamic=False)`: the service over a fake spend store."""

    def build(tier_budget=None, caller_budgets=None, dynamic=False):
        routing_config["tiers"]["free"] = {"budget": tier_budget} if tier_budget else {}
        routing_config["callers"] = {"key-a": "free", "key-b": "free"}
        routing_config["caller_budgets"] = caller_budgets or {}
        if dynamic:
            routing_config["routes"]["auto"] = {
                "model": "claude-haiku",
                "mode": "dynamic",
                "dynamic": {
                    "rules": [
                        {
                            "id": "always-strong",
                            "when": {"message_count": {"gte": 1}},
                            "target": {"strategy": "strongest_within_budget"},
                        }
                    ]
                },
            }
        service = router_service(routing_config)
        store = FakeSpendStore()
        service.budgets = BudgetGuard(store, cache_s=5, clock=Clock(NOW))
        return service, store

    return build


def ask(web_adapter, key="key-a", task="faq", **extra):
    response = web_adapter.post("/v1/route", {"task": task, "prompt": "hello", **extra}, api_key_id=key)
    return response, response.json() if response.text.startswith("{") else response.text


def test_over_the_budget_a_static_route_answers_429_with_the_reset_time(budgeted, web_adapter, fake_bedrock):
    _, store = budgeted({"daily_usd": 1.0})
    store.items[f"tier#free#{DAY}"] = Spend(1.2, 40)
    response, body = ask(web_adapter)
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(90 * 60)
    assert body["error"]["code"] == "budget_exceeded" and body["error"]["type"] == "rate_limit_error"
    assert body["error"]["message"] == (
        "budget exceeded: tier free has spent $1.20 of its daily budget of $1.00; "
        "it resets at 2026-12-02T00:00:00Z (in 1h 30m)"
    )
    assert body["error"]["details"]["resets_at"] == "2026-12-02T00:00:00Z"
    assert fake_bedrock.requests == []  # no model was called


def test_over_a_fallback_budget_the_fallback_model_serves_and_the_reason_says_so(budgeted, web_adapter, fake_bedrock):
    _, store = budgeted(
        caller_budgets={"key-a": {"monthly_usd": 2, "over_budget": "fallback", "fallback_model": "nova-pro"}}
    )
    store.items["caller#key-a#m2026-12"] = Spend(2.5, 9)
    response, body = ask(web_adapter, task="creative")  # a static route to claude-opus
    assert response.status_code == 200
    assert fake_bedrock.model_ids == ["us.amazon.nova-pro-v1:0"]
    assert body["routing"]["rule"] == "budget"
    assert body["routing"]["reason"] == (
        "over the monthly budget of caller key-a ($2.00): over_budget fallback -> nova-pro"
    )


def test_over_the_soft_threshold_a_dynamic_route_goes_cheap_and_the_dry_run_trace_says_why(budgeted, web_adapter):
    _, store = budgeted({"daily_usd": 10.0}, dynamic=True)
    store.items[f"tier#free#{DAY}"] = Spend(8.5, 3)
    response, body = ask(web_adapter, task="auto", dry_run=True)
    assert response.status_code == 200
    routing = body["routing"]
    assert routing["model"] == "nova-pro" and routing["rule"] == "budget_soft"
    assert routing["reason"] == "over 80% of the daily budget of tier free: cheapest_capable -> nova-pro"
    budget = body["decision"]["budget"]
    assert budget["enforcement"] == "enforced" and budget["budgets"][0]["state"] == "soft"


def test_the_soft_threshold_leaves_a_static_route_alone(budgeted, web_adapter):
    _, store = budgeted({"daily_usd": 10.0})
    store.items[f"tier#free#{DAY}"] = Spend(9.0, 3)
    response, body = ask(web_adapter, task="creative")
    assert response.status_code == 200 and body["routing"]["model"] == "claude-opus"


def test_a_failing_spend_table_never_fails_a_request_and_the_line_counts_it(
    budgeted, web_adapter, captured_stdout, parse_json_lines
):
    _, store = budgeted({"daily_usd": 1.0})
    store.failing = True
    response, _ = ask(web_adapter)
    assert response.status_code == 200
    lines = parse_json_lines(captured_stdout.readouterr().out)
    line = next(entry for entry in lines if entry.get("message") == "request routed")
    assert line["spend_store_errors"] == 2  # the read before the call and the write after it
    assert line["tier"] == "free" and line["caller"] == "key-a"
    # and the metric the spend-store alarm watches, by {service, Store=spend}
    (doc,) = [entry for entry in lines if entry.get("Store") == "spend"]
    assert doc["SpendStoreErrors"] == 2 and doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "Store"]]


def test_a_rejected_request_counts_budget_rejected_in_its_line(
    budgeted, web_adapter, captured_stdout, parse_json_lines
):
    _, store = budgeted({"daily_usd": 1.0})
    store.items[f"tier#free#{DAY}"] = Spend(1.0, 1)
    ask(web_adapter)
    line = next(l for l in parse_json_lines(captured_stdout.readouterr().out) if l.get("message") == "request failed")
    assert line["BudgetRejected"] == 1 and line["budget_action"] == "rejected" and line["tier"] == "free"


def test_an_answer_is_recorded_for_its_caller_and_tier_with_the_answering_models_cost(budgeted, web_adapter):
    _, store = budgeted({"daily_usd": 10.0})
    response, body = ask(web_adapter)  # faq -> claude-haiku, 100 input and 20 output tokens from the fake
    cost = 100 / 1000 * 0.001 + 20 / 1000 * 0.005
    for pk in (f"caller#key-a#{DAY}", "caller#key-a#m2026-12", f"tier#free#{DAY}", "tier#free#m2026-12"):
        assert store.spend(pk) == pytest.approx(cost)


def test_a_stream_is_recorded_at_its_end(budgeted):
    from router.http.route_api import parse

    service, store = budgeted({"daily_usd": 10.0})
    request = parse(json.dumps({"task": "faq", "prompt": "hi", "stream": True}), max_messages=10)
    answer = service.open_stream(request, caller="key-a")
    assert store.adds == 0  # the first token is here; nothing is billed yet
    list(answer.events())
    assert store.adds == 1 and store.spend(f"tier#free#{DAY}") == pytest.approx(answer.result.cost_usd)


def test_a_caller_no_budget_governs_costs_no_spend_table_write(budgeted, web_adapter):
    # Given a budget for key-a only, and key-c in the (unbudgeted) default tier
    _, store = budgeted(caller_budgets={"key-a": {"daily_usd": 10.0}})
    # When key-c is answered, then nothing is written (no budget to enforce); key-a's answer is recorded
    ask(web_adapter, key="key-c")
    assert store.adds == 0
    ask(web_adapter, key="key-a")
    assert store.adds == 1


def test_a_dry_run_records_nothing(budgeted, web_adapter, fake_bedrock):
    _, store = budgeted({"daily_usd": 10.0})
    ask(web_adapter, dry_run=True)
    assert store.adds == 0 and fake_bedrock.requests == []


# --- GET /v1/usage ---------------------------------------------------------------------------------


def usage(web_adapter, key, path="/v1/usage"):
    response = web_adapter.get(path, api_key_id=key)
    return response, response.json()


def test_usage_shows_the_callers_own_spend_and_its_tiers(budgeted, web_adapter):
    _, store = budgeted({"daily_usd": 10.0}, {"key-a": {"daily_usd": 1.0}})
    store.items[f"caller#key-a#{DAY}"] = Spend(0.9, 3)
    store.items[f"tier#free#{DAY}"] = Spend(4.0, 20)
    response, body = usage(web_adapter, "key-a")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert body["caller"] == "key-a" and body["tier"] == "free" and body["budgets"] == "enforced"
    assert body["own"]["day"] == {
        "period": "2026-12-01",
        "resets_at": "2026-12-02T00:00:00Z",
        "spent_usd": 0.9,
        "requests": 3,
        "limit_usd": 1.0,
        "remaining_usd": 0.1,
        "state": "soft",
    }
    assert body["tier_total"]["day"]["spent_usd"] == 4.0 and body["tier_total"]["day"]["state"] == "ok"


def test_a_caller_cannot_read_another_callers_usage(budgeted, web_adapter):
    _, store = budgeted(caller_budgets={"key-a": {"daily_usd": 1.0}, "key-b": {"daily_usd": 1.0}})
    store.items[f"caller#key-b#{DAY}"] = Spend(0.75, 5)
    for path in ("/v1/usage?caller=key-b", "/v1/usage?api_key_id=key-b"):
        _, body = usage(web_adapter, "key-a", path)
        assert body["caller"] == "key-a" and body["own"]["day"]["spent_usd"] == 0.0
        assert "key-b" not in json.dumps(body)


def test_without_identity_usage_shows_the_default_tier_and_no_own_spend(budgeted, web_adapter):
    budgeted()
    response, body = usage(web_adapter, None)
    assert response.status_code == 200
    assert body["caller"] is None and body["own"] is None and body["tier"] == "standard"


def test_usage_answers_503_when_the_spend_table_cannot_be_read(budgeted, web_adapter):
    _, store = budgeted({"daily_usd": 1.0})
    store.failing = True
    response, body = usage(web_adapter, "key-a")
    assert response.status_code == 503 and body["error"]["code"] == "spend_store_unavailable"


def test_health_says_when_budgets_are_configured_but_not_enforced(router_service, routing_config, web_adapter):
    routing_config["tiers"]["standard"]["budget"] = {"daily_usd": 1.0}
    router_service(routing_config)  # no SPEND_TABLE_NAME
    body = web_adapter.request("GET", "/v1/health").json()
    assert body["budgets"] == "not enforced: no spend table"


def test_the_404_message_lists_the_usage_endpoint(router_service, web_adapter):
    router_service()
    body = web_adapter.request("GET", "/v1/nope").json()
    assert "GET /v1/usage" in body["error"]["message"]


def test_a_stream_the_client_leaves_is_billed_an_estimate_not_nothing(budgeted, fake_bedrock):
    from router.http.route_api import parse
    from tests.conftest import Pause

    # Given a long answer the client abandons after its first piece
    service, store = budgeted({"daily_usd": 10.0})
    fake_bedrock.script(
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "x" * 400}}},
            Pause(0.05),
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "y" * 400}}},
        ],
    )
    request = parse(json.dumps({"task": "faq", "prompt": "hi", "stream": True}), max_messages=10)
    answer = service.open_stream(request, caller="key-a")
    events = answer.events()
    next(events)
    # When the response ends early (the relay closes the answer), and the reader notices the closed stream
    answer.close()
    list(events)
    # Then what was generated is billed once, as an estimate, never as zero
    assert store.adds == 1 and store.spend(f"caller#key-a#{DAY}") > 0
