"""Where the dynamic decision's time goes, piece by piece in one loop (the pieces share the cache as they do in
a real request). Prints min/p50/p99 in microseconds per piece.

    python -m benchmarks.decision_breakdown
"""

from __future__ import annotations

import sys
import time

from benchmarks.bench_decision import ENGINE, median_prompt
from routing_engine.complexity import complexity_score
from routing_engine.features import Message, RequestFeatures, extract_features, last_user_text, text_of


def main() -> int:
    messages = (Message("user", (("text", median_prompt()),)),)
    clock = time.perf_counter_ns
    pieces: dict[str, list[int]] = {"risk patterns": [], "complexity": [], "other features": [], "rules+filters": []}
    for i in range(20_500):
        a = clock()
        ENGINE.risk.match(text_of(messages))
        b = clock()
        score = complexity_score(last_user_text(messages))
        c = clock()
        f = extract_features(messages, risk=None)
        d = clock()
        features = RequestFeatures(f.estimated_tokens, f.message_count, f.has_images, f.has_documents, f.uses_tools,
                                   (), score)
        e = clock()
        ENGINE.decide("auto", features)
        g = clock()
        if i >= 500:  # warm-up
            for name, ns in zip(pieces, (b - a, c - b, d - c, g - e), strict=True):
                pieces[name].append(ns)
    for name, samples in pieces.items():
        samples.sort()
        n = len(samples)
        print(f"{name:16s} min {samples[0] / 1e3:6.1f}  p50 {samples[n // 2] / 1e3:6.1f}  "
              f"p99 {samples[int(n * 0.99)] / 1e3:6.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
