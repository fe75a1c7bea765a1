"""The router's own AWS cost per 1,000 requests beside the Bedrock spend of the same requests, over Lambda memory
sizes and model-latency multipliers.

    python -m benchmarks.router_cost [--requests 2000] [--cpu-ms N] [--sample-rate 0.02]
        [--memory 256,512,1024,1769,2048] [--latency-x 0.5,1,2,4]

Traffic: `--requests` prompts of the bundled simulated traffic (local/simulated_traffic.py: four languages, a fifth
about databases), sent in process to the REAL router app (`local.server.build`, simulated backend, latency 0) at
`POST /v1/route`, spread over the bundled routes by MIX (stated below: no traffic mix ships with the project, so
this one is an assumption; the per-route table lets you re-weight). Each answer gives the model the router chose,
its tokens and their cost at the catalog's prices (the router's own `cost.estimated_usd`: Bedrock spend).

Model latency per request: the simulated backend's pace for that model (config/local-latency.json: L ms;
a whole answer takes max(L, L/2 + tokens x L/100), local/simulated_backend.py) times the multiplier.

Router cost per request:
- Lambda duration, billed for the request's whole life, since one environment serves one request at a time and the
  wait for Bedrock is billed: (model latency + router CPU time) x memory GB x $0.0000133334 per GB-s (arm64,
  us-east-1). Router CPU time = the measured CPU ms per request of the production path (benchmarks/
  production_path.py: the server process's CPU / answered requests, on one core of this machine) scaled by the
  CPU Lambda gives that memory: "At 1,769 MB, a function has the equivalent of one vCPU" and CPU is allocated in
  proportion to memory (docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), so x max(1, 1769 / MB):
  the request path is one Python process, so more than one vCPU does not shorten it.
- Lambda requests, $0.20 per million; API Gateway REST API, $3.50 per million (first 333 million a month).
- The label loop: the bundled configuration labels no route (no `labelling` section), so the headline figure has
  none; shown beside it, `--label-route` (tech_support) labelled at `--sample-rate` (the README's example: 0.02),
  whose cost is its own line (it is capped by the route's `daily_budget_usd` too). Per sample, the other model's answer at the same
  tokens plus two judge calls (the catalog's highest-quality model reads its system prompt, the question and both
  answers, and writes about 150 tokens), plus the labeller Lambda (512 MB) waiting for those three calls.
Not included: CloudWatch Logs ingestion of the request line (about 1 KB a request) and metrics, DynamoDB spend
reads, data transfer. The share is router cost / Bedrock spend; goal (issue 18): at most 5% on the bundled mix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from collections import defaultdict
from pathlib import Path

from benchmarks._common import ROOT, quiet_stdout, table

ARM_GB_S_USD = 0.0000133334
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
APIGW_REST_REQUEST_USD = 3.50 / 1_000_000
VCPU_MB = 1769
LABELLER_MEMORY_MB = 512
JUDGE_REPLY_TOKENS = 150
JUDGE_WRAPPER_TOKENS = 40
# The traffic mix over the bundled routes (an assumption: the project ships no mix; see the per-route table).
MIX = {"faq": 0.35, "tech_support": 0.25, "auto": 0.2, "analytics": 0.1, "creative": 0.1}
PRODUCTION_JSON = ROOT / "benchmarks" / "results" / "production-path.json"
FALLBACK_CPU_MS = 3.0


def measured_cpu_ms(path: Path = PRODUCTION_JSON) -> tuple[float, str]:
    """The production path's CPU ms per request at 16 connections (the larger of buffered and streamed), from a
    benchmarks/production_path.py --json run; FALLBACK_CPU_MS when there is none."""
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return FALLBACK_CPU_MS, f"no {path.name}: assumed {FALLBACK_CPU_MS} ms (run benchmarks.production_path --json)"
    values = {}
    for cell in cells:
        if cell["server"].startswith("ours") and cell["connections"] == 16:
            samples = sorted(x for x in cell["cpu_ms"] if isinstance(x, (int, float)) and not math.isnan(x))
            if samples:
                values[cell["mode"]] = samples[len(samples) // 2]
    if not values:
        return FALLBACK_CPU_MS, f"no figure at 16 connections in {path.name}: assumed {FALLBACK_CPU_MS} ms"
    text = ", ".join(f"{k} {v:.2f}" for k, v in values.items())
    return max(values.values()), f"measured ({text} ms; the larger used) from {path.relative_to(ROOT)}"


def traffic(n: int, seed: int) -> list[dict]:
    """Each simulated prompt through the real router app: route, model, tokens and cost of every answer."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from benchmarks.app_overhead import asgi_scope
    from local.server import build
    from local.simulated_traffic import generate

    prompts = generate(n, seed=seed)
    routes = list(MIX)
    weights = [MIX[r] for r in routes]
    import random

    rng = random.Random(seed)
    with quiet_stdout():
        app, _, _ = build(str(ROOT / "config" / "routing.json"), None, bedrock=False, faults=None, latency_scale=0.0)

    async def one(route: str, text: str) -> dict:
        body = json.dumps({"task": route, "messages": [{"role": "user", "content": text}]}).encode()
        chunks: list[bytes] = []
        sent = [False]

        async def receive():
            if not sent[0]:
                sent[0] = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()

        async def send(message):
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(asgi_scope("/v1/route", body), receive, send)
        answer = json.loads(b"".join(chunks))
        return {
            "route": route,
            "model": answer["routing"]["model"],
            "input_tokens": answer["usage"]["input_tokens"],
            "output_tokens": answer["usage"]["output_tokens"],
            "cost_usd": answer["cost"]["estimated_usd"],
        }

    async def run() -> list[dict]:
        return [await one(rng.choices(routes, weights)[0], p.text) for p in prompts]

    with quiet_stdout():
        return asyncio.run(run())


