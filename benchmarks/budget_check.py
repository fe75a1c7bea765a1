"""The latency the budget check adds to the request path: BudgetGuard.check (and, for reference, record) against
moto's in-process DynamoDB, through the real adapter code.

    python -m benchmarks.budget_check [--n 5000]

- no budget: the configuration has none (the check returns without any work);
- cached: a caller with its own budget and a tier budget, read within BUDGET_CACHE_SECONDS (no DynamoDB call);
- uncached: cache age 0, so every check is one BatchGetItem (here against moto: the in-process cost of botocore
  serialising the call plus moto's handling; in AWS add the network round trip, typically 2-5 ms in-region);
- record: the four UpdateItems after an answer (in parallel).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import boto3
from moto import mock_aws

from router.adapters.spend_store import DynamoSpendStore, create_table
from router.budgets import BudgetGuard
from routing_engine.config import parse_routing_config

ROOT = Path(__file__).resolve().parent.parent


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(fn, n: int) -> list[float]:
    for _ in range(min(200, n)):  # warm-up
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    data = json.loads((ROOT / "config/routing.json").read_text())
    plain = parse_routing_config(
        json.dumps(
            {**data, "tiers": {k: {kk: vv for kk, vv in v.items() if kk != "budget"} for k, v in data["tiers"].items()}}
        )
    )
    data["caller_budgets"] = {"local-free-key": {"daily_usd": 1, "monthly_usd": 10}}
    budgeted = parse_routing_config(json.dumps(data))
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "spend")
        store = DynamoSpendStore("spend", client)
        cached = BudgetGuard(store, cache_s=3600)
        uncached = BudgetGuard(store, cache_s=0)
        rows = {
            "no budget configured": timed(lambda: cached.check(plain, "local-free-key", "free"), args.n),
            "cached (no DynamoDB call)": timed(lambda: cached.check(budgeted, "local-free-key", "free"), args.n),
            "uncached (one BatchGetItem, moto)": timed(
                lambda: uncached.check(budgeted, "local-free-key", "free"), max(200, args.n // 10)
            ),
            "record (4 UpdateItems in parallel, moto)": timed(
                lambda: cached.record("local-free-key", "free", 0.001), max(200, args.n // 10)
            ),
        }
    print(f"budget check on the request path ({args.n} samples; uncached/record {max(200, args.n // 10)})")
    print(f"{'case':45} {'p50 µs':>10} {'p99 µs':>10}")
    for name, samples in rows.items():
        p50, p99 = percentiles(samples)
        print(f"{name:45} {p50:10.1f} {p99:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
