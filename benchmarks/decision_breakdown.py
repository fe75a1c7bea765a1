"""Where the dynamic decision's time goes, piece by piece in one loop (the pieces share the cache as they do in
a real request). Prints min/p50/p99 in microseconds per piece.

    python -m benchmarks.decision_breakdown            # the median dev prompt
    python -m benchmarks.decision_breakdown --kb 100   # a 100 KB prompt (fewer rounds)

The complexity pieces compare, on the same prompt in the same loop: the route's scorer as the router runs it
(Engine.with_complexity: split_prompt, then the bundled weights) and a scorer delivered in the configuration
with a weight on every one of its hashed buckets (what a retrained scorer may carry; hashed word features are
only computed for a scorer that has hashed weights). For the cost before the configurable scorer, run
benchmarks/bench_decision.py in an export of an older commit (`git archive <commit> | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from benchmarks.bench_decision import ENGINE, median_prompt
from routing_engine.config import parse_routing_config
from routing_engine.engine import Engine
from routing_engine.features import Message, RequestFeatures, extract_features, text_of
from routing_engine.scorer import HASH_BUCKETS, bundled

BIG = "The quarterly report shows revenue of $12,400 across 3 regions; compute the growth. "


def retrained_engine() -> Engine:
    """The bench configuration with `auto` scored by a configured scorer that weighs every hashed bucket."""
    config = ENGINE.config.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec = bundled().spec()
    rng = random.Random(9)
    spec["version"] = "bench-retrained"
    spec["hashed"]["coef"] = [[b, round(rng.uniform(-0.3, 0.3), 4)] for b in range(HASH_BUCKETS)]
    config["scorers"] = {"retrained": spec}
    config["routes"]["auto"]["dynamic"]["scorer"] = "retrained"
    return Engine(parse_routing_config(json.dumps(config)), "bench-retrained")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=int, default=0, help="time a prompt of this many KB instead of the median one")
    args = parser.parse_args(argv)
    text = (BIG * (args.kb * 1024 // len(BIG) + 1))[: args.kb * 1024] if args.kb else median_prompt()
    rounds, warmup = (2_000, 100) if args.kb else (20_000, 500)
    messages = (Message("user", (("text", text),)),)
    retrained = retrained_engine()
    clock = time.perf_counter_ns
    pieces: dict[str, list[int]] = {
        "risk patterns": [],
        "scorer: bundled (route's)": [],
        "scorer: retrained, hashed": [],
        "other features": [],
        "rules+filters": [],
    }
    for i in range(rounds + warmup):
        a = clock()
        ENGINE.risk.match(text_of(messages))
        b = clock()
        f = extract_features(messages, risk=None)
        d = c = clock()
        scored = ENGINE.with_complexity("auto", f, messages)
        e = clock()
        retrained.with_complexity("auto", f, messages)
        g = clock()
        features = RequestFeatures(
            f.estimated_tokens,
            f.message_count,
            f.has_images,
            f.has_documents,
            f.uses_tools,
            (),
            scored.complexity,
            scorer="bundled",
            scorer_version=scored.scorer_version,
        )
        h = clock()
        ENGINE.decide("auto", features)
        j = clock()
        if i >= warmup:
            for name, ns in zip(pieces, (b - a, e - d, g - e, c - b, j - h), strict=True):
                pieces[name].append(ns)
    print(f"prompt: {len(text):,} characters; bundled scorer's complexity {scored.complexity:.4f}")
    for name, samples in pieces.items():
        samples.sort()
        n = len(samples)
        print(
            f"{name:36s} min {samples[0] / 1e3:8.1f}  p50 {samples[n // 2] / 1e3:8.1f}  "
            f"p99 {samples[int(n * 0.99)] / 1e3:8.1f} us"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
