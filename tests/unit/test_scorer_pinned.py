"""Exact scores pinned: a speed change to the scorer must not move any score, not even in the last bit.

The values were computed by the scorer before the lane-wise hashing (issue 14 item 7); a deliberate change of
features or weights updates them (and bumps the feature set or the weights' version)."""

import zlib

import pytest

from routing_engine.scorer import (
    _BUCKET_MASK,
    _MAX_LANES,
    HASH_BUCKETS,
    Scorer,
    _token_buckets,
    bundled,
    token_bucket,
    tokens,
    vectorize,
)

PROMPTS = {
    "question": "How should I index this database table for range queries on two columns?",
    "choice": "Which gas makes up most of Earth's atmosphere?\nA. Oxygen\nB. Nitrogen\nC. Argon\nD. Carbon dioxide\nAnswer:",
    "japanese": "あるパン屋ではマフィンを1個250円で売っています。２０個必要です。いくら払いますか？",
    "mixed": "코드를 리뷰해 주세요: def f(x): return {x: x ** 2} — why is it slow? 为什么这么慢？",
    "long": "Our Python service leaks memory: RSS grows 40 MB per hour under 300 requests per second. " * 60,
}
# (bundled score, learned score) as float.hex(): exact. Regenerated for the day-one weights of 2026-12-07
# (bundled-ce2d9b4d-b3c46104-dense: signs the data contradicts freed, L2 chosen out of sample; issue 14 item 6).
PINNED = {
    "question": ("0x1.f3860e5a19ce9p-2", "0x1.0f3f1c774cfa1p-1"),
    "choice": ("0x1.149b1d4f4e1b2p-1", "0x1.26c34ce73e124p-1"),
    "japanese": ("0x1.0e2541b6c224dp-1", "0x1.3a0ca1238c454p-1"),
    "mixed": ("0x1.7bf368bd8b9bap-1", "0x1.79af1d19d4f2bp-1"),
    "long": ("0x1.bc87726fe04e7p-1", "0x1.a85a10e4d7989p-1"),
}


def _learned() -> Scorer:
    """The bundled dense weights plus a hashed weight on every 23rd bucket (about 11,400, many tokens hit one)."""
    spec = bundled().spec()
    spec["hashed"] = {
        "buckets": HASH_BUCKETS,
        "coef": [[b, ((b * 7919) % 2001 - 1000) / 1000.0] for b in range(0, HASH_BUCKETS, 23)],
    }
    return Scorer.from_spec(spec, name="learned")


LEARNED = _learned()


@pytest.mark.parametrize("name", list(PROMPTS))
def test_scores_are_exactly_the_pinned_ones(name):
    bundled_hex, learned_hex = PINNED[name]
    assert bundled().score_text(PROMPTS[name]).hex() == bundled_hex
    assert LEARNED.score_text(PROMPTS[name]).hex() == learned_hex
    # The stored vector scores the same (what the trainer sees is what the router scored), up to the last bit:
    # score() adds weight * count / sqrt(n) per bucket, score_text() sums the weights per token and divides once
    assert LEARNED.score(vectorize(PROMPTS[name])) == pytest.approx(float.fromhex(learned_hex), rel=1e-14, abs=0)


@pytest.mark.parametrize("name", list(PROMPTS))
def test_every_token_lands_in_the_bucket_of_its_text(name):
    """The lane-wise hashing gives each token the bucket the one-token reference (token_bucket) gives it."""
    expected = [token_bucket(t) for t in tokens(PROMPTS[name])]
    v = vectorize(PROMPTS[name])
    counts: dict[int, int] = {}
    for b in expected:
        counts[b] = counts.get(b, 0) + 1
    assert [b for b, _ in v.hashed] == sorted(counts)
    assert [round(x * x * len(expected), 6) for _, x in v.hashed] == [counts[b] ** 2 for b in sorted(counts)]


def test_more_words_than_a_window_holds_still_hash_word_by_word():
    words = [f"w{i}".encode() for i in range(_MAX_LANES + 5)]
    uni = [zlib.crc32(w) & _BUCKET_MASK for w in words]
    bi = [((a * 4093) ^ b) & _BUCKET_MASK for a, b in zip(uni, uni[1:])]
    assert list(_token_buckets(words, [])) == uni + bi
    assert list(_token_buckets(words[:1], [])) == uni[:1]
    assert list(_token_buckets([], [])) == []
