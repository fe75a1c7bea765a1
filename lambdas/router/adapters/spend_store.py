"""Spend counters in one DynamoDB table: atomic adds per (caller or tier, period) and one batched read.

The table has a string partition key `pk` (keys are built by router.budgets, e.g. `caller#<id>#d2026-12-01`,
`tier#free#m2026-12`) and a TTL attribute `expires_at` (epoch seconds, set once per item, some days after its
period ends), so old periods delete themselves. Each item holds `spend_usd` and `requests`, both only ever
increased with `ADD`, so any number of instances can write the same item at once without losing an update.

The client is injected (boto3 in Lambda, moto's in-process DynamoDB locally, fakes in tests). Every failure is
a `SpendStoreError`: the router fails open on it, so one exception type is all its callers need to know.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol


class SpendStoreError(Exception):
    """The spend table could not be read or written (throttled, unreachable, misconfigured)."""


class Spend(NamedTuple):
    usd: float
    requests: int


ZERO = Spend(0.0, 0)
# attribute names are always aliased: DynamoDB reserves hundreds of words, and a plain name may become one
NAMES = {"#spend": "spend_usd", "#requests": "requests", "#ttl": "expires_at"}


class SpendKey(NamedTuple):
    pk: str
    expires_at: int  # epoch seconds: DynamoDB's TTL deletes the item some time after this


class SpendStore(Protocol):
    def add(self, keys: Sequence[SpendKey], cost_usd: float) -> None: ...

    def read(self, pks: Sequence[str]) -> dict[str, Spend]: ...


def _usd(value: float) -> str:
    # DynamoDB numbers are decimal strings; 12 places keep a $0.000001 request exact and avoid exponent notation
    return f"{max(0.0, value):.12f}"


@dataclass
class DynamoSpendStore:
    """`add` writes its keys in parallel (one UpdateItem each: a request's four counters cost one round trip of
    latency, not four); `read` is one BatchGetItem (up to 100 keys, retried once for unprocessed keys)."""

    table_name: str
    client: Any  # a boto3 DynamoDB client

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="spend-store")

    def add(self, keys: Sequence[SpendKey], cost_usd: float) -> None:
        if not keys:
            return
        futures = [self._pool.submit(self._add_one, key, cost_usd) for key in keys]
        failures = [exc for exc in (f.exception() for f in futures) if exc is not None]
        if failures:
            raise SpendStoreError(f"{len(failures)} of {len(keys)} spend updates failed: {failures[0]}")

    def _add_one(self, key: SpendKey, cost_usd: float) -> None:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": key.pk}},
                UpdateExpression="ADD #spend :cost, #requests :one SET #ttl = if_not_exists(#ttl, :ttl)",
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues={
                    ":cost": {"N": _usd(cost_usd)},
                    ":one": {"N": "1"},
                    ":ttl": {"N": str(int(key.expires_at))},
                },
            )
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError, connection and timeout errors alike
            raise SpendStoreError(f"UpdateItem {key.pk}: {type(exc).__name__}: {exc}") from exc

    def read(self, pks: Sequence[str]) -> dict[str, Spend]:
        """Every key asked for, 0 where the table has no item yet."""
        unique = list(dict.fromkeys(pks))
        if not unique:
            return {}
        if len(unique) > 100:
            raise ValueError("BatchGetItem reads at most 100 keys")
        out = dict.fromkeys(unique, ZERO)
        request = {
            self.table_name: {
                "Keys": [{"pk": {"S": pk}} for pk in unique],
                "ConsistentRead": True,
                "ProjectionExpression": "#pk, #spend, #requests",
                "ExpressionAttributeNames": {"#pk": "pk", "#spend": "spend_usd", "#requests": "requests"},
            }
        }
        try:
            for _ in range(2):
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    out[item["pk"]["S"]] = Spend(
                        float(item.get("spend_usd", {}).get("N", "0")), int(item.get("requests", {}).get("N", "0"))
                    )
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    return out
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError, connection and timeout errors alike
            raise SpendStoreError(f"BatchGetItem: {type(exc).__name__}: {exc}") from exc
        raise SpendStoreError("BatchGetItem left keys unprocessed twice (throttled)")


def dynamodb_client(region: str | None):
    """Short timeouts and one retry: a slow table must cost a request little, since the router fails open."""
    from botocore.config import Config

    from aws_adapters import boto_session

    return boto_session.client(
        "dynamodb",
        region_name=region,
        config=Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 2, "mode": "standard"}),
    )


def create_table(client, table_name: str) -> None:
    """The table's shape, for local mode and tests (in AWS the CDK stack creates it)."""
    client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
