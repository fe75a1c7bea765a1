"""How long the trainer Lambda's learning step takes (pure Python, one process), and the size of what it proposes.

    python -m benchmarks.trainer_time [--sizes 2000,10000]

Labels: the routing benchmark's rows (dev.jsonl, then chat-dev.jsonl when more are needed; read from ../shared,
never copied), as the labeller stores them (feature vectors, targets by tools.learn_from_outcomes' verdict rule).
Timed: ``routing_engine.label_learning.learn`` (4 folds x 3 settings + the final fit), what
``scorer_trainer.training.train_route`` runs; the report adds the proposed spec's size (compact JSON, as the
routing configuration carries it). A Lambda's vCPU is about one of this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from routing_engine import label_learning, scorer
from tools import train_complexity
from tools.learn_from_outcomes import verdict

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "routing-benchmark"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trainer_time")
    parser.add_argument("--sizes", default="2000,10000")
    args = parser.parse_args(argv)
    rows = []
    for name in ("dev.jsonl", "chat-dev.jsonl"):
        rows += [json.loads(x) for x in (SHARED / name).read_text(encoding="utf-8").split("\n") if x.strip()]
    for n in (int(x) for x in args.sizes.split(",")):
        if n > len(rows):
            print(json.dumps({"labels": n, "error": f"only {len(rows)} rows"}))
            continue
        chosen = rows[:: max(1, len(rows) // n)][:n]
        vectors = [train_complexity.vectorize_prompt(r["prompt"]) for r in chosen]
        targets = [verdict(r["weak_score"], r["strong_score"]) for r in chosen]
        started = time.perf_counter()
        res = label_learning.learn(
            vectors, targets, [str(r["id"]) for r in chosen], current=scorer.bundled(), version="t"
        )
        seconds = time.perf_counter() - started
        spec = json.dumps(res.candidate.spec(), separators=(",", ":"))
        print(
            json.dumps(
                {
                    "labels": n,
                    "learn_seconds": round(seconds, 1),
                    "setting": res.setting,
                    "hashed_weights": len(res.candidate.spec()["hashed"]["coef"]),
                    "spec_bytes": len(spec),
                    "gate": res.gate,
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
