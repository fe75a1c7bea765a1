"""One structured log line per request, which is also its EMF metrics document; the metric names others rely on.

The request's line is written once, when the request (or its stream) ends, through the Powertools Logger. It
carries the routing facts for Logs Insights and, under `_aws`, the CloudWatch embedded-metric-format block, so
CloudWatch extracts the metrics from the same line: one `json.dumps` per request, no per-metric machinery on
the hot path. Failed calls to models other than the one that answered get their own small EMF document (off the
happy path), because EMF gives one value per metric name per document.

Metric contract (namespace from POWERTOOLS_METRICS_NAMESPACE, default ModelRouter), dimension sets
{service, Route, Model}, {service, Route}, {service, Model} (failed requests also {service, ErrorCode}):
- Requests, RequestLatency (ms), InputTokens, OutputTokens, EstimatedCostUSD, RequestErrors; Fallbacks (1 when the
  answer came from a fallback); ShadowAgreement (0/1) and ShadowCostDeltaUSD on shadow routes; TimeToFirstToken
  (ms, streamed requests); ClientDisconnects (a stream the caller left before its end); ColdStart (first request).
- Model health, per model call: ModelLatency (ms; its SampleCount is the number of calls; for a stream it is the
  time to its first token, which is what the model's latency SLO and breaker judge), and ModelErrors or
  ModelThrottles (1 per failed call), ModelAccessDenied (1 per call refused for access: needs a human), so
  error rate = Sum(ModelErrors) / SampleCount(ModelLatency). Alarms read these by {service, Model}.
- ConfigRejected / ConfigFetchFailed by {service, Store}.
- LabelSamples by {service, Outcome} (router.sampling): Outcome=queued per sample handed to the background sender,
  then sent, failed or too_large; on shadow routes ShadowCostDeltaUSD is the shadow model's cost at the served
  answer's own tokens minus the served answer's cost (negative: the dynamic choice would have been cheaper).

The request's line also names `scorer_version` (the weights that computed its complexity, when they did) and
`label_sample` (queued | not_drawn | off_pair | unsupported | too_large | queue_full) on a labelled route.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from aws_adapters.bedrock import THROTTLE_CLASSES
from router.failures import FailureKind, RouterFailure
from router.result import round_cost

if TYPE_CHECKING:
    from router.chat import ChatRequest
    from router.result import Attempt, RouteResult

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "model-router")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ModelRouter")
REQUEST_DIMENSIONS = [["service", "Route", "Model"], ["service", "Route"], ["service", "Model"]]
ERROR_DIMENSIONS = [*REQUEST_DIMENSIONS, ["service", "ErrorCode"]]


class _LineHandler(logging.StreamHandler):
    """Powertools' stdout handler, but each line is formatted (the JSON serialization, most of the cost) before the
    handler's lock is taken, and only written under it. `logging.Handler.handle` formats inside the lock, so
    concurrent requests queued behind each other's `json.dumps`: 5-17% of a request in the profile was threads
    waiting there. The formatter only reads shared state, so formatting on many threads at once is safe; the line
    and its fields are Powertools' own."""

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record):
            return False
        try:
            text = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - logging must never fail the request; logging reports it as usual
            self.handleError(record)
            return True
        with self.lock:  # type: ignore[union-attr]  # always set for a StreamHandler (createLock in __init__)
            try:
                self.stream.write(text)
                self.stream.flush()
            except Exception:  # noqa: BLE001 - as logging.StreamHandler.emit
                self.handleError(record)
        return True


logger = Logger(service=SERVICE, logger_handler=_LineHandler(sys.stdout))
_cold = True
_tracer = None

MS, COUNT, NONE = "Milliseconds", "Count", "None"


def metrics_enabled() -> bool:
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "false").lower() not in ("true", "1")


def emf_block(values: dict[str, tuple[str, float]], dimensions: list[list[str]]) -> dict:
    return {
        "Timestamp": int(time.time() * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in values.items()],
            }
        ],
    }


