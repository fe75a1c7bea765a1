"""Dynamic decision at a 500-model catalog, with and without a tier allowed_models list of every model.

    python -m benchmarks.tier_catalog
Prints the median of per-decision times (us) over 2,000 decisions after 200 warm-up ones.
"""

import json
import time

from routing_engine.config import parse_routing_config
from routing_engine.engine import Engine
from routing_engine.features import RequestFeatures

N = 500
models = {
    f"m{i:03d}": {
        "model_id": f"us.vendor.m{i:03d}-v1:0",
        "price": {"input_per_million": 1.0 + i * 0.01, "output_per_million": 5.0 + i * 0.01},
        "quality": i % 100,
    }
    for i in range(N)
}
base = {
    "models": models,
    "default_route": "auto",
    "routes": {"auto": {"model": "m000", "mode": "dynamic", "dynamic": {"default": {"strategy": "cheapest_capable"}}}},
    "tiers": {"standard": {}, "listed": {"allowed_models": sorted(models)}},
}
engine = Engine(parse_routing_config(json.dumps(base)), "bench")
features = RequestFeatures(
    estimated_tokens=100, message_count=1, has_images=False, has_documents=False, uses_tools=False, complexity=0.3
)


def median_us(tier):
    samples = []
    for i in range(2200):
        a = time.perf_counter_ns()
        engine.decide("auto", features, tier=tier)
        b = time.perf_counter_ns()
        if i >= 200:
            samples.append(b - a)
    samples.sort()
    return samples[len(samples) // 2] / 1e3


print(
    json.dumps({"no_list_us": round(median_us("standard"), 1), "allowed_models_500_us": round(median_us("listed"), 1)})
)
