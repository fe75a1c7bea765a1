"""Latency of the production complexity score (pytest-benchmark).

Run:  .venv/bin/python -m pytest benchmarks/bench_complexity.py --benchmark-only -o pythonpath="lambdas ."

Budget: p50 <= ~30 us on the median-length prompt of the routing benchmark
(the whole routing decision must stay under 100 us p99), and well under 2 ms
for a 100 KB prompt (the scorer analyses a bounded window).
"""
import json
from pathlib import Path

import pytest

from routing_engine.complexity import complexity_score

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "routing-benchmark" / "dev.jsonl"

FALLBACK_MEDIAN = (
    "In a population of giraffes, an environmental change occurs that favors individuals "
    "that are tallest. As a result, more of the taller individuals are able to obtain "
    "nutrients and survive to pass along their genetic information. This is an example of\n"
    "A. directional selection.\nB. stabilizing selection.\nC. sexual selection.\n"
    "D. disruptive selection.\nAnswer:"
)


def _median_prompt() -> str:
    if not DEV.is_file():
        return FALLBACK_MEDIAN
    with DEV.open(encoding="utf-8") as fh:
        prompts = sorted((json.loads(line)["prompt"] for line in fh if line.strip()), key=len)
    return prompts[len(prompts) // 2]


MEDIAN = _median_prompt()
BIG = (FALLBACK_MEDIAN + "\n") * (100_000 // (len(FALLBACK_MEDIAN) + 1) + 1)


def test_median_prompt(benchmark):
    benchmark(complexity_score, MEDIAN)


def test_short_prompt(benchmark):
    benchmark(complexity_score, "What is the capital of France?")


@pytest.mark.parametrize("size", [100_000])
def test_100kb_prompt(benchmark, size):
    benchmark(complexity_score, BIG[:size])
