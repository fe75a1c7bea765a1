"""Lambda entry point: batches of label samples from the label queue (SQS event source, partial batch responses).

Each record is labelled by labeller.labelling. A record that fails (Bedrock or DynamoDB errors) is reported in
`batchItemFailures`, so only it returns to the queue, to be retried and finally dead-lettered; invalid samples,
samples over the day's budget, unparseable verdicts and requests a model refused for good (model_rejected: invalid
for it, access denied, unknown model; the log line names the error class) are final outcomes (logged, counted,
deleted).

Metrics (namespace POWERTOOLS_METRICS_NAMESPACE), each by {service, Route, ...}:
LabelsStored{Route}, LabelsSkipped{Route, Reason}, StrongWinRate{Route, Pair} (value: the label's target; its
Average is the judged strong-model win rate), LabelSpendUSD{Route}.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from labeller import labelling, wiring
from labeller.labelling import Converse, LabelOutcome
from labeller.store import LabelStore

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "model-router-labeller")
logger = Logger(service=SERVICE)
# A batch holds one sample (the stack's batch size): with the default, one failed record would fail the whole
# invocation, counting as a function error (the labeller-errors alarm) and slowing the poller. Failed records
# are reported in batchItemFailures instead, retried by SQS and dead-lettered after the redrive policy.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

# Built on the first invocation and reused while the environment lives; tests assign their own.
store: LabelStore | None = None
converse: Converse | None = None


def _deps() -> tuple[LabelStore, Converse]:
    global store, converse
    if store is None:
        store = wiring.store_from_env(dict(os.environ))
    if converse is None:
        converse = wiring.converse_from_env(dict(os.environ))
    return store, converse


def _metric(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    with single_metric(name=name, unit=unit, value=value, default_dimensions={"service": SERVICE, **dimensions}):
        pass


def report(outcome: LabelOutcome, record_id: str) -> None:
    """One log line per sample (never its text) and its metrics."""
    fields: dict[str, Any] = {
        "route": outcome.route,
        "outcome": outcome.kind,
        "message_id": record_id,
        "cost_usd": round(outcome.cost_usd, 8),
    }
    if outcome.detail:
        fields["detail"] = outcome.detail
    if outcome.error_class:
        fields["error_class"] = outcome.error_class
    if outcome.label is not None:
        fields.update(
            request_id=outcome.label["request_id"],
            target=outcome.label["target"],
            verdicts=outcome.label["verdicts"],
            served_model=outcome.label["served_model"],
        )
    logger.info("sample labelled" if outcome.kind == labelling.STORED else "sample not labelled", extra=fields)
    if outcome.kind == labelling.STORED:
        _metric("LabelsStored", MetricUnit.Count, 1, Route=outcome.route)
        if outcome.pair is not None and outcome.target is not None:
            _metric("StrongWinRate", MetricUnit.NoUnit, outcome.target, Route=outcome.route, Pair=outcome.pair)
    else:
        reason = "budget" if outcome.kind == labelling.OVER_BUDGET else outcome.kind
        _metric("LabelsSkipped", MetricUnit.Count, 1, Route=outcome.route, Reason=reason)
    if outcome.cost_usd:
        _metric("LabelSpendUSD", MetricUnit.NoUnit, outcome.cost_usd, Route=outcome.route)


def record_handler(record: SQSRecord) -> None:
    the_store, the_converse = _deps()
    try:
        sample = json.loads(record.body)
    except ValueError:
        sample = None  # labelled "invalid" below: a message that is not JSON will never become one
    try:
        outcome = labelling.label_sample(sample, converse=the_converse, store=the_store, now=datetime.now(UTC))
    except Exception as exc:
        cause = exc.__cause__ if isinstance(exc, labelling.FailedAfterSpending) and exc.__cause__ else exc
        logger.warning(
            "sample failed: it returns to the queue (retried, then dead-lettered)",
            extra={
                "message_id": record.message_id,
                "error": f"{type(cause).__name__}: {cause}"[:500],
                "route": sample.get("route") if isinstance(sample, dict) else None,
                "cost_usd": round(getattr(exc, "cost_usd", 0.0), 8),
            },
        )
        if isinstance(exc, labelling.FailedAfterSpending):  # paid for, though failed: the dashboard's spend shows it
            _metric("LabelSpendUSD", MetricUnit.NoUnit, exc.cost_usd, Route=exc.route)
        raise
    report(outcome, record.message_id)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)  # {"batchItemFailures": [{"itemIdentifier": <message id>}, ...]}
