"""How far apart do translations of one prompt score, and is the easy/hard order kept in every language?

Reads tests/data/multilingual_prompts.json (the same prompts in en, es, de, fr, ja, zh) and reports, for the
new scorer (``routing_engine.scorer.bundled()`` on ``split_prompt`` of a one-message conversation) and,
optionally, for an old scorer module given by path (for a before/after comparison):

- the largest and the mean score gap (max - min over languages) between translations of one prompt;
- per language, the share of (easy, hard) pairs where the hard prompt scores strictly higher, and whether
  every hard prompt scores above every easy one;
- per language, the scores of "fix the typos" on a long pasted email and of a short proof request.

Run (from the repo root)::

    python benchmarks/multilingual_gap.py
    # before/after: the scorer as committed at HEAD (complexity.py and its weights), for measurement only
    mkdir -p /tmp/oldcx && git show f054429:lambdas/routing_engine/complexity.py > /tmp/oldcx/complexity.py \\
      && git show f054429:lambdas/routing_engine/complexity_weights.json > /tmp/oldcx/complexity_weights.json
    python benchmarks/multilingual_gap.py --old /tmp/oldcx/complexity.py [--json]

The old module scores the whole last user turn (what the router did before ``split_prompt``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import load_old_complexity
from routing_engine.complexity import complexity_score as new_score  # the bundled scorer, one user turn

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "multilingual_prompts.json"


def load_data(path: Path = DATA) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def measure(score: Callable[[str], float], data: dict) -> dict:
    langs = data["languages"]
    prompts = data["prompts"]
    scores = {p["id"]: {lang: score(p["text"][lang]) for lang in langs if lang in p["text"]} for p in prompts}
    gaps = {pid: max(s.values()) - min(s.values()) for pid, s in scores.items()}
    worst = max(gaps, key=gaps.__getitem__)
    per_lang = {}
    for lang in langs:
        easy = [scores[p["id"]][lang] for p in prompts if p["level"] == "easy" and lang in p["text"]]
        hard = [scores[p["id"]][lang] for p in prompts if p["level"] == "hard" and lang in p["text"]]
        pairs = [(e, h) for e in easy for h in hard]
        att = data.get("attachment_cases", {})
        typo = att.get("typo_email", {}).get(lang)
        proof = att.get("short_proof", {}).get(lang)
        per_lang[lang] = {
            "pair_order_share": round(sum(h > e for e, h in pairs) / len(pairs), 4) if pairs else None,
            "all_hard_above_all_easy": bool(easy and hard and min(hard) > max(easy)),
            "max_easy": round(max(easy), 4) if easy else None,
            "min_hard": round(min(hard), 4) if hard else None,
            "typo_email": None if typo is None else round(score(typo), 4),
            "short_proof": None if proof is None else round(score(proof), 4),
        }
    return {
        "largest_gap": round(gaps[worst], 4),
        "largest_gap_prompt": worst,
        "mean_gap": round(sum(gaps.values()) / len(gaps), 4),
        "gaps": {k: round(v, 4) for k, v in gaps.items()},
        "scores": {pid: {lang: round(v, 4) for lang, v in s.items()} for pid, s in scores.items()},
        "per_language": per_lang,
    }


def _print(name: str, r: dict) -> None:
    print(
        f"== {name}: largest translation gap {r['largest_gap']:.3f} ({r['largest_gap_prompt']}), "
        f"mean gap {r['mean_gap']:.3f}"
    )
    print(
        f"   {'lang':4} {'pairs ok':>8} {'all':>5} {'max easy':>8} {'min hard':>8} {'typo+email':>10} "
        f"{'short proof':>11}"
    )
    for lang, v in r["per_language"].items():

        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.3f}"

        print(
            f"   {lang:4} {f(v['pair_order_share']):>8} {str(v['all_hard_above_all_easy'])[0]:>5} "
            f"{f(v['max_easy']):>8} {f(v['min_hard']):>8} {f(v['typo_email']):>10} {f(v['short_proof']):>11}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--old", help="path of an old complexity.py (its complexity_weights.json beside it)")
    p.add_argument("--json", action="store_true", help="print the full results as JSON")
    args = p.parse_args(argv)
    data = load_data()
    results = {"new": measure(new_score, data)}
    if args.old:
        results["old"] = measure(load_old_complexity(args.old), data)
    if args.json:
        json.dump(results, sys.stdout, indent=1, ensure_ascii=False)
        print()
    else:
        for name in ("old", "new"):
            if name in results:
                _print(name, results[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