def catalog() -> dict:
    config = json.loads((ROOT / "config" / "routing.json").read_text())
    latency = json.loads((ROOT / "config" / "local-latency.json").read_text())
    models = {}
    for key, spec in config["models"].items():
        price = spec["prices"][spec.get("inference_profile", "in_region")]
        models[key] = {
            "in": price["input_per_million"] / 1e6,
            "out": price["output_per_million"] / 1e6,
            "latency_ms": latency["models"].get(key, latency["default_ms"]),
            "quality": spec.get("quality", 0),
        }
    return models


def model_ms(models: dict, key: str, tokens: int, x: float) -> float:
    pace = models[key]["latency_ms"] * x
    return max(pace, pace / 2 + tokens * pace / 100)


def label_cost(models: dict, req: dict, x: float) -> float:
    """One judged label: the other model's answer and two judge calls (USD), plus the labeller Lambda's wait."""
    from labeller.judge import JUDGE_SYSTEM

    judge = max(models, key=lambda k: models[k]["quality"])
    other = "claude-sonnet" if req["model"] != "claude-sonnet" else "claude-haiku"
    i, o = req["input_tokens"], req["output_tokens"]
    other_usd = i * models[other]["in"] + o * models[other]["out"]
    judge_in = len(JUDGE_SYSTEM) // 4 + i + 2 * o + JUDGE_WRAPPER_TOKENS
    judge_usd = 2 * (judge_in * models[judge]["in"] + JUDGE_REPLY_TOKENS * models[judge]["out"])
    wait_s = (model_ms(models, other, o, x) + 2 * model_ms(models, judge, JUDGE_REPLY_TOKENS, x)) / 1000
    labeller_usd = wait_s * LABELLER_MEMORY_MB / 1024 * ARM_GB_S_USD + LAMBDA_REQUEST_USD
    return other_usd + judge_usd + labeller_usd


def per_request(models: dict, req: dict, memory_mb: int, x: float, cpu_ms: float, rates: dict[str, float]) -> dict:
    router_ms = cpu_ms * max(1.0, VCPU_MB / memory_mb)
    billed_ms = math.ceil(model_ms(models, req["model"], req["output_tokens"], x) + router_ms)  # 1 ms steps
    lambda_usd = billed_ms / 1000 * memory_mb / 1024 * ARM_GB_S_USD + LAMBDA_REQUEST_USD
    return {
        "lambda": lambda_usd,
        "apigw": APIGW_REST_REQUEST_USD,
        "labels": rates.get(req["route"], 0.0) * label_cost(models, req, x),
        "bedrock": req["cost_usd"],
    }


