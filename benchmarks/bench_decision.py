"""Routing decision speed (pytest-benchmark). Run: `make bench` or
`python -m pytest benchmarks/bench_decision.py --benchmark-only`.

Each benchmark times single calls (rounds x 1 iteration) and records p99 in `extra_info`, since the
issue's targets are p99: dynamic decision <= 100 us, static decision <= 10 us, 100 KB features < 2 ms.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routing_engine.config import parse_routing_config
from routing_engine.engine import Engine
from routing_engine.features import Message, extract_features

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval" / "routing-benchmark" / "dev.jsonl"
ENGINE = Engine(
    parse_routing_config((ROOT / "config" / "routing.json").read_bytes()),
    "bench",
    prompt_router_arn="arn:aws:bedrock:us-east-1:123456789012:prompt-router/bench",
)


def median_prompt() -> str:
    if not DEV.exists():
        pytest.skip(f"{DEV} not found")
    prompts = sorted((json.loads(line)["prompt"] for line in DEV.open()), key=len)
    return prompts[len(prompts) // 2]


def run(benchmark, fn, rounds: int = 20_000):
    result = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=500)
    data = sorted(benchmark.stats.stats.data)
    benchmark.extra_info["p50_us"] = round(data[len(data) // 2] * 1e6, 2)
    benchmark.extra_info["p99_us"] = round(data[int(len(data) * 0.99)] * 1e6, 2)
    return result


def test_dynamic_decision_on_median_dev_prompt(benchmark):
    # as the router decides: features, then the complexity by the route's scorer, then the decision
    messages = (Message("user", (("text", median_prompt()),)),)

    def decide():
        features = ENGINE.with_complexity("auto", extract_features(messages, risk=ENGINE.risk), messages)
        return ENGINE.decide("auto", features)

    decision = run(benchmark, decide)
    assert decision.mode == "dynamic" and decision.scorer == "bundled"


def test_dynamic_decision_on_the_tenth_turn_of_a_tool_loop(benchmark):
    # a held conversation, as the router decides it: the whole conversation's features (no complexity), the task's
    # features with its complexity, then the decision on the task (which also finds the model that began it)
    task = Message("user", (("text", median_prompt()),))
    loop = [task]
    for i in range(9):
        loop += [Message("assistant", ()), Message("user", (("text", f"tool result {i}: " + "log line " * 40),))]
    messages = tuple(loop)

    def decide():
        features = extract_features(messages, uses_tools=True, risk=ENGINE.risk)
        task_features = ENGINE.with_complexity(
            "auto", extract_features((task,), uses_tools=True, risk=ENGINE.risk), (task,)
        )
        return ENGINE.decide("auto", features, continuation=True, task=task_features)

    decision = run(benchmark, decide)
    assert decision.conversation is not None and decision.conversation["moved"] is False


def test_dynamic_decision_with_a_retrained_scorer_on_median_dev_prompt(benchmark):
    # a scorer delivered in the configuration with a weight on every hashed bucket (the dearest a spec can be)
    from benchmarks.decision_breakdown import retrained_engine

    engine = retrained_engine()
    messages = (Message("user", (("text", median_prompt()),)),)

    def decide():
        features = engine.with_complexity("auto", extract_features(messages, risk=engine.risk), messages)
        return engine.decide("auto", features)

    decision = run(benchmark, decide)
    assert decision.scorer_version == "bench-retrained"


def test_static_decision(benchmark):
    messages = (Message("user", (("text", "What are your opening hours?"),)),)
    features = extract_features(messages, risk=None)
    decision = run(benchmark, lambda: ENGINE.decide("faq", features))
    assert decision.model == "claude-haiku"


def test_features_of_a_100kb_prompt(benchmark):
    text = ("The quarterly report shows revenue of $12,400 across 3 regions; compute the growth. " * 1300)[:100_000]
    messages = (Message("user", (("text", text),)),)
    features = run(benchmark, lambda: extract_features(messages, risk=ENGINE.risk, with_complexity=True), rounds=2000)
    assert features.estimated_tokens == 25_000


def test_features_of_a_100kb_prompt_with_a_retrained_scorer(benchmark):
    from benchmarks.decision_breakdown import retrained_engine

    engine = retrained_engine()
    text = ("The quarterly report shows revenue of $12,400 across 3 regions; compute the growth. " * 1300)[:100_000]
    messages = (Message("user", (("text", text),)),)
    features = run(
        benchmark,
        lambda: engine.with_complexity("auto", extract_features(messages, risk=engine.risk), messages),
        rounds=2000,
    )
    assert features.scorer_version == "bench-retrained"
