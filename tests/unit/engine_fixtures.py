"""Small routing configurations for engine tests, built as plain dicts so each test states what it changes."""

from __future__ import annotations

import copy
import json

from routing_engine.config import parse_routing_config
from routing_engine.engine import Engine
from routing_engine.features import Message, RequestFeatures

BASE: dict = {
    "default_route": "faq",
    "models": {
        "small": {
            "model_id": "us.anthropic.small-v1:0",
            "price": {"input_per_million": 1.0, "output_per_million": 5.0},
            "quality": 40,
            "context_window": 10_000,
            "modalities": ["text"],
            "supports_tools": False,
            "latency_slo_ms": 2000,
            "fallbacks": ["medium"],
        },
        "medium": {
            "model_id": "us.anthropic.medium-v1:0",
            "price": {"input_per_million": 3.0, "output_per_million": 15.0},
            "quality": 70,
            "context_window": 200_000,
            "modalities": ["text", "image"],
            "latency_slo_ms": 5000,
        },
        "large": {
            "model_id": "us.anthropic.large-v1:0",
            "price": {"input_per_million": 15.0, "output_per_million": 75.0},
            "quality": 95,
            "context_window": 200_000,
            "modalities": ["text", "image", "document"],
            "latency_slo_ms": 10000,
        },
    },
    "routes": {
        "faq": {"model": "small", "max_tokens": 500},
        "support": {"model": "medium"},
        "auto": {
            "model": "small",
            "mode": "dynamic",
            "dynamic": {
                "rules": [
                    {
                        "id": "hard",
                        "when": {"complexity": {"gte": 0.7}},
                        "target": {"strategy": "strongest_within_budget"},
                    },
                    {"id": "images", "when": {"has_images": {"eq": True}}, "target": {"model": "medium"}},
                ],
                "default": {"strategy": "cheapest_capable"},
            },
        },
    },
    "tiers": {"free": {"allowed_models": ["small", "medium"], "max_cost_per_request_usd": 0.05}, "standard": {}},
    "callers": {"key-free": "free"},
}


def config_dict(**changes) -> dict:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        data[key] = value
    return data


def engine_for(data: dict | None = None, **kw) -> Engine:
    raw = json.dumps(data if data is not None else BASE).encode()
    return Engine(parse_routing_config(raw), "test", **kw)


def features(
    tokens: int = 100,
    complexity: float | None = 0.1,
    *,
    images: bool = False,
    documents: bool = False,
    tools: bool = False,
    risk: tuple[str, ...] = (),
) -> RequestFeatures:
    return RequestFeatures(
        estimated_tokens=tokens,
        message_count=1,
        has_images=images,
        has_documents=documents,
        uses_tools=tools,
        risk=risk,
        complexity=complexity,
    )


def text_messages(*texts: str) -> tuple[Message, ...]:
    return tuple(Message("user", (("text", t),)) for t in texts)


def scorer_spec(intercept: float, version: str = "test-1") -> dict:
    """A valid scorer spec (the bundled one's shape) whose score is sigmoid(intercept) on every prompt: every
    weight is zero, so a test can say exactly what the scorer answers."""
    from routing_engine.scorer import bundled

    spec = bundled().spec()
    spec["version"] = version
    spec["intercept"] = intercept
    spec["dense"]["coef"] = [0.0] * len(spec["dense"]["coef"])
    spec["hashed"]["coef"] = []
    return spec


def labelled(route: str = "tuned", **labelling) -> dict:
    """BASE plus a dynamic route `route` that sends hard prompts to `large` and the rest to `small`, with a
    labelling section (judge `large` unless given)."""
    data = config_dict()
    data["routes"][route] = {
        "model": "small",
        "mode": "dynamic",
        "dynamic": {
            "rules": [
                {"id": "images", "when": {"has_images": {"eq": True}}, "target": {"model": "medium"}},
                {"id": "hard", "when": {"complexity": {"gte": 0.6}}, "target": {"model": "large"}},
            ],
            "default": {"model": "small"},
        },
        "labelling": {"sample_rate": 0.05, "daily_budget_usd": 2.0, "judge_model": "large", **labelling},
    }
    return data
