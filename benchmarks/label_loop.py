"""The label loop's figures: labels per simulated hour, judged cost per label, the retrained scorer's gain.

    python -m benchmarks.label_loop [--requests 3000] [--eval 1000] [--timed 60] [--labellers 2]

1. Labels per simulated hour (local mode). A label is three model calls one after another: the other model's
   answer, then the judge twice (answers swapped). `--timed` samples are labelled by the real labelling code at
   the simulated backend's real pace (latency scale 1: each model's latency from config/local-latency.json; a
   short answer takes that long) by `--labellers` concurrent labellers (default 2: the labeller's SQS event
   source MaximumConcurrency default, stacks/settings.py labeller_max_concurrency; each invocation labels its
   batch one sample after another). Measured labels/hour = labels / wall seconds x 3600. Beside it, the same
   figure computed from those latencies (concurrency x 3600 / (L_other + 2 L_judge)), and a pessimistic bound with
   every call at its model's latency SLO (`latency_slo_ms`).
2. Judged cost per label with the default models, from the bundled configuration's prices: the tech_support
   pair (weak = the policy's default model, strong = the labelled rule's model) and the judge the local loop
   uses (the catalog's highest-quality model), for a stated typical size: a 300-token prompt, 400-token answers,
   a 150-token judge reply (a short reason and the verdict line); the judge reads its system prompt (characters
   / 4), the question and both answers. Shown for each served model (the labeller asks the other one), and with
   the strong model as the judge for comparison.
3. The retrained scorer's gain on fresh simulated prompts: one loop of `--requests` (latency 0), then `--eval`
   fresh prompts (held-out templates, another seed) judged the same way; APGR of the bundled and the retrained
   scorer with 95% bootstrap intervals and the paired interval of the gain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUTE = "tech_support"
PROMPT_TOKENS, ANSWER_TOKENS, JUDGE_REPLY_TOKENS = 300, 400, 150
JUDGE_WRAPPER_TOKENS = 40  # the tags and the closing question around the three texts


def call_cost(price, tokens_in: int, tokens_out: int) -> float:
    return tokens_in / 1_000_000 * price.input_per_million + tokens_out / 1_000_000 * price.output_per_million


def cost_table(config, route: str, judge_key: str) -> dict:
    from labeller.judge import JUDGE_SYSTEM

    labelling = config.labelling_of(route)
    weak, strong = labelling.weak_model, labelling.strong_model
    models = config.models
    judge_in = len(JUDGE_SYSTEM) // 4 + PROMPT_TOKENS + 2 * ANSWER_TOKENS + JUDGE_WRAPPER_TOKENS
    out = {
        "weak": weak,
        "strong": strong,
        "judge": judge_key,
        "sizes": {
            "prompt": PROMPT_TOKENS,
            "answer": ANSWER_TOKENS,
            "judge_in": judge_in,
            "judge_out": JUDGE_REPLY_TOKENS,
        },
        "per_label_usd": {},
    }
    judge_cost = 2 * call_cost(models[judge_key].price, judge_in, JUDGE_REPLY_TOKENS)
    for served, other in ((weak, strong), (strong, weak)):
        other_cost = call_cost(models[other].price, PROMPT_TOKENS, ANSWER_TOKENS)
        out["per_label_usd"][f"served {served}"] = {
            "other": round(other_cost, 6),
            "judge": round(judge_cost, 6),
            "total": round(other_cost + judge_cost, 6),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--eval", type=int, default=1000)
    parser.add_argument("--timed", type=int, default=60, help="samples labelled at the simulated models' real pace")
    parser.add_argument("--labellers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    from local.label_loop import loop_config, run_loop
    from local.latency import DEFAULT_FILE as DEFAULT_LATENCY_FILE
    from local.latency import SimulatedLatency
    from routing_engine.config import parse_routing_config

    doc = json.loads((ROOT / "config" / "routing.json").read_text())
    config = parse_routing_config(json.dumps(loop_config(doc, ROUTE, 0.2)))
    labelling = config.labelling_of(ROUTE)
    assert labelling is not None  # loop_config gives the route a labelling section
    weak, strong = labelling.weak_model, labelling.strong_model
    assert weak is not None and strong is not None  # labelling_of fills in both defaults
    models = config.models
    results: dict = {}

    # 1. labels per simulated hour
    started = time.perf_counter()
    timed = run_loop(
        requests=args.timed,
        config_doc=doc,
        route=ROUTE,
        seed=args.seed,
        eval_n=0,
        labellers=args.labellers,
        latency_scale=0.0,
        labelling_latency_scale=1.0,
    )
    stored = timed.label_outcomes.get("stored", 0)
    wall = timed.seconds["labelling"]
    served = config.routes[ROUTE].model  # tech_support is a shadow route: it serves its static model
    other = weak if served == strong else strong
    judge = models[labelling.judge_model]
    latency = SimulatedLatency.load(DEFAULT_LATENCY_FILE)  # what the loop's simulated backend paces itself by
    per_label_ms = latency.of(other) + 2 * latency.of(labelling.judge_model)
    per_label_slo_ms = models[other].latency_slo_ms + 2 * judge.latency_slo_ms
    results["throughput"] = {
        "labellers": args.labellers,
        "labels": stored,
        "wall_s": round(wall, 2),
        "measured_labels_per_hour": round(stored / wall * 3600) if wall else None,
        "served": served,
        "other": other,
        "judge": labelling.judge_model,
        "simulated_ms_per_label": per_label_ms,
        "computed_labels_per_hour": round(args.labellers * 3_600_000 / per_label_ms),
        "slo_ms_per_label": per_label_slo_ms,
        "at_slo_labels_per_hour": round(args.labellers * 3_600_000 / per_label_slo_ms),
        "bench_s": round(time.perf_counter() - started, 1),
    }

    # 2. judged cost per label
    results["cost"] = {
        "judge_" + labelling.judge_model: cost_table(config, ROUTE, labelling.judge_model),
        "judge_" + strong: cost_table(config, ROUTE, strong),
        "simulated_run_usd_per_label": round(timed.label_cost_usd / stored, 6) if stored else None,
    }

    # 3. the gain on fresh prompts
    loop = run_loop(requests=args.requests, config_doc=doc, route=ROUTE, seed=args.seed, eval_n=args.eval)
    assert loop.report is not None  # every run that returns has trained
    results["gain"] = {
        "requests": args.requests,
        "labels": loop.label_outcomes,
        "report": {
            k: loop.report.get(k)
            for k in ("outcome", "labels", "current", "candidate", "difference", "threshold", "strong_share")
        },
        "fresh": loop.fresh,
        "seconds": {k: round(v, 2) for k, v in loop.seconds.items()},
    }
    print(json.dumps(results, indent=2, ensure_ascii=False))
    t, f = results["throughput"], loop.fresh
    print(
        f"\nlabels/simulated hour with {t['labellers']} labellers: measured {t['measured_labels_per_hour']}, "
        f"computed {t['computed_labels_per_hour']} ({t['simulated_ms_per_label']} ms/label), at the SLOs "
        f"{t['at_slo_labels_per_hour']}",
        file=sys.stderr,
    )
    for name, table in results["cost"].items():
        if isinstance(table, dict):
            print(
                f"cost/label, {name}: "
                + ", ".join(f"{k} ${v['total']:.4f}" for k, v in table["per_label_usd"].items()),
                file=sys.stderr,
            )
    if f:
        print(
            f"fresh prompts (n={f['n']}): bundled APGR {f['bundled']['apgr']:.3f} "
            f"[{f['bundled']['ci'][0]:.3f}, {f['bundled']['ci'][1]:.3f}], retrained {f['retrained']['apgr']:.3f} "
            f"[{f['retrained']['ci'][0]:.3f}, {f['retrained']['ci'][1]:.3f}], gain {f['gain']['apgr']:.3f} "
            f"[{f['gain']['ci'][0]:.3f}, {f['gain']['ci'][1]:.3f}]",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
