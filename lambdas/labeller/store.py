"""The labels table (DynamoDB): labels, each route's daily labelling spend, and the trainer's reports.

Keys: pk (S), sk (S).
- label  pk="label#<route>"  sk="<sampled_at>#<request_id>"  (a sample labelled twice, SQS delivers at least
  once, is stored once: the put is conditional)
- budget pk="budget#<route>" sk="<yyyy-mm-dd>" (UTC day), spent_usd added atomically (ADD): a sample's worst
  case is reserved first with a conditional ADD (refused when it would take the day over its budget), then
  corrected to what was really spent (ADD of the difference, negative when the sample cost less)
- report pk="report#<route>" sk="<iso>"
Items carry `expires_at` (epoch seconds, the table's TTL attribute). A label or report is stored as one JSON
string attribute `doc` beside its keys: numbers stay floats and nothing but the label dict's fields is written.
The client is injected (boto3's low-level `dynamodb` client).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

LABEL_TTL = timedelta(days=180)
BUDGET_TTL = timedelta(days=3)
REPORT_TTL = timedelta(days=400)


def _expires(now: datetime, ttl: timedelta) -> dict:
    return {"N": str(int((now + ttl).timestamp()))}


def label_sort_key(sampled_at: str, request_id: str) -> str:
    return f"{sampled_at}#{request_id}"


class LabelStore:
    def __init__(self, table_name: str, client, *, clock=lambda: datetime.now(UTC)):
        self.table_name = table_name
        self._client = client
        self._clock = clock

    # --- the daily budget -------------------------------------------------------------------

    def spent_on(self, route: str, day: str) -> float:
        item = self._client.get_item(
            TableName=self.table_name, Key=self._budget_key(route, day), ConsistentRead=True
        ).get("Item")
        return float(item["spent_usd"]["N"]) if item and "spent_usd" in item else 0.0

    def reserve_spend(self, route: str, day: str, usd: float, budget: float) -> bool:
        """Add `usd` to the day's spend if that keeps it within `budget`, in one atomic conditional update; False
        (nothing added) when it would not. Concurrent labellers each see the others' reservations."""
        from botocore.exceptions import ClientError

        if usd > budget:
            return False
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._budget_key(route, day),
                UpdateExpression="ADD spent_usd :usd SET expires_at = :exp",
                ConditionExpression="attribute_not_exists(spent_usd) OR spent_usd <= :room",
                ExpressionAttributeValues={
                    ":usd": {"N": repr(float(usd))},
                    ":room": {"N": repr(float(budget - usd))},
                    ":exp": _expires(self._clock(), BUDGET_TTL),
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def add_spend(self, route: str, day: str, usd: float) -> None:
        """Add `usd` (negative: give back what a reservation did not use) to the day's spend."""
        if usd == 0:
            return
        self._client.update_item(
            TableName=self.table_name,
            Key=self._budget_key(route, day),
            UpdateExpression="ADD spent_usd :usd SET expires_at = :exp",
            ExpressionAttributeValues={":usd": {"N": repr(float(usd))}, ":exp": _expires(self._clock(), BUDGET_TTL)},
        )

    @staticmethod
    def _budget_key(route: str, day: str) -> dict:
        return {"pk": {"S": f"budget#{route}"}, "sk": {"S": day}}

    # --- labels -----------------------------------------------------------------------------

    def has_label(self, route: str, sampled_at: str, request_id: str) -> bool:
        key = {"pk": {"S": f"label#{route}"}, "sk": {"S": label_sort_key(sampled_at, request_id)}}
        return "Item" in self._client.get_item(TableName=self.table_name, Key=key, ProjectionExpression="pk")

    def put_label(self, label: dict) -> bool:
        """Store a label; False when this sample's label is already there (a redelivered message)."""
        from botocore.exceptions import ClientError

        sampled_at = label.get("sampled_at") or label["labelled_at"]
        item = {
            "pk": {"S": f"label#{label['route']}"},
            "sk": {"S": label_sort_key(sampled_at, label["request_id"])},
            "doc": {"S": json.dumps(label, separators=(",", ":"), ensure_ascii=False)},
            "expires_at": _expires(self._clock(), LABEL_TTL),
        }
        try:
            self._client.put_item(TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def labels(self, route: str) -> list[dict]:
        """Every stored label of the route (oldest first; TTL keeps them 180 days)."""
        values: dict = {":pk": {"S": f"label#{route}"}}
        return [json.loads(item["doc"]["S"]) for item in self._query("pk = :pk", values)]

    # --- reports ----------------------------------------------------------------------------

    def put_report(self, route: str, report: dict) -> None:
        now = self._clock()
        sk = report.get("generated_at") or now.isoformat(timespec="seconds").replace("+00:00", "Z")
        self._client.put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": f"report#{route}"},
                "sk": {"S": str(sk)},
                "doc": {"S": json.dumps(report, separators=(",", ":"), ensure_ascii=False, default=str)},
                "expires_at": _expires(now, REPORT_TTL),
            },
        )

    def reports(self, route: str, *, limit: int = 10) -> list[dict]:
        """The route's latest reports, newest first."""
        out = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"report#{route}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [json.loads(item["doc"]["S"]) for item in out.get("Items", [])]

    def _query(self, condition: str, values: dict) -> list[dict]:
        items: list[dict] = []
        kwargs: dict = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        while True:
            page = self._client.query(**kwargs)
            items.extend(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                return items
            kwargs["ExclusiveStartKey"] = last


class MemoryLabelStore:
    """The same interface in memory (local mode, tests of code that only needs a store)."""

    def __init__(self) -> None:
        self.spend: dict[tuple[str, str], float] = {}
        self._labels: dict[str, dict[str, dict]] = {}
        self._reports: dict[str, list[dict]] = {}
        self._lock = threading.Lock()  # the table's atomic updates: labellers may share one store in threads

    def spent_on(self, route: str, day: str) -> float:
        with self._lock:
            return self.spend.get((route, day), 0.0)

    def reserve_spend(self, route: str, day: str, usd: float, budget: float) -> bool:
        with self._lock:
            spent = self.spend.get((route, day))
            if usd > budget or (spent is not None and spent > budget - usd):
                return False
            self.spend[(route, day)] = (spent or 0.0) + usd
            return True

    def add_spend(self, route: str, day: str, usd: float) -> None:
        if usd != 0:
            with self._lock:
                self.spend[(route, day)] = self.spend.get((route, day), 0.0) + usd

    def has_label(self, route: str, sampled_at: str, request_id: str) -> bool:
        return label_sort_key(sampled_at, request_id) in self._labels.get(route, {})

    def put_label(self, label: dict) -> bool:
        key = label_sort_key(label.get("sampled_at") or label["labelled_at"], label["request_id"])
        with self._lock:
            labels = self._labels.setdefault(label["route"], {})
            if key in labels:
                return False
            labels[key] = json.loads(json.dumps(label))
            return True

    def labels(self, route: str) -> list[dict]:
        items = sorted(self._labels.get(route, {}).items())
        return [json.loads(json.dumps(doc)) for _, doc in items]

    def put_report(self, route: str, report: dict) -> None:
        self._reports.setdefault(route, []).append(json.loads(json.dumps(report, default=str)))

    def reports(self, route: str, *, limit: int = 10) -> list[dict]:
        return list(reversed(self._reports.get(route, [])))[:limit]


def create_table(client, name: str) -> None:
    """The labels table as the stack defines it (pk/sk strings, on demand, TTL on expires_at): tests, local runs."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


def dynamodb_client(region: str | None = None):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        region_name=region,
        config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 3, "mode": "standard"}),
    )


__all__ = [
    "BUDGET_TTL",
    "LABEL_TTL",
    "REPORT_TTL",
    "LabelStore",
    "MemoryLabelStore",
    "create_table",
    "dynamodb_client",
    "label_sort_key",
]