def emit(dimensions: dict[str, str], values: dict[str, tuple[str, float]]) -> None:
    """A standalone EMF document with its own dimensions (configuration events, failed model calls)."""
    if not metrics_enabled():
        return
    doc: dict = {"_aws": emf_block(values, [["service", *dimensions]]), "service": SERVICE, **dimensions}
    doc.update({name: value for name, (_, value) in values.items()})
    sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def attempt_values(*, error_class: str | None, retryable: bool, latency_ms: float | None) -> dict:
    """Every call adds one ModelLatency sample (so SampleCount is the call count); failures add a 1 to ModelErrors
    or ModelThrottles. A rejected bad request (non-retryable) is the caller's fault, not the model's."""
    values: dict[str, tuple[str, float]] = {"ModelLatency": (MS, latency_ms or 0.0)}
    if error_class is None or not retryable:
        return values
    values["ModelThrottles" if error_class in THROTTLE_CLASSES else "ModelErrors"] = (COUNT, 1)
    if error_class == "AccessDeniedException":
        values["ModelAccessDenied"] = (COUNT, 1)
    return values


def log_request(
    api: str,
    *,
    request_id: str,
    caller: str | None,
    status: int,
    elapsed_ms: float,
    chat: ChatRequest | None,
    result: RouteResult | None,
    failure: RouterFailure | None,
    disconnected: bool = False,
) -> None:
    """The request's one log line and metrics document, from what it came to: `result` when it was routed,
    `failure` when it failed (both for a stream that failed after it had started), `chat` once its body parsed."""
    line: dict = {"api": api, "status": status, "latency_ms": round(elapsed_ms, 2), "request_id": request_id}
    values: dict[str, tuple[str, float]] = {}
    if chat is not None:
        _asked(chat, line)
    if caller is not None:
        line["caller"] = caller
    if result is not None:
        _decided(result, line, values)
    attempts = result.attempts if result is not None else failure.attempts if failure is not None else []
    failed_calls = _model_calls(attempts, line, values)
    # budgets: the state checked before the call, spend-table errors (served anyway: fail open), the action
    budget_log = result.log_fields() if result is not None else dict(failure.log) if failure is not None else {}
    if result is None and "tier" in budget_log:
        line["tier"] = budget_log.pop("tier")
    line.update(budget_log)
    if failure is not None and failure.kind is FailureKind.BUDGET_EXCEEDED:
        line["budget_action"] = "rejected"
        values["BudgetRejected"] = (COUNT, 1)
    if result is not None and result.budget_soft_limited:
        values["BudgetSoftLimited"] = (COUNT, 1)
    if failure is not None:
        line["error_code"] = failure.code
        values["RequestErrors"] = (COUNT, 1)
    else:
        values["Requests"] = (COUNT, 1)
        values["RequestLatency"] = (MS, elapsed_ms)
    if result is not None:
        _answered(result, line, values)
    if disconnected:
        line["client_disconnected"] = True
        values["ClientDisconnects"] = (COUNT, 1)
    record_request(
        line,
        values,
        route=result.decision.route if result is not None else "none",
        model=result.model if result is not None else "none",
        error_code=failure.code if failure is not None else None,
        failed_calls=failed_calls,
        spend_store_errors=budget_log.get("spend_store_errors") or 0,
    )


def _asked(chat: ChatRequest, line: dict) -> None:
    """What the caller asked for: a replay re-decides with the same inputs."""
    line["requested"] = chat.name
    if chat.max_tokens is not None:
        line["max_tokens"] = chat.max_tokens
    if chat.max_cost_usd is not None:
        line["max_cost_usd"] = chat.max_cost_usd
    if chat.dry_run:
        line["dry_run"] = True
    if chat.stream:
        line["stream"] = True
    if chat.thinking is not None:
        line["thinking"] = chat.thinking.mode


def _decided(result: RouteResult, line: dict, values: dict[str, tuple[str, float]]) -> None:
    """The decision, the configuration it came from, the shadow choice and the label sample."""
    d = result.decision
    line.update(
        route=d.route,
        model=result.model,
        mode=d.mode,
        rule=d.rule,
        reason=d.reason,
        config_version=result.config_version,
        config_source=result.config_source,
        tier=result.tier,
        features=result.features,
    )
    if d.scorer_version is not None:
        line["scorer_version"] = d.scorer_version
    if result.answered_by is not None and result.answered_by != d.model:
        line["chosen"] = d.model
    conversation = result.conversation()
    if conversation is not None:  # a continuing conversation: stayed on its model, or moved and why
        line["conversation"] = conversation
        if result.task_features is not None:  # what its rules read, so a replay can decide it again
            line["task_features"] = result.task_features
    if d.shadow is not None:
        line["shadow"] = d.shadow
        values["ShadowAgreement"] = (COUNT, 1 if d.shadow.get("agrees") else 0)
        # like with like: the shadow model at the served answer's tokens, against the served answer's cost
        at_served = d.shadow.get("cost_usd_at_served_tokens")
        if at_served is not None and result.cost_usd is not None:
            values["ShadowCostDeltaUSD"] = (NONE, at_served - result.cost_usd)
    if result.label_sample is not None:
        line["label_sample"] = result.label_sample.status
    if result.notes:
        line["notes"] = list(result.notes)


