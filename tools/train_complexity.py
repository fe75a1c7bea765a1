"""Train the bundled complexity scorer (``routing_engine/scorer_weights.json``) on labelled prompts.

Usage (from the repo root)::

    python -m tools.train_complexity --data ../shared/eval/routing-benchmark/dev.jsonl \
        --out lambdas/routing_engine/scorer_weights.json --no-hashed --l2-grid 1,2,3,5,10,30   # the bundled weights

``--l2-grid`` chooses the dense L2 strength out of sample: for each value, every row is scored by a scorer
trained without it under ``--cv category`` and under ``--cv source`` (the splits of ``tools.routing_eval``), and
each (split, source) gets its APGR minus prompt length's.  The value with the best worst-case difference wins
(ties, within 0.0005, by the mean difference): the day-one scorer has to hold up on every source, not on
average.  The table goes to stderr and the choice into the spec's ``meta.l2_choice``.

Input: JSONL with ``prompt, weak_score, strong_score`` (and ``source``, ``category``, ``id``), e.g. your
own traffic labelled with both models.  Each prompt is one user turn, split into instruction and pasted
context by ``routing_engine.scorer.split_prompt`` and vectorised by ``scorer.vectorize`` (the code the
router runs), then fitted by ``routing_engine.learning.fit_scorer`` (the code the label loop's trainer
runs): soft-label logistic regression with the sign constraints, floors and caps declared next to the
features, L2 on the dense and the hashed parts separately.

Label definition: ``t = (1 + strong_score - weak_score) / 2`` clipped to [0, 1]; a prompt both models get
right (or both wrong) is a 0.5 "no gain" example, one only the strong model gets right is a 1.  The
fitted score estimates ``E[t | prompt]``, so ranking by it ranks by the strong model's expected gain.

Rows are weighted so that every ``source`` carries the same total weight (``--balance source``, the
default), so a large benchmark does not drown a small one.

Deterministic: no randomness anywhere; the same data and settings write byte-identical weights.  The
settings and a fingerprint of the training file go into the spec's ``meta``, so ``tools.routing_eval``
trains its out-of-sample models with the same settings and can tell when it is handed the very file
the weights were trained on.  This tool reports no quality figure: on its own training data any figure
is in-sample.  For honest figures run ``python -m tools.routing_eval --data FILE --cv category`` (or
``--cv source``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from routing_engine import learning, scorer
from routing_engine.complexity import split_text
from tools._data import DataError, load_jsonl

DEFAULT_VERSION_PREFIX = "bundled"
BALANCES = ("source", "category", "none")


NO_HASHED_NOTE = (
    "none: the training data is English benchmark text; hashed weights learnt from it would pull "
    "translations apart. A scorer retrained on traffic learns them."
)


def default_settings() -> dict:
    return {
        "l2": learning.DEFAULT_L2,
        "l2_hashed": learning.DEFAULT_L2_HASHED,
        "balance": "source",
        "hashed": True,
        "length_floor": 0.0,
    }


def settings_of(s: Any) -> dict:
    """The training settings of a scorer: L2 strengths and balance from its meta (the defaults where it
    records none); hashed features only if it has hashed weights."""
    out = default_settings()
    spec = s.spec() if hasattr(s, "spec") else {}
    out["hashed"] = bool((spec.get("hashed") or {}).get("coef"))
    meta = getattr(s, "meta", None) or {}
    fit = meta.get("fit") if isinstance(meta, Mapping) else None
    if isinstance(fit, Mapping):
        for key in ("l2", "l2_hashed"):
            if isinstance(fit.get(key), (int, float)) and not isinstance(fit.get(key), bool):
                out[key] = float(fit[key])
    if isinstance(meta, Mapping) and meta.get("balance") in BALANCES:
        out["balance"] = meta["balance"]
    if isinstance(meta, Mapping) and isinstance(meta.get("length_floor"), (int, float)):
        out["length_floor"] = float(meta["length_floor"])
    return out


def vectorize_prompt(prompt: str) -> Any:
    """The feature vector the router computes for a request whose only message is this user prompt."""
    return scorer.vectorize(*split_text(prompt))


def targets(rows: Sequence[Mapping]) -> list[float]:
    return [min(1.0, max(0.0, (1.0 + r["strong_score"] - r["weak_score"]) / 2.0)) for r in rows]


def sample_weights(rows: Sequence[Mapping], balance: str) -> list[float]:
    if balance == "none":
        return [1.0] * len(rows)
    key = "source" if balance == "source" else "category"
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[key]] = counts.get(r[key], 0) + 1
    n, g = len(rows), len(counts)
    return [n / (g * counts[r[key]]) for r in rows]


def train(
    rows: Sequence[Mapping],
    vectors: Sequence[Any] | None = None,
    *,
    l2: float | None = None,
    l2_hashed: float | None = None,
    balance: str = "source",
    hashed: bool = True,
    length_floor: float = 0.0,
    version: str = "trained",
    meta: Mapping | None = None,
    name: str = "",
) -> Any:
    """Fit a scorer on labelled rows (their ``vectors`` if already computed); ``hashed=False`` fits the
    dense features only.  Raises LearningError."""
    if balance not in BALANCES:
        raise learning.LearningError(f"balance must be one of {', '.join(BALANCES)}, got {balance!r}")
    vecs = list(vectors) if vectors is not None else [vectorize_prompt(r["prompt"]) for r in rows]
    m = dict(meta or {})
    if not hashed:
        vecs = [scorer.FeatureVector(v.dense, ()) for v in vecs]
        m.setdefault("hashed", NO_HASHED_NOTE)
    m.setdefault("balance", balance)
    floors = None
    if length_floor:  # prompt length's standardised coefficient is at least this: the score leans on length
        m["length_floor"] = float(length_floor)
        floors = {**scorer.DENSE_FLOORS, "log_chars": float(length_floor)}
    return learning.fit_scorer(
        vecs,
        targets(rows),
        sample_weights=sample_weights(rows, balance),
        l2=l2,
        l2_hashed=l2_hashed,
        floors=floors,
        version=version,
        meta=m,
        name=name,
    )


def choose_l2(
    rows: Sequence[Mapping], vectors: Sequence[Any], grid: Sequence[float], settings: Mapping[str, Any]
) -> tuple[float, list[dict]]:
    """The L2 strength of ``grid`` whose out-of-sample scorers trail prompt length least on their worst source
    (both ``--cv category`` and ``--cv source``), and the table behind the choice.  Raises LearningError."""
    from tools import routing_eval  # routing_eval imports this module

    lengths = [float(len(r["prompt"])) for r in rows]
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_source.setdefault(r["source"], []).append(i)
    cvs = [cv for cv in routing_eval.CV_MODES if cv == "category" or len(by_source) > 1]
    table: list[dict[str, Any]] = []
    for l2 in grid:
        diffs: dict[str, float] = {}
        for cv in cvs:
            splits = routing_eval.make_splits(rows, cv)
            try:
                scores = routing_eval.out_of_sample_scores(rows, vectors, splits, {**settings, "l2": float(l2)})
            except routing_eval.EvalError as exc:
                raise learning.LearningError(str(exc)) from None
            for src, idx in sorted(by_source.items()):
                weak = [rows[i]["weak_score"] for i in idx]
                strong = [rows[i]["strong_score"] for i in idx]
                ours = learning.apgr([float(scores[i]) for i in idx], weak, strong)  # type: ignore[arg-type]
                length = learning.apgr([lengths[i] for i in idx], weak, strong)
                if ours is not None and length is not None:
                    diffs[f"{cv}/{src}"] = round(ours - length, 4)
        if not diffs:
            raise learning.LearningError("no source has outcomes that differ between the models: nothing to compare")
        table.append(
            {
                "l2": float(l2),
                "worst": min(diffs.values()),
                "mean": round(sum(diffs.values()) / len(diffs), 4),
                "apgr_minus_length": diffs,
            }
        )
    best = max(table, key=lambda e: (round(e["worst"] / 0.0005), e["mean"]))
    return best["l2"], table


def file_fingerprint(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.train_complexity", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="labelled JSONL file")
    p.add_argument("--out", required=True, help="where to write the scorer spec JSON")
    p.add_argument(
        "--l2",
        type=float,
        default=learning.DEFAULT_L2,
        help="L2 strength on the dense coefficients, in rows (default %(default)s)",
    )
    p.add_argument(
        "--l2-hashed",
        type=float,
        default=learning.DEFAULT_L2_HASHED,
        help="L2 strength on the hashed coefficients, in rows (default %(default)s)",
    )
    p.add_argument(
        "--l2-grid",
        help="comma-separated L2 strengths to choose from out of sample (--cv category and --cv source): the one "
        "whose scorer trails prompt length least on its worst source wins; overrides --l2",
    )
    p.add_argument("--balance", choices=BALANCES, default="source")
    p.add_argument(
        "--length-floor",
        type=float,
        default=0.0,
        help="minimum standardised coefficient of log_chars (prompt length), default %(default)s: how far the "
        "score leans on length (docs/decisions.md: 3.0 ties it to length out of sample, at a cost on MMLU)",
    )
    p.add_argument(
        "--no-hashed",
        action="store_true",
        help="fit the dense features only (the bundled weights: benchmark words do not transfer)",
    )
    p.add_argument(
        "--version",
        help="the spec's version (default: bundled-<8 hex of the data's sha256>-<8 hex of "
        "the fitted weights>, with -dense under --no-hashed: new weights, new version)",
    )
    args = p.parse_args(argv)
    try:
        rows = load_jsonl(args.data)
        digest = file_fingerprint(args.data)
    except DataError as exc:
        print(f"train_complexity: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    vectors = [vectorize_prompt(r["prompt"]) for r in rows]
    t1 = time.perf_counter()
    meta = {
        "trained_on": {
            "file": Path(args.data).name,
            "sha256": digest,
            "rows": len(rows),
            "sources": sorted({r["source"] for r in rows}),
        }
    }
    version = args.version or "pending"
    l2 = args.l2
    try:
        if args.l2_grid:
            try:
                grid = [float(x) for x in args.l2_grid.split(",") if x.strip()]
            except ValueError:
                raise learning.LearningError(
                    f"--l2-grid must be numbers separated by commas, got {args.l2_grid!r}"
                ) from None
            if not grid or any(not x >= 0 or x == float("inf") for x in grid):
                raise learning.LearningError(f"--l2-grid must list finite numbers >= 0, got {args.l2_grid!r}")
            settings = {
                "l2_hashed": args.l2_hashed,
                "balance": args.balance,
                "hashed": not args.no_hashed,
                "length_floor": args.length_floor,
            }
            l2, table = choose_l2(rows, vectors, grid, settings)
            for e in table:
                cells = "  ".join(f"{k} {v:+.4f}" for k, v in e["apgr_minus_length"].items())
                print(f"# l2 {e['l2']:g}: worst {e['worst']:+.4f} mean {e['mean']:+.4f}  ({cells})", file=sys.stderr)
            print(f"# chosen l2 {l2:g} (APGR minus prompt length's, out of sample)", file=sys.stderr)
            meta["l2_choice"] = {
                "rule": "best worst-source APGR minus prompt length's over --cv category and --cv source",
                "grid": grid,
                "table": [{"l2": e["l2"], "worst": e["worst"], "mean": e["mean"]} for e in table],
            }
        s = train(
            rows,
            vectors,
            l2=l2,
            l2_hashed=args.l2_hashed,
            balance=args.balance,
            hashed=not args.no_hashed,
            length_floor=args.length_floor,
            version=version,
            meta=meta,
        )
    except learning.LearningError as exc:
        print(f"train_complexity: error: {exc}", file=sys.stderr)
        return 2
    t2 = time.perf_counter()
    spec = s.spec()
    if not args.version:  # name the weights, not only the data: a refit with other settings gets another version
        fitted = json.dumps([spec["intercept"], spec["dense"], spec["hashed"]], sort_keys=True).encode()
        spec["version"] = f"{DEFAULT_VERSION_PREFIX}-{digest[:8]}-{hashlib.sha256(fitted).hexdigest()[:8]}" + (
            "-dense" if args.no_hashed else ""
        )
    text = json.dumps(spec, indent=1, sort_keys=True) + "\n"
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"train_complexity: error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    report = {
        "weights": str(args.out),
        "version": spec["version"],
        "rows": len(rows),
        "bytes": len(text),
        "fit": spec["meta"]["fit"],
        "hashed_nonzero": len(spec["hashed"]["coef"]),
        "vectorize_seconds": round(t1 - t0, 2),
        "fit_seconds": round(t2 - t1, 2),
        "quality": "not reported (in-sample); run python -m tools.routing_eval --data FILE --cv category",
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
