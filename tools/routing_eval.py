"""Evaluate and calibrate the production complexity score on labelled prompts.

Usage (from the repo root)::

    python -m tools.routing_eval --data ../shared/eval/routing-benchmark/dev.jsonl
    python -m tools.routing_eval --data FILE --scores-out scores.jsonl
    python -m tools.routing_eval --data FILE --calibrate --target-strong-share 0.3
    python -m tools.routing_eval --data FILE --calibrate --target-pgr 0.8 \
        --strong-model claude-sonnet --weak-model claude-haiku

Input: JSONL with ``id, source, category, prompt, weak_score, strong_score``.
Output: one JSON object on stdout with, per ``source`` and ``overall``:
APGR, CPT(50%), CPT(80%) (strong-call shares in [0, 1]) and the item count for
the production score, a prompt-length baseline and random routing.  Metrics
follow RouteLLM (see ``tools/_metrics.py``).  Exit code 2 on bad input.

The scorer is imported from ``routing_engine.complexity``: the very code the
Lambda runs.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from routing_engine.complexity import ComplexityModel, complexity_score
from tools._data import DataError, load_jsonl
from tools._metrics import route_metrics, routing_curve, threshold_for_share

RANDOM_METRICS = {"apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8}


def _summary(m: dict) -> dict:
    return {
        "apgr": None if m["apgr"] is None else round(m["apgr"], 4),
        "cpt50": None if m["cpt50"] is None else round(m["cpt50"], 4),
        "cpt80": None if m["cpt80"] is None else round(m["cpt80"], 4),
    }


def evaluate(rows: list[dict], scores: list[float]) -> dict:
    """Per-source and overall metrics for ``scores`` vs the length baseline and random."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r["source"], []).append(i)
    result: dict = {}
    names = sorted(groups)
    if len(names) > 1 or "overall" not in groups:
        groups["overall"] = list(range(len(rows)))
        names.append("overall")
    for name in names:
        idx = groups[name]
        weak = [rows[i]["weak_score"] for i in idx]
        strong = [rows[i]["strong_score"] for i in idx]
        prod = route_metrics([scores[i] for i in idx], weak, strong)
        length = route_metrics([float(len(rows[i]["prompt"])) for i in idx], weak, strong)
        result[name] = {
            "n": len(idx),
            "weak_quality": round(prod["weak_quality"], 4),
            "strong_quality": round(prod["strong_quality"], 4),
            "complexity": _summary(prod),
            "length_baseline": _summary(length),
            "random": dict(RANDOM_METRICS),
        }
    return result