def totals(models, reqs, memory_mb, x, cpu_ms, rates) -> dict:
    out: dict[str, float] = defaultdict(float)
    for req in reqs:
        for k, v in per_request(models, req, memory_mb, x, cpu_ms, rates).items():
            out[k] += v * 1000 / len(reqs)  # per 1,000 requests
    out["infra"] = out["lambda"] + out["apigw"]
    out["router"] = out["infra"] + out["labels"]
    out["share"] = out["router"] / out["bedrock"] if out["bedrock"] else float("inf")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu-ms", type=float, help="router CPU ms per request (default: measured, see above)")
    parser.add_argument("--sample-rate", type=float, default=0.02)
    parser.add_argument("--label-route", default="tech_support")
    parser.add_argument("--memory", default="256,512,1024,1769,2048")
    parser.add_argument("--latency-x", default="0.5,1,2,4")
    parser.add_argument("--default-memory", type=int, default=1024, help="the stack's memory, for the route table")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "lambdas"))
    cpu_ms, cpu_note = (args.cpu_ms, "given with --cpu-ms") if args.cpu_ms is not None else measured_cpu_ms()
    models = catalog()
    reqs = traffic(args.requests, args.seed)
    memories = [int(m) for m in args.memory.split(",")]
    multipliers = [float(x) for x in args.latency_x.split(",")]
    bundled = bundled_rates()
    labelled = {**bundled, args.label_route: args.sample_rate}
    print(
        f"{len(reqs)} simulated requests over routes {MIX}; router CPU {cpu_ms:.2f} ms/request on one vCPU "
        f"({cpu_note}); labelled routes in the bundled configuration: {bundled or 'none'}; prices: arm64 "
        f"${ARM_GB_S_USD}/GB-s, "
        "$0.20/M Lambda requests, $3.50/M REST API requests"
    )
    rows = []
    for m in memories:
        row: list[object] = [f"{m} MB"]
        for x in multipliers:
            t = totals(models, reqs, m, x, cpu_ms, bundled)
            row.append(f"${t['router']:.4f} / {100 * t['share']:.1f}%")
        rows.append(row)
    base = totals(models, reqs, args.default_memory, 1.0, cpu_ms, bundled)
    with_labels = totals(models, reqs, args.default_memory, 1.0, cpu_ms, labelled)
    print(
        table(
            "Router cost per 1,000 requests / as a share of their Bedrock spend "
            f"(${base['bedrock']:.4f} per 1,000 at latency x1), by memory and model-latency multiplier",
            ["memory", *[f"latency x{x:g}" for x in multipliers]],
            rows,
        )
    )
    print(
        f"\nAt {args.default_memory} MB, latency x1, per 1,000 requests: Lambda ${base['lambda']:.4f}, API Gateway "
        f"${base['apigw']:.4f}, label loop ${base['labels']:.4f}; router ${base['router']:.4f} = "
        f"{100 * base['share']:.1f}% of Bedrock ${base['bedrock']:.4f} (goal <= 5%: "
        f"{'met' if base['share'] <= 0.05 else 'MISSED'})"
    )
    print(
        f"With {args.label_route} labelled at sample rate {args.sample_rate}: label loop ${with_labels['labels']:.4f} "
        f"per 1,000 requests of the mix, router ${with_labels['router']:.4f} = {100 * with_labels['share']:.1f}% "
        "(the simulated answers are short, about 44 tokens, so a judged label, about a 1,000-token read by the "
        "judge, weighs much more than the answer it judges)"
    )
    by_route: dict[str, list[dict]] = defaultdict(list)
    for r in reqs:
        by_route[r["route"]].append(r)
    rows = []
    for route, rs in sorted(by_route.items()):
        t = totals(models, rs, args.default_memory, 1.0, cpu_ms, bundled)
        served = ", ".join(f"{k} {v}" for k, v in sorted(_count(rs).items()))
        rows.append(
            [
                route,
                len(rs),
                served,
                f"{sum(r['output_tokens'] for r in rs) / len(rs):.0f}",
                f"${t['bedrock']:.4f}",
                f"${t['router']:.4f}",
                f"{100 * t['share']:.1f}%",
            ]
        )
    print()
    print(
        table(
            f"By route at {args.default_memory} MB, latency x1 (per 1,000 requests of that route)",
            ["route", "requests", "models served", "output tokens", "Bedrock", "router", "share"],
            rows,
        )
    )
    return 0


def bundled_rates() -> dict[str, float]:
    config = json.loads((ROOT / "config" / "routing.json").read_text())
    return {
        name: route["labelling"]["sample_rate"]
        for name, route in config["routes"].items()
        if isinstance(route.get("labelling"), dict)
    }


def _count(reqs: list[dict]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for r in reqs:
        out[r["model"]] += 1
    return out


if __name__ == "__main__":
    sys.exit(main())
