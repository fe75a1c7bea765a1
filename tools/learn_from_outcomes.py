"""Learning measured on real verdicts: per-prompt outcomes of a weak and a strong model become judged labels, the
real trainer learns from the ones you name, and every other prompt is scored by what it learned.

    python -m tools.learn_from_outcomes --data ROWS.jsonl --train-ids IDS.txt --scores-out SCORES.jsonl \
        [--route auto] [--config config/routing.json] [--now 2026-12-01T00:00:00Z]

ROWS.jsonl: one object per line with `id`, `prompt`, `weak_score`, `strong_score` (the schema of the routing
benchmark's dev.jsonl; other fields are ignored). IDS.txt: the ids of the rows to learn from, one per line.

1. **Labels, as the labeller stores them.** Each named row becomes the label the labeller Lambda would store for a
   request whose only message is the row's prompt: the prompt's feature vector (`labeller.labelling.features_of`,
   the router's own split and vectorizer; no text is kept), the route's (weak, strong) pair, two verdicts and
   their target (`routing_engine.learning.target_from_verdicts`).
2. **The verdict rule.** A row's verdict is ``clip(0.5 + strong_score - weak_score, 0, 1)``, given twice (as if
   the judge said the same with the answers swapped): with right/wrong outcomes (1/0) that is 1 when only the
   strong model is right, 0 when only the weak one is, and 0.5 (a tie) when both or neither are; with fractional
   scores it is the strong model's expected edge centred on a tie, e.g. a judge's win probability: in
   chat-dev.jsonl `weak_score` is the probability that the judge preferred the weak model's answer to the strong
   model's and `strong_score` is 0.5 (the reference against itself), so the verdict is exactly the probability
   that the strong answer is better, 1 - weak_score.
3. **The real trainer.** `scorer_trainer.training.train_from_config` for the dynamic route `--route` (default
   `auto`) of the configuration `--config` (default the bundled `config/routing.json`), as the scheduled trainer
   Lambda runs it. A route without a `labelling` section gets one for the run (judge: the catalog's highest-quality
   model; pair: the route's model as the weak one and the highest-quality other model as the strong one; the first
   rule with a complexity bound is the labelled rule, and targets the strong model for the run; `min_labels` 20).
4. **Scores.** SCORES.jsonl gets one line `{"id": ..., "score": float}` for every row NOT in IDS.txt, in the
   data's order, from the scorer the trainer trained (higher = more in need of the strong model), whether or not
   it proposed it.

The last line on stdout is one JSON object: `proposed` (the gate's decision), `outcome`, `labels` (count),
`gate` (the out-of-fold per-prompt gain, its 95% interval whose lower end is the one-sided 97.5% bound the
decision reads, z, n), `current` / `candidate` (APGR with intervals on
the labels), `threshold`, `scorer` (version, hashed weights, spec bytes), `scored` (lines written), `seconds`.
Errors (a missing or unreadable file, a row without the fields, an id in IDS.txt that is not in ROWS.jsonl,
duplicate ids, a route that cannot be trained) exit with status 2 and one line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labeller.labelling import features_of
from routing_engine.config import ConfigError, parse_routing_config
from routing_engine.learning import target_from_verdicts
from scorer_trainer.training import TrainingInputError, train_from_config

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "routing.json"
REQUIRED = ("id", "prompt", "weak_score", "strong_score")
RUN_MIN_LABELS = 20  # the smallest min_labels the configuration allows


class HarnessError(Exception):
    """Bad input; the message (one line) says what."""


def verdict(weak_score: float, strong_score: float) -> float:
    """The strong-better verdict of one row (module docstring, step 2)."""
    return min(1.0, max(0.0, 0.5 + float(strong_score) - float(weak_score)))


def read_rows(path: str) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise HarnessError(f"data file not found: {path}")
    rows: list[dict] = []
    seen: set[str] = set()
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise HarnessError(f"{path}:{number}: not valid JSON") from None
        if not isinstance(row, dict):
            raise HarnessError(f"{path}:{number}: a row must be a JSON object")
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise HarnessError(f"{path}:{number}: the row has no {', '.join(missing)} (needs {', '.join(REQUIRED)})")
        if not isinstance(row["prompt"], str) or not row["prompt"].strip():
            raise HarnessError(f"{path}:{number}: 'prompt' must be a non-empty string")
        for key in ("weak_score", "strong_score"):
            x = row[key]
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                raise HarnessError(f"{path}:{number}: '{key}' must be a finite number")
        rid = str(row["id"])
        if rid in seen:
            raise HarnessError(f"{path}:{number}: id {rid!r} appears twice")
        seen.add(rid)
        rows.append({**row, "id": rid})
    if not rows:
        raise HarnessError(f"{path}: no rows")
    return rows


def read_ids(path: str, known: set[str]) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise HarnessError(f"ids file not found: {path}")
    try:
        ids = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    unknown = [i for i in ids if i not in known]
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise HarnessError(f"{path}: id {', '.join(map(repr, unknown[:3]))}{more} not in the data")
    if not ids:
        raise HarnessError(f"{path}: no ids")
    return list(dict.fromkeys(ids))


def run_config(raw: bytes, route: str) -> tuple[Any, tuple[str, str]]:
    """The parsed configuration, with a labelling section for `route` when it has none, and its (weak, strong)."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise HarnessError(f"the routing configuration is not JSON ({exc})") from None
    routes = doc.get("routes") if isinstance(doc, dict) else None
    if not isinstance(routes, dict) or route not in routes:
        known = ", ".join(sorted(routes)) if isinstance(routes, dict) else "none"
        raise HarnessError(f"no route '{route}' in the routing configuration (routes: {known})")
    r = routes[route]
    if not r.get("labelling"):
        models = doc.get("models") or {}
        by_quality = sorted(models, key=lambda k: -float(models[k].get("quality", 0) or 0))
        if not by_quality:
            raise HarnessError("the routing configuration has no models")
        weak = r.get("model")
        strong = next((m for m in by_quality if m != weak), None)
        if strong is None:
            raise HarnessError("the routing configuration needs two models for a (weak, strong) pair")
        r["labelling"] = {
            "sample_rate": 1.0,
            "daily_budget_usd": 1.0,
            "judge_model": by_quality[0],
            "min_labels": RUN_MIN_LABELS,
            "weak_model": weak,
            "strong_model": strong,
        }
        rule = next((x for x in (r.get("dynamic") or {}).get("rules", []) if "complexity" in x.get("when", {})), None)
        if rule is not None:
            r["labelling"]["rule"] = rule["id"]
            if "model" not in (rule.get("target") or {}):  # labels compare two fixed models: the rule names one
                rule["target"] = {"model": strong}
    try:
        config = parse_routing_config(json.dumps(doc))
    except ConfigError as exc:
        raise HarnessError(
            f"the routing configuration with a labelling section for '{route}' is invalid: {exc}"
        ) from None
    lab = config.labelling_of(route)
    if lab is None:
        raise HarnessError(f"route '{route}' is not a dynamic route: it has no scorer to train")
    return config, (str(lab.weak_model), str(lab.strong_model))


