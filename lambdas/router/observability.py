"""Powertools Logger, Metrics and Tracer for the router, and the metric names other code relies on.

Metric contract (namespace from POWERTOOLS_METRICS_NAMESPACE, default ModelRouter). One EMF document per
request carries every metric below with the dimension sets {service, Route, Model}, {service, Route} and
{service, Model} (error requests also {service, ErrorCode}):
- Requests, RequestLatency (ms), InputTokens, OutputTokens, EstimatedCostUSD, RequestErrors; Fallbacks (1 when
  the answer came from a fallback); ShadowAgreement (0/1) and ShadowCostDeltaUSD on shadow routes.
- Model health, per model call: ModelLatency (ms; its SampleCount is the number of calls), and ModelErrors or
  ModelThrottles (1 per failed call; nothing on success, to keep the hot path short), so
  error rate = Sum(ModelErrors) / SampleCount(ModelLatency). The answering call is in the request's document
  (its Model is the answering model); each failed call to another model gets its own document with
  dimensions {service, Model}. Alarms read these by {service, Model}.
- ConfigRejected / ConfigFetchFailed by {service, Store}.
"""

from __future__ import annotations

import functools
import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "model-router")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ModelRouter")

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
_tracer: Tracer | None = None


def tracer() -> Tracer:
    """The Powertools Tracer, built on first use: constructing it loads the X-Ray SDK, which creates a botocore
    client of its own (about as costly as importing boto3), so it is not paid at import time."""
    global _tracer
    if _tracer is None:
        _tracer = Tracer(service=SERVICE)
    return _tracer


def capture_lambda_handler(handler):
    """`Tracer.capture_lambda_handler`, with the Tracer (and the X-Ray SDK) created by the first invocation."""
    traced = None

    @functools.wraps(handler)
    def wrapper(event, context):
        nonlocal traced
        if traced is None:
            traced = tracer().capture_lambda_handler(handler, capture_response=False)
        return traced(event, context)

    return wrapper

THROTTLE_CLASSES = frozenset({"ThrottlingException", "ServiceQuotaExceededException", "ModelNotReadyException"})


def emit(dimensions: dict[str, str], values: dict[str, tuple[str, float]]) -> None:
    """One EMF line with its own dimensions, beside the request's own metrics."""
    em = EphemeralMetrics(service=SERVICE, namespace=NAMESPACE)
    for name, value in dimensions.items():
        em.add_dimension(name, value)
    for name, (unit, value) in values.items():
        em.add_metric(name=name, unit=unit, value=value)
    em.flush_metrics()


def add_attempt_metrics(target, *, error_class: str | None, retryable: bool, latency_ms: float | None) -> None:
    """Every call adds one ModelLatency sample (so SampleCount is the call count); failures add a 1 to
    ModelErrors or ModelThrottles. A rejected bad request (non-retryable) is the caller's fault, not the model's."""
    target.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds, value=latency_ms or 0.0)
    if error_class is None or not retryable:
        return
    name = "ModelThrottles" if error_class in THROTTLE_CLASSES else "ModelErrors"
    target.add_metric(name=name, unit=MetricUnit.Count, value=1)


def model_attempt(model: str, *, error_class: str | None, retryable: bool, latency_ms: float | None) -> None:
    """A failed call to a model other than the one that answered: its own document, dimensions {service, Model}."""
    em = EphemeralMetrics(service=SERVICE, namespace=NAMESPACE)
    em.add_dimension("Model", model)
    add_attempt_metrics(em, error_class=error_class, retryable=retryable, latency_ms=latency_ms)
    em.flush_metrics()
