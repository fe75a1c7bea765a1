"""The spend store through moto's real DynamoDB API (every call shape), and a fleet of instances against one budget."""

from __future__ import annotations

import json
import threading
import time

import pytest
from moto import mock_aws

from aws_adapters.bedrock import BedrockConverse
from router.adapters.config_store import LastGoodStore
from router.adapters.spend_store import DynamoSpendStore, Spend, SpendKey, SpendStoreError, create_table
from router.budgets import BudgetGuard
from router.failures import FailureKind, RouterFailure
from router.http.route_api import parse as parse_route_body
from router.service import RouterService
from routing_engine.config import parse_routing_config
from routing_engine.engine import Engine
from tests.conftest import aws_client
from tests.unit.engine_fixtures import config_dict

TABLE = "spend-test"


@pytest.fixture
def dynamodb():
    with mock_aws():
        client = aws_client("dynamodb")
        create_table(client, TABLE)
        yield client


def test_add_is_an_atomic_counter_with_a_ttl_set_once(dynamodb):
    store = DynamoSpendStore(TABLE, dynamodb)
    store.add([SpendKey("tier#free#d2026-12-01", 1_000), SpendKey("tier#free#m2026-12", 2_000)], 0.000123)
    store.add([SpendKey("tier#free#d2026-12-01", 9_999)], 0.5)
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "tier#free#d2026-12-01"}})["Item"]
    assert item["expires_at"] == {"N": "1000"}  # if_not_exists: the first write's TTL stays
    assert float(item["spend_usd"]["N"]) == pytest.approx(0.500123) and item["requests"] == {"N": "2"}
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_read_is_one_batch_get_with_zero_for_missing_keys(dynamodb):
    store = DynamoSpendStore(TABLE, dynamodb)
    store.add([SpendKey("caller#a#d2026-12-01", 1)], 0.25)
    assert store.read(["caller#a#d2026-12-01", "caller#b#d2026-12-01", "caller#a#d2026-12-01"]) == {
        "caller#a#d2026-12-01": Spend(0.25, 1),
        "caller#b#d2026-12-01": Spend(0.0, 0),
    }


def test_a_missing_table_is_a_spend_store_error_for_both_calls(dynamodb):
    store = DynamoSpendStore("no-such-table", dynamodb)
    with pytest.raises(SpendStoreError, match="ResourceNotFoundException"):
        store.add([SpendKey("tier#x#d2026-12-01", 1)], 0.1)
    with pytest.raises(SpendStoreError, match="ResourceNotFoundException"):
        store.read(["tier#x#d2026-12-01"])


# --- a fleet against one budget -------------------------------------------------------------------

INSTANCES = 16
CACHE_S = 2.0
MODEL_LATENCY_S = 0.02
BUDGET_USD = 3.5
COST_USD = 1000 / 1000 * 0.001 + 500 / 1000 * 0.005  # "small" answering 1,000 input and 500 output tokens


class SlowModel:
    """A Converse client that takes MODEL_LATENCY_S and answers with 1,000 input and 500 output tokens."""

    def converse(self, **_request):
        time.sleep(MODEL_LATENCY_S)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1000, "outputTokens": 500, "totalTokens": 1500},
            "metrics": {"latencyMs": 20},
        }


class OneItemAtATime:
    """moto's in-process DynamoDB updates an item's attributes one by one in the calling thread, so two threads can
    lose an ADD; DynamoDB applies each UpdateItem atomically. Serializing the calls gives moto that guarantee."""

    def __init__(self, client):
        self._client = client
        self._lock = threading.Lock()

    def update_item(self, **kw):
        with self._lock:
            return self._client.update_item(**kw)

    def batch_get_item(self, **kw):
        with self._lock:
            return self._client.batch_get_item(**kw)


@pytest.mark.slow
def test_sixteen_instances_share_one_tier_budget_and_overshoot_within_the_bound(dynamodb):
    # Given 16 instances whose 16 callers all belong to tier free (one $3.50 daily budget for them together)
    store = DynamoSpendStore(TABLE, OneItemAtATime(dynamodb))
    data = config_dict()
    data["tiers"]["free"]["budget"] = {"daily_usd": BUDGET_USD}
    data["callers"] = {f"key-{i}": "free" for i in range(INSTANCES)}
    raw = json.dumps(data).encode()
    model = SlowModel()

    def make() -> RouterService:
        routing = LastGoodStore("routing", lambda: raw, lambda r, v: Engine(parse_routing_config(r), v), source="t")
        return RouterService(
            routing, BedrockConverse(lambda region, timeout_s: model), budgets=BudgetGuard(store, cache_s=CACHE_S)
        )

    services = [make() for _ in range(INSTANCES)]
    for s in services:
        s.routing.get()
    served = [0] * INSTANCES
    costs = [0.0] * INSTANCES
    start = threading.Barrier(INSTANCES)

    def run(i: int) -> None:
        start.wait()
        while True:
            request = parse_route_body(json.dumps({"task": "faq", "prompt": "hi"}), max_messages=10)
            try:
                result = services[i].complete(request, caller=f"key-{i}")
            except RouterFailure as failure:
                assert failure.kind is FailureKind.BUDGET_EXCEEDED
                return
            served[i] += 1
            costs[i] += result.cost_usd or 0.0

    # When they all send requests until refused
    threads = [threading.Thread(target=run, args=(i,)) for i in range(INSTANCES)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.monotonic() - t0

    # Then no update was lost, and the overshoot is within instances x cache age x spend rate + in-flight requests
    pk = f"tier#free#d{time.strftime('%Y-%m-%d', time.gmtime())}"
    total = store.read([pk])[pk]
    assert total.requests == sum(served)
    assert total.usd == pytest.approx(sum(costs))
    fleet_rate = total.usd / elapsed  # measured spend rate of the whole fleet, USD per second
    bound = CACHE_S * fleet_rate + INSTANCES * COST_USD
    worst = CACHE_S * INSTANCES * COST_USD / MODEL_LATENCY_S + INSTANCES * COST_USD  # at the fastest possible rate
    overshoot = total.usd - BUDGET_USD
    print(
        f"\n[{INSTANCES} instances, cache {CACHE_S:g} s] budget ${BUDGET_USD:.2f}, spent ${total.usd:.4f} in "
        f"{total.requests} requests over {elapsed:.2f} s (fleet rate ${fleet_rate:.3f}/s); overshoot "
        f"${overshoot:.4f} ({overshoot / BUDGET_USD:.1%}); bound at the measured average rate ${bound:.4f}, "
        f"at the fastest possible rate ${worst:.4f}"
    )
    assert 0 <= overshoot <= worst
