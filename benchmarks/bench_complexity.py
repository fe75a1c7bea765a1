"""Latency of the prompt scorer (routing_engine.scorer), pytest-benchmark.

Run:  .venv/bin/python -m pytest benchmarks/bench_complexity.py --benchmark-only -o pythonpath="lambdas ." -p no:cacheprovider

Budget: 10-40 us on the median-length prompt of the routing benchmark (the whole routing decision must stay
under 100 us p99); a 4 KB prompt median <= 50 us and p99 <= 250 us, a 100 KB prompt <= 1 ms (issue 14: the
scorer analyses a bounded window of HEAD_CHARS + TAIL_CHARS).  Timed:
``split_prompt`` + ``score_text`` with the bundled weights (dense only) and with a retrained-like scorer that
also has hashed weights (the trainer's maximum of hashed weights, the worst case), and ``vectorize`` alone (what the label
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
from routing_engine.label_learning import MAX_SPEC_HASHED
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
# Item 7 of issue 14: a 4 KB prompt (median <= 50 us, p99 <= 250 us) and 100 KB (<= 1 ms), plain prose.
PROSE = (
    "Our Python service leaks memory: RSS grows 40 MB per hour under 300 requests per second, but tracemalloc "
    "shows no growth in Python objects. The service uses numpy, a C extension for image decoding and a thread "
    "pool of 16 workers. Explain the most likely causes, how to confirm each one, and what to change first. "
)
FOUR_KB = (PROSE * (4096 // len(PROSE) + 1))[:4096]
HUNDRED_KB_PROSE = (PROSE * (100_000 // len(PROSE) + 1))[:100_000]
BIG = ((FALLBACK_MEDIAN + "\n") * (100_000 // (len(FALLBACK_MEDIAN) + 1) + 1))[:100_000]
# Adversarial: 100 KB of distinct unclosed <docN> tags after one closing tag (split_prompt was quadratic in them)
TAGS = ("</x " + "".join(f"<doc{i}>" for i in range(20000)))[:100_000]
PROMPTS = {
    "median": MEDIAN,
    "short": "What is the capital of France?",
    "japanese": JAPANESE,
    "4kb": FOUR_KB,
    "100kb-prose": HUNDRED_KB_PROSE,
    "100kb": BIG,
    "100kb-tags": TAGS,
}

BUNDLED = bundled()
_spec = BUNDLED.spec()
# A learned spec's worst case: the trainer's cap of hashed weights (label_learning.MAX_SPEC_HASHED), spread evenly
_step = HASH_BUCKETS // MAX_SPEC_HASHED
_spec["hashed"] = {
    "buckets": HASH_BUCKETS,
    "coef": [[b, 0.01] for b in range(0, HASH_BUCKETS, _step)][:MAX_SPEC_HASHED],
}
HASHED = Scorer.from_spec(_spec, name="hashed")


def _decide(scorer, text):
    return scorer.score_text(*split_text(text))


def _percentiles(benchmark):
    """p50 and p99 of the rounds in us, in the saved JSON's extra_info (item 7 budgets a p99 too)."""
    data = sorted(benchmark.stats.stats.data)
    benchmark.extra_info["p50_us"] = round(data[len(data) // 2] * 1e6, 2)
    benchmark.extra_info["p99_us"] = round(data[min(len(data) - 1, int(len(data) * 0.99))] * 1e6, 2)


@pytest.mark.parametrize("which", list(PROMPTS))
def test_bundled_score(benchmark, which):
    benchmark.group = which
    benchmark(_decide, BUNDLED, PROMPTS[which])
    _percentiles(benchmark)


@pytest.mark.parametrize("which", list(PROMPTS))
def test_hashed_score(benchmark, which):
    benchmark.group = which
    benchmark(_decide, HASHED, PROMPTS[which])
    _percentiles(benchmark)


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
