"""Where the handler's own overhead goes: the same request through progressively fewer layers, interleaved in
one process so machine noise hits every variant alike. Prints p50/p99 in milliseconds per variant.

    python -m benchmarks.handler_breakdown
"""

from __future__ import annotations

import os
import sys
import time

from benchmarks.handler_overhead import ROOT, Context, ZeroLatencyBedrock, _quiet_stdout, event, percentile

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ["ROUTER_CONFIG_FILE"] = str(ROOT / "config" / "routing.json")

from router import api, wiring  # noqa: E402
from router import api as api_module  # noqa: E402
from router.api import app  # noqa: E402
from router.observability import capture_lambda_handler, logger, metrics  # noqa: E402


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler
def full(event_, context):
    return app.resolve(event_, context)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def without_tracer(event_, context):
    return app.resolve(event_, context)


def resolver_only(event_, context):
    return app.resolve(event_, context)


def without_log_line_and_metrics(event_, context):
    observe = api_module._observe
    api_module._observe = lambda *a, **k: None
    try:
        return app.resolve(event_, context)
    finally:
        api_module._observe = observe


def main() -> int:
    client = ZeroLatencyBedrock()
    api.use_service(wiring.service_from_env(client_factory=lambda region, timeout: client, backend="bench"))
    route = event("/v1/route", {"task": "faq", "messages": [{"role": "user", "content": "What are your opening hours?"}]})
    models = {**event("/v1/models", {}), "httpMethod": "GET"}
    cases = [("full handler", full, route), ("without Tracer", without_tracer, route),
             ("resolver, log line and EMF", resolver_only, route),
             ("resolver, no log line or EMF", without_log_line_and_metrics, route),
             ("GET /v1/models, resolver only", resolver_only, models)]
    samples: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    ctx = Context()
    with _quiet_stdout():
        for i in range(3300):
            for name, handler, ev in cases:
                started = time.perf_counter_ns()
                handler(ev, ctx)
                if i >= 300:
                    samples[name].append((time.perf_counter_ns() - started) / 1e6)
                metrics.clear_metrics()
    for name, values in samples.items():
        print(f"{name:32s} p50 {percentile(values, 0.5):.3f} ms  p99 {percentile(values, 0.99):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