def _model_calls(attempts: list[Attempt], line: dict, values: dict[str, tuple[str, float]]) -> list[tuple[str, dict]]:
    """The model calls' metrics: the answering call's on the request's document (Model is its model), each failed
    call's on its own (returned, with its model). Every attempt is listed when any did not answer."""
    failed_calls = []
    for a in attempts:
        if a.outcome == "ok":
            values.update(attempt_values(error_class=None, retryable=True, latency_ms=a.latency_ms))
        elif a.outcome == "error":
            failed_calls.append(
                (a.model, attempt_values(error_class=a.error_class, retryable=a.retryable, latency_ms=a.latency_ms))
            )
    if len(attempts) > 1 or (attempts and attempts[0].outcome != "ok"):
        line["attempts"] = [a.as_dict() for a in attempts]
    return failed_calls


def _answered(result: RouteResult, line: dict, values: dict[str, tuple[str, float]]) -> None:
    """Tokens, cost, fallback and time to first token of an answer."""
    if result.reply is not None:
        reply, cost = result.reply, result.cost_usd
        line.update(
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            model_latency_ms=round(reply.latency_ms, 1),
            cost_usd=round_cost(cost),
        )
        values["InputTokens"] = (COUNT, reply.input_tokens)
        values["OutputTokens"] = (COUNT, reply.output_tokens)
        if reply.cache_read_tokens or reply.cache_write_tokens:  # prompt caching (not in input_tokens)
            line.update(cache_read_tokens=reply.cache_read_tokens, cache_write_tokens=reply.cache_write_tokens)
            values["CacheReadInputTokens"] = (COUNT, reply.cache_read_tokens)
            values["CacheWriteInputTokens"] = (COUNT, reply.cache_write_tokens)
        if cost is not None:
            values["EstimatedCostUSD"] = (NONE, cost)
    if result.fell_back:
        values["Fallbacks"] = (COUNT, 1)
    if result.streamed and result.ttft_ms is not None:
        line["ttft_ms"] = round(result.ttft_ms, 1)
        values["TimeToFirstToken"] = (MS, result.ttft_ms)


def record_request(
    line: dict,
    values: dict[str, tuple[str, float]],
    *,
    route: str,
    model: str,
    error_code: str | None,
    failed_calls: list[tuple[str, dict]],
    spend_store_errors: int = 0,
) -> None:
    """Write the request's one line (log + metrics), then one small document per failed call to another model."""
    global _cold
    if metrics_enabled():
        if _cold:
            values["ColdStart"] = (COUNT, 1)
            _cold = False
        line["_aws"] = emf_block(values, ERROR_DIMENSIONS if error_code else REQUEST_DIMENSIONS)
        line["Route"] = route
        line["Model"] = model
        if error_code:
            line["ErrorCode"] = error_code
        line.update({name: value for name, (_, value) in values.items()})
    logger.info("request failed" if error_code else "request routed", extra=line)
    for failed_model, failed_values in failed_calls:
        emit({"Model": failed_model}, failed_values)
    if spend_store_errors:  # by {service, Store=spend}, like ConfigRejected: one alarm watches the fleet's store
        emit({"Store": "spend"}, {"SpendStoreErrors": (COUNT, spend_store_errors)})


def tracing_enabled() -> bool:
    """X-Ray tracing runs only in Lambda with Powertools tracing on: building the Tracer loads the X-Ray SDK and a
    botocore client of its own (about 125 ms of cold start), which nobody else should pay for."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and os.environ.get(
        "POWERTOOLS_TRACE_DISABLED", "false"
    ).lower() not in ("true", "1")


@contextmanager
def traced(name: str, trace_id: str | None):
    """A subsegment of the invocation's trace around `name`, or nothing when tracing is off. Behind the Lambda Web
    Adapter the trace id arrives with each request; the X-Ray SDK reads it from _X_AMZN_TRACE_ID, and an instance
    serves one request at a time, so setting it per request is safe."""
    if not tracing_enabled():
        yield None
        return
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer(service=SERVICE)
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    with _tracer.provider.in_subsegment(name) as subsegment:
        yield subsegment
