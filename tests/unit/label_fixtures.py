"""Labels made the way the labeller makes them, from the simulated traffic and the simulated judge's rule
(local/simulated_judge.py: database questions need the strong model), for the trainer's tests."""

from __future__ import annotations

import json
from pathlib import Path

from local import simulated_judge, simulated_traffic
from routing_engine.scorer import bundled, vectorize

ROOT = Path(__file__).resolve().parents[2]
ROUTE = "tech_support"


def labelled_config(**labelling) -> dict:
    """config/routing.json with a labelling section on tech_support (a shadow route whose rule 'hard-question'
    sends high-complexity prompts to claude-sonnet, default claude-haiku)."""
    doc = json.loads((ROOT / "config" / "routing.json").read_text())
    doc["routes"][ROUTE]["labelling"] = {
        "sample_rate": 0.5,
        "daily_budget_usd": 5.0,
        "judge_model": "claude-opus",
        **labelling,
    }
    return doc


def make_labels(
    n: int, *, seed: int = 1, target=None, pair=("claude-haiku", "claude-sonnet"), route: str = ROUTE
) -> list[dict]:
    """`n` labels of simulated prompts; `target(i, prompt)` overrides the judge's rule."""
    out = []
    for i, p in enumerate(simulated_traffic.generate(n, seed=seed)):
        t = simulated_judge.expected_target(p.text) if target is None else target(i, p)
        out.append(
            {
                "route": route,
                "request_id": f"req-{seed}-{i}",
                "labelled_at": f"2026-11-30T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "features": vectorize(p.text).to_json(),
                "weak_model": pair[0],
                "strong_model": pair[1],
                "served_model": pair[1],
                "verdicts": [t, t],
                "target": t,
                "config_version": "c1",
                "scorer": "bundled",
                "scorer_version": bundled().version,
                "cost_usd": {"other": 0.001, "judge": 0.01, "total": 0.011},
            }
        )
    return out


def fresh_eval(n: int = 800, seed: int = 99):
    """Fresh prompts (held-out templates, another seed): their vectors and the rule's targets."""
    prompts = simulated_traffic.generate(n, seed=seed, held_out=True)
    return [vectorize(p.text) for p in prompts], [simulated_judge.expected_target(p.text) for p in prompts]
