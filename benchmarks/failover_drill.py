"""Failover figures through the real handler, the bundled configuration and the simulated backend.

    python -m benchmarks.failover_drill [--requests 1000]

1. The primary of `faq` (claude-haiku) fails every call with a retryable error and its fallback is
   healthy: how many of N requests does a client see fail, and how many calls still reach the sick model?
2. Every model fails: the status, the error code, the attempts listed, and how long the request took.
3. The circuit breaker: once it opens, how many further requests reach the sick model before its
   cool-down ends (then exactly one probe)?
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambdas"))
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from benchmarks.handler_overhead import Context, _quiet_stdout, event, percentile  # noqa: E402
from local.simulated_backend import SimulatedBedrock, parse_faults, simulated_client_factory  # noqa: E402
from router import api, wiring  # noqa: E402
from router.handler import lambda_handler  # noqa: E402
from router.observability import metrics  # noqa: E402

ALL_MODELS = ("claude-haiku", "claude-sonnet", "claude-opus", "nova-pro", "nova-lite")


def build(faults: str, clock=None):
    holder: dict = {}
    backend = SimulatedBedrock(lambda: holder["s"].routing.get().value.config, faults=parse_faults(faults),
                               latency_scale=0.0)
    env = {**os.environ, "ROUTER_CONFIG_FILE": str(ROOT / "config" / "routing.json")}
    service = wiring.service_from_env(env=env, client_factory=simulated_client_factory(backend), backend="simulated")
    if clock is not None:
        service.health._clock = clock
    holder["s"] = service
    api.use_service(service)
    return service, backend


def call(task: str = "faq") -> tuple[int, dict, float]:
    started = time.perf_counter()
    response = lambda_handler(event("/v1/route", {"task": task, "prompt": "What are your opening hours?"}), Context())
    metrics.clear_metrics()
    return response["statusCode"], json.loads(response["body"]), (time.perf_counter() - started) * 1000


def primary_failing(requests: int) -> dict:
    _, backend = build("claude-haiku=ModelNotReadyException:1.0")
    statuses, latencies, answered_by = [], [], {}
    for _ in range(requests):
        status, body, ms = call()
        statuses.append(status)
        latencies.append(ms)
        if status == 200:
            answered_by[body["routing"]["model"]] = answered_by.get(body["routing"]["model"], 0) + 1
    return {
        "requests": requests,
        "client_visible_errors": sum(1 for s in statuses if s != 200),
        "answered_by": answered_by,
        "calls_to_sick_model": backend.calls.count("claude-haiku"),
        "p50_ms": round(percentile(latencies, 0.5), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
    }


def all_failing() -> dict:
    build(",".join(f"{m}=ServiceUnavailableException:1.0" for m in ALL_MODELS))
    status, body, ms = call()
    return {"status": status, "code": body["error"]["code"], "attempts": body["error"]["details"]["attempts"],
            "elapsed_ms": round(ms, 2), "message": body["error"]["message"]}


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def breaker(requests_during_cooldown: int) -> dict:
    clock = FakeClock()
    service, backend = build("claude-haiku=ThrottlingException:1.0", clock=clock)
    res = service.routing.get().value.config.resilience
    opened_after = None
    for i in range(1, 100):
        call()
        clock.now += 0.1
        if "claude-haiku" in service.health.unavailable():
            opened_after = i
            break
    calls_at_open = backend.calls.count("claude-haiku")
    step = res.breaker_cooldown_s * 0.9 / requests_during_cooldown
    for _ in range(requests_during_cooldown):
        call()
        clock.now += step
    during = backend.calls.count("claude-haiku") - calls_at_open
    clock.now += res.breaker_cooldown_s
    for _ in range(10):
        call()
    after = backend.calls.count("claude-haiku") - calls_at_open - during
    return {"threshold": res.breaker_failure_threshold, "window_s": res.breaker_window_s,
            "cooldown_s": res.breaker_cooldown_s, "opened_after_requests": opened_after,
            "requests_during_cooldown": requests_during_cooldown, "reached_sick_model_during_cooldown": during,
            "reached_sick_model_in_10_requests_after_cooldown": after}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args(argv)
    with _quiet_stdout():
        result = {"primary_failing": primary_failing(args.requests), "all_failing": all_failing(),
                  "circuit_breaker": breaker(200)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
