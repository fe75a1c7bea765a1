"""Evaluate and calibrate the complexity scorer on labelled prompts, in or out of sample, with intervals.

Usage (from the repo root)::

    python -m tools.routing_eval --data ../shared/eval/routing-benchmark/dev.jsonl --cv category
    python -m tools.routing_eval --data FILE --cv source          # leave one source out
    python -m tools.routing_eval --data FILE --holdout-by category --holdout formal_logic,professional_law
    python -m tools.routing_eval --data FILE                      # the bundled scorer as it is
    python -m tools.routing_eval --data FILE --calibrate --target-strong-share 0.3 \
        --strong-model claude-sonnet --weak-model claude-haiku

Input: JSONL with ``id, source, category, prompt, weak_score, strong_score``.

Modes:

* no ``--cv``/``--holdout``: scores every item with the bundled scorer (or ``--weights SPEC``).  If that
  scorer was trained on this very file (its ``meta.trained_on.sha256``), the report says the figures are
  in-sample.
* ``--cv category``: grouped K-fold (``--folds``, default 5): the categories of a multi-category source
  (MMLU subjects) are held out whole; a single-category source (gsm8k) is split by item.  Every item is
  scored by a scorer trained on the other folds.
* ``--cv source``: leave one source out: each source is scored by a scorer trained on the others.
* ``--holdout-by source|category --holdout A,B``: train on the other rows, score these.

Out-of-sample scorers are trained by ``tools.train_complexity.train`` (``learning.fit_scorer`` on
``scorer.vectorize``) with the settings of the evaluated scorer: the L2 strengths and balance in its meta,
and hashed features only if it has hashed weights (``--hashed on|off`` overrides that).

Output: one JSON object on stdout with, per ``source`` and ``overall``: APGR, CPT(50%), CPT(80%) of the
scorer, the prompt-length baseline and random routing, each with a percentile bootstrap interval
(``--resamples``, ``--seed``, ``--level``; items resampled), and the paired bootstrap interval of the
scorer's APGR minus the length baseline's with a verdict ``beats_length_baseline``: "yes" (the interval
lies above 0), "no" (below 0) or "within noise".  Random routing's point values are its expectations
(APGR 0.5, CPT50 0.5, CPT80 0.8); its interval is the range a random scorer lands in on resamples of
this many items.  A summary table goes to stderr.  Metrics follow RouteLLM (``routing_engine.learning``).
Exit code 2 with a one-line message on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from routing_engine import learning, scorer
from tools import train_complexity
from tools._data import DataError, load_jsonl

RANDOM_EXPECTED = {"apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8}
METRICS = ("apgr", "cpt50", "cpt80")
CV_MODES = ("category", "source")
DEFAULT_FOLDS = 5
DEFAULT_RESAMPLES = 1000


class EvalError(Exception):
    """A user-facing, one-line problem with the arguments or the data."""


# --------------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------------
def category_folds(rows: Sequence[Mapping], k: int = DEFAULT_FOLDS) -> list[int]:
    """Fold of every row for grouped K-fold: whole categories for multi-category sources (greedy
    size-balanced, deterministic), single items (by a hash of the id) for single-category sources."""
    cats: dict[str, set[str]] = {}
    for r in rows:
        cats.setdefault(r["source"], set()).add(r["category"])
    multi = {s for s, cs in cats.items() if len(cs) > 1}
    sizes: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["source"] in multi:
            key = (r["source"], r["category"])
            sizes[key] = sizes.get(key, 0) + 1
    load = [0] * k
    fold_of: dict[tuple[str, str], int] = {}
    for key in sorted(sizes, key=lambda c: (-sizes[c], c)):
        f = min(range(k), key=lambda i: (load[i], i))
        fold_of[key] = f
        load[f] += sizes[key]
    return [
        fold_of[(r["source"], r["category"])] if r["source"] in multi else zlib.crc32(str(r["id"]).encode("utf-8")) % k
        for r in rows
    ]


def make_splits(
    rows: Sequence[Mapping],
    cv: str | None = None,
    folds: int = DEFAULT_FOLDS,
    holdout_by: str | None = None,
    holdout: Sequence[str] = (),
) -> list[dict]:
    """[{name, train: [row indices], test: [row indices]}]; every test item is outside its train set."""
    n = len(rows)
    if cv == "category":
        if folds < 2:
            raise EvalError(f"--folds must be at least 2, got {folds}")
        fold = category_folds(rows, folds)
        splits = [
            {
                "name": f"fold-{f}",
                "train": [i for i in range(n) if fold[i] != f],
                "test": [i for i in range(n) if fold[i] == f],
            }
            for f in range(folds)
        ]
        return [s for s in splits if s["test"]]
    if cv == "source":
        sources = sorted({r["source"] for r in rows})
        if len(sources) < 2:
            raise EvalError(f"--cv source needs at least two sources, the data has one ({sources[0]})")
        return [
            {
                "name": f"without-{s}",
                "train": [i for i in range(n) if rows[i]["source"] != s],
                "test": [i for i in range(n) if rows[i]["source"] == s],
            }
            for s in sources
        ]
    if cv is not None:
        raise EvalError(f"unknown --cv value {cv!r} (use {' or '.join(CV_MODES)})")
    if holdout_by is not None:
        if holdout_by not in CV_MODES:
            raise EvalError(f"unknown --holdout-by value {holdout_by!r} (use {' or '.join(CV_MODES)})")
        values = [v for v in holdout if v]
        if not values:
            raise EvalError("--holdout-by needs --holdout VALUE[,VALUE...]")
        known = {r[holdout_by] for r in rows}
        unknown = [v for v in values if v not in known]
        if unknown:
            raise EvalError(f"no rows with {holdout_by} {', '.join(repr(v) for v in unknown)}")
        want = set(values)
        test = [i for i in range(n) if rows[i][holdout_by] in want]
        train = [i for i in range(n) if rows[i][holdout_by] not in want]
        if not train:
            raise EvalError(f"holding out {', '.join(values)} leaves no rows to train on")
        return [{"name": f"holdout-{holdout_by}", "train": train, "test": test}]
    if holdout:
        raise EvalError("--holdout needs --holdout-by source|category")
    return []


def out_of_sample_scores(
    rows: Sequence[Mapping], vectors: Sequence[Any], splits: Sequence[Mapping], settings: Mapping
) -> list[float | None]:
    """Score every test item of every split with a scorer trained on that split's train rows only."""
    scores: list[float | None] = [None] * len(rows)
    for sp in splits:
        tr = sp["train"]
        try:
            model = train_complexity.train(
                [rows[i] for i in tr], [vectors[i] for i in tr], version=f"oos-{sp['name']}", **settings
            )
        except learning.LearningError as exc:
            raise EvalError(f"{sp['name']}: cannot train on its {len(tr)} training rows: {exc}") from None
        for i in sp["test"]:
            scores[i] = model.score(vectors[i])
    return scores


