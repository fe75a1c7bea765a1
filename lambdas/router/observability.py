"""Powertools Logger, Metrics and Tracer for the router, and the metric names other code relies on.

Metric contract (namespace from POWERTOOLS_METRICS_NAMESPACE, default ModelRouter):
- per request, dimension sets {service, Route, Model}, {Route} and {Model}:
  Requests, RequestLatency (ms), InputTokens, OutputTokens, EstimatedCostUSD, Fallbacks, RequestErrors
  (RequestErrors also by {ErrorCode})
- per model call attempt, dimensions {service, Model}: ModelInvocations (1 per call), ModelErrors and
  ModelThrottles (0 or 1 per call, so their Average is a rate), ModelLatency (ms). Alarms use these.
- ConfigRejected / ConfigFetchFailed by {service, Store}; ShadowAgreement (0/1) and ShadowCostDeltaUSD by
  {service, Route}; CircuitOpened by {service, Model}.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "model-router")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ModelRouter")

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
tracer = Tracer(service=SERVICE)

THROTTLE_CLASSES = frozenset({"ThrottlingException", "ServiceQuotaExceededException", "ModelNotReadyException"})


def emit(dimensions: dict[str, str], values: dict[str, tuple[str, float]]) -> None:
    """One EMF line with its own dimensions, beside the request's own metrics."""
    em = EphemeralMetrics(service=SERVICE, namespace=NAMESPACE)
    for name, value in dimensions.items():
        em.add_dimension(name, value)
    for name, (unit, value) in values.items():
        em.add_metric(name=name, unit=unit, value=value)
    em.flush_metrics()


def model_attempt(model: str, *, error_class: str | None, retryable: bool, latency_ms: float | None) -> None:
    """A call the caller could not have avoided counts against the model; a rejected bad request does not."""
    failed = error_class is not None and retryable
    values = {
        "ModelInvocations": (MetricUnit.Count, 1),
        "ModelErrors": (MetricUnit.Count, 1 if failed and error_class not in THROTTLE_CLASSES else 0),
        "ModelThrottles": (MetricUnit.Count, 1 if error_class in THROTTLE_CLASSES else 0),
    }
    if latency_ms is not None:
        values["ModelLatency"] = (MetricUnit.Milliseconds, latency_ms)
    emit({"Model": model}, values)