def calibrate(
    rows: list[dict],
    scores: list[float],
    target_share: float | None = None,
    target_pgr: float | None = None,
    strong_model: str = "claude-sonnet",
    weak_model: str = "claude-haiku",
) -> dict:
    """Find the threshold hitting a strong-call share or a PGR target; build the config rule."""
    n = len(rows)
    weak = [r["weak_score"] for r in rows]
    strong = [r["strong_score"] for r in rows]
    weak_q = sum(weak) / n
    strong_q = sum(strong) / n
    gap = strong_q - weak_q

    def stats(th: float) -> tuple[float, float, float]:
        sel = [s >= th for s in scores]
        share = sum(sel) / n
        q = sum(strong[i] if sel[i] else weak[i] for i in range(n)) / n
        pgr = (q - weak_q) / gap if abs(gap) > 1e-12 else float("nan")
        return share, q, pgr

    if target_share is not None:
        threshold = threshold_for_share(scores, target_share)
    else:
        # Highest threshold (fewest strong calls) whose PGR reaches the target.
        assert target_pgr is not None
        order = sorted(range(n), key=lambda i: -scores[i])
        q = sum(weak)
        threshold = None
        k = 0
        while k < n:
            v = scores[order[k]]
            while k < n and scores[order[k]] == v:
                i = order[k]
                q += strong[i] - weak[i]
                k += 1
            if abs(gap) > 1e-12 and (q / n - weak_q) / gap >= target_pgr - 1e-12:
                threshold = v
                break
        if threshold is None:
            threshold = min(scores)
    # Round *down* to 4 places so every prompt selected during calibration is
    # still selected by the printed rule; report the stats of the printed value.
    rounded = math.floor(threshold * 1e4) / 1e4
    share, q, pgr = stats(rounded)
    rule = {
        "id": "complexity-to-strong",
        "when": {"complexity": {"gte": rounded}},
        "target": {"model": strong_model},
    }
    snippet = {"dynamic": {"rules": [rule], "default": {"model": weak_model}}}
    return {
        "target": (
            {"strong_share": target_share} if target_share is not None else {"pgr": target_pgr}
        ),
        "threshold": rounded,
        "strong_share": round(share, 4),
        "quality": round(q, 4),
        "pgr": None if pgr != pgr else round(pgr, 4),
        "appconfig_snippet": snippet,
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.routing_eval",
        description="Evaluate/calibrate the production prompt complexity score (RouteLLM metrics).",
    )
    p.add_argument("--data", required=True, help="labelled JSONL file")
    p.add_argument("--scores-out", help="write one {id, score} JSON line per item")
    p.add_argument("--weights", help="alternative complexity_weights.json (default: bundled)")
    p.add_argument("--calibrate", action="store_true", help="find a threshold (see --target-*)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--target-strong-share", type=float, help="e.g. 0.3 = 30%% strong calls")
    g.add_argument("--target-pgr", type=float, help="e.g. 0.8 = recover 80%% of the gap")
    p.add_argument("--strong-model", default="claude-sonnet", help="model key for hard prompts")
    p.add_argument("--weak-model", default="claude-haiku", help="model key for the default")
    p.add_argument("--source", help="calibrate on this source only (default: all rows)")
    p.add_argument("--curve", action="store_true", help="include the routing curves")
    return p


def _fail(msg: str) -> int:
    print(f"routing_eval: error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.calibrate:
        if args.target_strong_share is None and args.target_pgr is None:
            return _fail("--calibrate needs --target-strong-share S or --target-pgr Q")
        t = args.target_strong_share if args.target_strong_share is not None else args.target_pgr
        if not 0.0 <= t <= 1.0:
            return _fail("calibration targets must be in [0, 1]")
    try:
        rows = load_jsonl(args.data)
        model = ComplexityModel.from_file(args.weights) if args.weights else None
    except DataError as exc:
        return _fail(str(exc))
    except (OSError, ValueError, KeyError) as exc:
        return _fail(f"cannot load weights {args.weights}: {exc}")
    score = model.score if model is not None else complexity_score
    scores = [score(r["prompt"]) for r in rows]

    out = evaluate(rows, scores)
    if args.curve:
        for name, entry in out.items():
            idx = [i for i, r in enumerate(rows) if name == "overall" or r["source"] == name]
            pts = routing_curve(
                [scores[i] for i in idx],
                [rows[i]["weak_score"] for i in idx],
                [rows[i]["strong_score"] for i in idx],
            )
            entry["curve"] = [
                {"threshold": round(t, 6), "strong_share": round(x, 4), "quality": round(y, 4)}
                for t, x, y in pts
            ]
    if args.calibrate:
        sel = [i for i, r in enumerate(rows) if args.source is None or r["source"] == args.source]
        if not sel:
            return _fail(f"no rows with source '{args.source}'")
        cal = calibrate(
            [rows[i] for i in sel],
            [scores[i] for i in sel],
            target_share=args.target_strong_share,
            target_pgr=args.target_pgr,
            strong_model=args.strong_model,
            weak_model=args.weak_model,
        )
        out["calibration"] = cal
        print(
            f"# threshold {cal['threshold']} -> strong-call share {cal['strong_share']:.1%}, "
            f"PGR {cal['pgr']} on {len(sel)} prompts. AppConfig snippet:\n"
            + json.dumps(cal["appconfig_snippet"], indent=2),
            file=sys.stderr,
        )
    if args.scores_out:
        try:
            with open(args.scores_out, "w", encoding="utf-8") as fh:
                for r, s in zip(rows, scores):
                    fh.write(json.dumps({"id": r["id"], "score": s}) + "\n")
        except OSError as exc:
            return _fail(f"cannot write {args.scores_out}: {exc.strerror or exc}")
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