# --------------------------------------------------------------------------------------------------
# Figures with intervals
# --------------------------------------------------------------------------------------------------
def _r(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, 4)


def _verdict(lo: float, hi: float) -> str:
    if math.isnan(lo):
        return "undefined"
    if lo > 0:
        return "yes"
    if hi < 0:
        return "no"
    return "within noise"


def figures(
    scores: Sequence[float],
    lengths: Sequence[float],
    weak: Sequence[float],
    strong: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Scorer, length baseline and random routing on one group of items, with bootstrap intervals."""
    n = len(scores)
    ours = learning.RankedScores(scores, weak, strong)
    length = learning.RankedScores(lengths, weak, strong)
    rng = random.Random(seed + 7919)  # random routing's own scores: a stream apart from the resamples
    vals: dict[str, list] = {f"{who}.{m}": [] for who in ("scorer", "length", "random") for m in METRICS}
    vals["diff"] = []
    for idx in learning.bootstrap_indices(n, resamples, seed):
        a = ours.metrics(idx)
        b = length.metrics(idx)
        rs = [rng.random() for _ in idx]
        c = learning.RankedScores(rs, [weak[i] for i in idx], [strong[i] for i in idx]).metrics()
        for m in METRICS:
            vals[f"scorer.{m}"].append(a[m])
            vals[f"length.{m}"].append(b[m])
            vals[f"random.{m}"].append(c[m])
        vals["diff"].append(None if a["apgr"] is None or b["apgr"] is None else a["apgr"] - b["apgr"])
    point = {"scorer": ours.metrics(), "length": length.metrics()}

    def block(who: str) -> dict:
        out: dict = {}
        for m in METRICS:
            out[m] = _r(RANDOM_EXPECTED[m] if who == "random" else point[who][m])
            lo, hi = learning.percentile_interval(vals[f"{who}.{m}"], level)
            out[f"{m}_ci"] = [_r(lo), _r(hi)]
        return out

    d_lo, d_hi = learning.percentile_interval(vals["diff"], level)
    pa, pb = point["scorer"]["apgr"], point["length"]["apgr"]
    return {
        "n": n,
        "weak_quality": _r(sum(weak) / n) if n else None,
        "strong_quality": _r(sum(strong) / n) if n else None,
        "scorer": block("scorer"),
        "length_baseline": block("length"),
        "random": block("random"),
        "vs_length_baseline": {
            "apgr_difference": _r(None if pa is None or pb is None else pa - pb),
            "ci": [_r(d_lo), _r(d_hi)],
            "beats_length_baseline": _verdict(d_lo, d_hi) if pa is not None and pb is not None else "undefined",
        },
    }


def evaluate(
    rows: Sequence[Mapping],
    scores: Sequence[float | None],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Per-source and overall figures over the rows that have a score (None: not scored)."""
    groups: dict[str, list[int]] = {}
    scored = [i for i, s in enumerate(scores) if s is not None]
    for i in scored:
        groups.setdefault(rows[i]["source"], []).append(i)
    names = sorted(groups)
    if len(names) > 1 or "overall" not in groups:
        groups["overall"] = scored
        names.append("overall")
    out = {}
    for name in names:
        idx = groups[name]
        out[name] = figures(
            [float(scores[i]) for i in idx],  # type: ignore[arg-type]
            [float(len(rows[i]["prompt"])) for i in idx],
            [rows[i]["weak_score"] for i in idx],
            [rows[i]["strong_score"] for i in idx],
            resamples=resamples,
            seed=seed,
            level=level,
        )
    return out


# --------------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------------
def calibrate(
    rows: Sequence[Mapping],
    scores: Sequence[float],
    target_share: float | None = None,
    target_pgr: float | None = None,
    strong_model: str = "claude-sonnet",
    weak_model: str = "claude-haiku",
    scorer_name: str = scorer.BUNDLED_NAME,
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
        threshold = learning.threshold_for_share(scores, target_share)
    else:
        # Highest threshold (fewest strong calls) whose PGR reaches the target.
        assert target_pgr is not None
        order = sorted(range(n), key=lambda i: -scores[i])
        q = sum(weak)
        found = None
        k = 0
        while k < n:
            v = scores[order[k]]
            while k < n and scores[order[k]] == v:
                i = order[k]
                q += strong[i] - weak[i]
                k += 1
            if abs(gap) > 1e-12 and (q / n - weak_q) / gap >= target_pgr - 1e-12:
                found = v
                break
        threshold = min(scores) if found is None else found
    # Round *down* to 4 places so every prompt selected during calibration is still selected by the
    # printed rule; report the stats of the printed value.
    rounded = math.floor(threshold * 1e4) / 1e4
    share, q, pgr = stats(rounded)
    rule = {"id": "complexity-to-strong", "when": {"complexity": {"gte": rounded}}, "target": {"model": strong_model}}
    return {
        "target": {"strong_share": target_share} if target_share is not None else {"pgr": target_pgr},
        "threshold": rounded,
        "strong_share": round(share, 4),
        "quality": round(q, 4),
        "pgr": None if pgr != pgr else round(pgr, 4),
        "appconfig_snippet": {"dynamic": {"scorer": scorer_name, "rules": [rule], "default": {"model": weak_model}}},
    }


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.routing_eval",
        description="Evaluate/calibrate the prompt complexity scorer (RouteLLM metrics, bootstrap intervals).",
    )
    p.add_argument("--data", required=True, help="labelled JSONL file")
    p.add_argument("--cv", help="out-of-sample: 'category' (grouped K-fold) or 'source' (leave one out)")
    p.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="folds of --cv category (default 5)")
    p.add_argument("--holdout-by", help="out-of-sample: hold out rows by 'source' or 'category'")
    p.add_argument("--holdout", default="", help="comma-separated values of --holdout-by to score")
    p.add_argument(
        "--hashed",
        choices=("auto", "on", "off"),
        default="auto",
        help="hashed features in the out-of-sample models: auto = as the evaluated scorer has them",
    )
    p.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--scores-out", help="write one {id, score} JSON line per scored item")
    p.add_argument("--weights", help="a scorer spec JSON to evaluate/calibrate instead of the bundled one")
    p.add_argument("--scorer-name", help="its name in the AppConfig snippet (default: bundled, or the file's stem)")
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


