"""Latency of the prompt scorer (routing_engine.scorer), pytest-benchmark.

Run:  .venv/bin/python -m pytest benchmarks/bench_complexity.py --benchmark-only -o pythonpath="lambdas ." -p no:cacheprovider

Budget: 10-40 us on the median-length prompt of the routing benchmark (the whole routing decision must stay
under 100 us p99), and under 2 ms for a 100 KB prompt (the scorer analyses a bounded window).  Timed:
``split_prompt`` + ``score_text`` with the bundled weights (dense only) and with a retrained-like scorer that
also has hashed weights (every bucket non-zero, the worst case), and ``vectorize`` alone (what the label
sampler stores).

Before/after: set OLD_COMPLEXITY to an old complexity.py (its complexity_weights.json beside it) to time it
in the same run, for example the one committed at HEAD (for measurement only; do not commit the copy):

    mkdir -p /tmp/oldcx && git show f054429:lambdas/routing_engine/complexity.py > /tmp/oldcx/complexity.py \\
      && git show f054429:lambdas/routing_engine/complexity_weights.json > /tmp/oldcx/complexity_weights.json
    OLD_COMPLEXITY=/tmp/oldcx/complexity.py .venv/bin/python -m pytest benchmarks/bench_complexity.py \\
      --benchmark-only -o pythonpath="lambdas ." -p no:cacheprovider
"""

import json
import os
from pathlib import Path

import pytest

from benchmarks._common import load_old_complexity
from routing_engine.complexity import split_text
from routing_engine.scorer import HASH_BUCKETS, Scorer, bundled, vectorize

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "routing-benchmark" / "dev.jsonl"

FALLBACK_MEDIAN = (
    "In a population of giraffes, an environmental change occurs that favors individuals "
    "that are tallest. As a result, more of the taller individuals are able to obtain "
    "nutrients and survive to pass along their genetic information. This is an example of\n"
    "A. directional selection.\nB. stabilizing selection.\nC. sexual selection.\n"
    "D. disruptive selection.\nAnswer:"
)
JAPANESE = (
    "あるパン屋ではマフィンを1個250円、または6個入りの箱を1200円で売っています。プリヤはパーティーのために"
    "マフィンが２０個必要で、できるだけ安く買いたいと考えています。彼女は４０００円を超える注文が１０％引きに"
    "なるクーポンを持っています。彼女はいくら払い、すべてを1個ずつ買う場合と比べていくら節約できますか？"
)


def _median_prompt() -> str:
    if not DEV.is_file():
        return FALLBACK_MEDIAN
    with DEV.open(encoding="utf-8") as fh:
        prompts = sorted((json.loads(line)["prompt"] for line in fh if line.strip()), key=len)
    return prompts[len(prompts) // 2]


MEDIAN = _median_prompt()
BIG = ((FALLBACK_MEDIAN + "\n") * (100_000 // (len(FALLBACK_MEDIAN) + 1) + 1))[:100_000]
# Adversarial: 100 KB of distinct unclosed <docN> tags after one closing tag (split_prompt was quadratic in them)
TAGS = ("</x " + "".join(f"<doc{i}>" for i in range(20000)))[:100_000]
PROMPTS = {
    "median": MEDIAN,
    "short": "What is the capital of France?",
    "japanese": JAPANESE,
    "100kb": BIG,
    "100kb-tags": TAGS,
}

BUNDLED = bundled()
_spec = BUNDLED.spec()
_spec["hashed"] = {"buckets": HASH_BUCKETS, "coef": [[b, 0.01] for b in range(HASH_BUCKETS)]}
HASHED = Scorer.from_spec(_spec, name="hashed")


def _decide(scorer, text):
    return scorer.score_text(*split_text(text))


@pytest.mark.parametrize("which", list(PROMPTS))
def test_bundled_score(benchmark, which):
    benchmark.group = which
    benchmark(_decide, BUNDLED, PROMPTS[which])


@pytest.mark.parametrize("which", list(PROMPTS))
def test_hashed_score(benchmark, which):
    benchmark.group = which
    benchmark(_decide, HASHED, PROMPTS[which])


@pytest.mark.parametrize("which", list(PROMPTS))
def test_vectorize(benchmark, which):
    benchmark.group = which
    benchmark(vectorize, PROMPTS[which])


def _old():
    path = os.environ.get("OLD_COMPLEXITY")
    if not path:
        pytest.skip("set OLD_COMPLEXITY=/path/to/old/complexity.py to time the old scorer")
    return load_old_complexity(path)


@pytest.mark.parametrize("which", list(PROMPTS))
def test_old_complexity_score(benchmark, which):
    old = _old()
    benchmark.group = which
    benchmark(old, PROMPTS[which])