def label_of(row: dict, route: str, pair: tuple[str, str], judge: str, now: datetime) -> dict:
    """What the labeller stores for a request whose only message is the row's prompt (features, not text)."""
    weak, strong = pair
    v = verdict(row["weak_score"], row["strong_score"])
    verdicts = [v, v]
    stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    sample = {"messages": [{"role": "user", "text": row["prompt"]}], "system": None}
    return {
        "route": route,
        "request_id": row["id"],
        "sampled_at": stamp,
        "labelled_at": stamp,
        "features": features_of(sample),
        "weak_model": weak,
        "strong_model": strong,
        "served_model": weak,
        "judge_model": judge,
        "verdicts": verdicts,
        "target": target_from_verdicts(verdicts),
    }


def run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    rows = read_rows(args.data)
    ids = read_ids(args.train_ids, {r["id"] for r in rows})
    try:
        raw = Path(args.config).read_bytes()
    except OSError as exc:
        raise HarnessError(f"cannot read the routing configuration {args.config}: {exc.strerror}") from None
    config, pair = run_config(raw, args.route)
    now = _parse_now(args.now)
    judge = str(config.labelling_of(args.route).judge_model)  # type: ignore[union-attr]
    by_id = {r["id"]: r for r in rows}
    labels = [label_of(by_id[i], args.route, pair, judge, now) for i in ids]
    try:
        report = train_from_config(config, args.route, labels, now=now)
    except TrainingInputError as exc:
        raise HarnessError(str(exc)) from None
    model = report.candidate_scorer
    if model is None:
        raise HarnessError(f"the trainer fitted no scorer ({report.outcome}: {report.reason})")
    chosen = set(ids)
    written = 0
    try:
        with open(args.scores_out, "w", encoding="utf-8") as fh:
            for row in rows:
                if row["id"] in chosen:
                    continue
                vector = _vector(row["prompt"])
                fh.write(json.dumps({"id": row["id"], "score": model.score(vector)}) + "\n")
                written += 1
    except OSError as exc:
        raise HarnessError(f"cannot write {args.scores_out}: {exc.strerror or exc}") from None
    spec = model.spec()
    diff = report.difference or {}
    return {
        "proposed": report.outcome == "proposed",
        "outcome": report.outcome,
        "reason": report.reason,
        "labels": len(labels),
        "route": args.route,
        "pair": list(pair),
        "gate": diff.get("gate"),
        "current": report.current,
        "candidate": report.candidate,
        "threshold": report.threshold,
        "scorer": {
            "version": model.version,
            "hashed_weights": len(spec["hashed"]["coef"]),
            "spec_bytes": len(json.dumps(spec, separators=(",", ":"))),
            "fit": report.labels.get("fit"),
        },
        "scored": written,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _vector(prompt: str):
    from routing_engine.scorer import FeatureVector

    return FeatureVector.from_json(features_of({"messages": [{"role": "user", "text": prompt}], "system": None}))


def _parse_now(text: str | None) -> datetime:
    if not text:
        return datetime(2026, 12, 1, tzinfo=UTC)  # fixed: the scorer's version, and so the output, repeat
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HarnessError(f"--now {text!r} is not an ISO date-time (e.g. 2026-12-01T00:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.learn_from_outcomes",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="rows: id, prompt, weak_score, strong_score (JSONL)")
    parser.add_argument("--train-ids", required=True, help="the ids of the rows to learn from, one per line")
    parser.add_argument("--scores-out", required=True, help="where every other row's score goes (JSONL)")
    parser.add_argument("--route", default="auto", help="the dynamic route of --config to train (default auto)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="the routing configuration (default: bundled)")
    parser.add_argument("--now", help="the training time (ISO; default 2026-12-01T00:00:00Z): it names the version")
    args = parser.parse_args(argv)
    try:
        summary = run(args)
    except HarnessError as exc:
        print(f"learn_from_outcomes: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