def _load_scorer(path: str | None) -> Any:
    if path is None:
        return scorer.bundled()
    try:
        with open(path, encoding="utf-8") as fh:
            spec = json.load(fh)
    except FileNotFoundError:
        raise EvalError(f"weights file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"cannot read weights {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise EvalError(f"weights {path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    try:
        return scorer.Scorer.from_spec(spec, name=Path(path).stem)
    except scorer.ScorerError as exc:
        raise EvalError(f"weights {path}: {exc}") from None


def _summary_table(report: Mapping, mode: str) -> str:
    lines = [
        f"# {mode}; APGR [95% interval] (higher is better; random 0.5)",
        f"{'group':<10} {'n':>6}  {'scorer':<22} {'length baseline':<22} {'random':<22} beats length?",
    ]
    for name, e in report.items():
        if not isinstance(e, Mapping) or "vs_length_baseline" not in e:
            continue

        def cell(b: Mapping) -> str:
            lo, hi = b["apgr_ci"]
            return f"{b['apgr']} [{lo}, {hi}]"

        v = e["vs_length_baseline"]
        lines.append(
            f"{name:<10} {e['n']:>6}  {cell(e['scorer']):<22} {cell(e['length_baseline']):<22} "
            f"{cell(e['random']):<22} {v['beats_length_baseline']} ({v['apgr_difference']} "
            f"[{v['ci'][0]}, {v['ci'][1]}])"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.calibrate:
        if args.target_strong_share is None and args.target_pgr is None:
            raise EvalError("--calibrate needs --target-strong-share S or --target-pgr Q")
        t = args.target_strong_share if args.target_strong_share is not None else args.target_pgr
        if not 0.0 <= t <= 1.0:
            raise EvalError("calibration targets must be in [0, 1]")
    if args.cv is not None and args.holdout_by is not None:
        raise EvalError("give --cv or --holdout-by, not both")
    if args.resamples < 1:
        raise EvalError(f"--resamples must be at least 1, got {args.resamples}")
    if not 0.0 < args.level < 1.0:
        raise EvalError(f"--level must be in (0, 1), got {args.level}")
    try:
        rows = load_jsonl(args.data)
    except DataError as exc:
        raise EvalError(str(exc)) from None
    deployed = _load_scorer(args.weights)
    splits = make_splits(
        rows, args.cv, args.folds, args.holdout_by, [v.strip() for v in args.holdout.split(",")] if args.holdout else []
    )
    vectors = [train_complexity.vectorize_prompt(r["prompt"]) for r in rows]
    deployed_scores = [deployed.score(v) for v in vectors]
    out: dict = {}
    if splits:
        settings = train_complexity.settings_of(deployed)
        if args.hashed != "auto":
            settings["hashed"] = args.hashed == "on"
        scores = out_of_sample_scores(rows, vectors, splits, settings)
        mode = (
            f"out of sample: --cv {args.cv}"
            if args.cv
            else f"out of sample: --holdout-by {args.holdout_by} --holdout {args.holdout}"
        )
        out["evaluation"] = {
            "mode": mode,
            "in_sample": False,
            "training_settings": settings,
            "splits": [{"name": s["name"], "train": len(s["train"]), "test": len(s["test"])} for s in splits],
        }
    else:
        scores = list(deployed_scores)
        trained_on = (deployed.meta or {}).get("trained_on") if isinstance(deployed.meta, Mapping) else None
        digest = train_complexity.file_fingerprint(args.data)
        in_sample = isinstance(trained_on, Mapping) and trained_on.get("sha256") == digest
        mode = f"scorer {deployed.name or 'spec'} {deployed.version} as it is"
        out["evaluation"] = {
            "mode": mode,
            "in_sample": in_sample,
            "scorer": {"name": deployed.name, "version": deployed.version},
        }
        if in_sample:
            mode += " (IN-SAMPLE: it was trained on this file)"
            out["evaluation"]["warning"] = (
                "the scorer was trained on this file: these figures are in-sample "
                "and overstate its quality; use --cv category or --cv source"
            )
    out["evaluation"]["bootstrap"] = {"resamples": args.resamples, "seed": args.seed, "level": args.level}
    out.update(evaluate(rows, scores, resamples=args.resamples, seed=args.seed, level=args.level))
    if args.curve:
        for name, entry in out.items():
            if name == "evaluation":
                continue
            idx = [
                i for i, r in enumerate(rows) if scores[i] is not None and (name == "overall" or r["source"] == name)
            ]
            pts = learning.routing_curve(
                [float(scores[i]) for i in idx],  # type: ignore[arg-type]
                [rows[i]["weak_score"] for i in idx],
                [rows[i]["strong_score"] for i in idx],
            )
            entry["curve"] = [
                {"threshold": round(t, 6), "strong_share": round(x, 4), "quality": round(y, 4)} for t, x, y in pts
            ]
    if args.calibrate:
        sel = [i for i, r in enumerate(rows) if args.source is None or r["source"] == args.source]
        if not sel:
            raise EvalError(f"no rows with source '{args.source}'")
        name = args.scorer_name or (deployed.name if args.weights else scorer.BUNDLED_NAME)
        cal = calibrate(
            [rows[i] for i in sel],
            [deployed_scores[i] for i in sel],
            target_share=args.target_strong_share,
            target_pgr=args.target_pgr,
            strong_model=args.strong_model,
            weak_model=args.weak_model,
            scorer_name=name,
        )
        if args.weights:
            cal["scorers_snippet"] = {"scorers": {name: deployed.spec()}}
        cal["scorer"] = {"name": name, "version": deployed.version}
        out["calibration"] = cal
        print(
            f"# threshold {cal['threshold']} -> strong-call share {cal['strong_share']:.1%}, "
            f"PGR {cal['pgr']} on {len(sel)} prompts (in-sample for this file). AppConfig snippet:\n"
            + json.dumps(cal["appconfig_snippet"], indent=2),
            file=sys.stderr,
        )
    if args.scores_out:
        try:
            with open(args.scores_out, "w", encoding="utf-8") as fh:
                for r, s in zip(rows, scores):
                    if s is not None:
                        fh.write(json.dumps({"id": r["id"], "score": s}) + "\n")
        except OSError as exc:
            raise EvalError(f"cannot write {args.scores_out}: {exc.strerror or exc}") from None
    print(_summary_table(out, mode), file=sys.stderr)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except EvalError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
