"""Learning curves on real verdicts: what a route's trainer learns from N judged labels, on prompts it never saw.

    python -m benchmarks.learning_curves run --dataset mmlu --sizes 200,500,1000,2000 --splits 5 --out R.jsonl
    python -m benchmarks.learning_curves run --dataset chat --sizes 200,500,1000 --splits 5 --out R.jsonl
    python -m benchmarks.learning_curves run --dataset mmlu --sizes 2000 --splits 10 --out G.jsonl   # gate power
    python -m benchmarks.learning_curves run --dataset mmlu --sizes 2000 --splits 20 --shuffle --out S.jsonl
    python -m benchmarks.learning_curves summary R.jsonl [G.jsonl S.jsonl] [--plot curves.png]
    python -m benchmarks.learning_curves run ... --gate-out GI.jsonl      # also store what the gate read
    python -m benchmarks.learning_curves gates GI.jsonl [--fresh]         # re-decide stored runs, no refitting

Data (read from ../shared/eval/routing-benchmark, never copied): `mmlu` is the MMLU rows of dev.jsonl, split by
subject: a split holds 30% of the subjects out whole (the fresh prompts), half of the other subjects (with GSM8K)
train the serving scorer, and the route's labels come from the remaining subjects, so the serving scorer has seen
neither the labels nor the fresh prompts, as the bundled scorer has seen none of a route's traffic; `chat` is
chat-dev.jsonl (judged chat instructions, CC BY-NC 4.0: evaluation only), split by prompt (30% of the instructions
held out with all their rows). One split's test set is the same for every N; the N labels are drawn from the
split's training pool (whole prompts for chat). Targets follow tools.learn_from_outcomes' verdict rule
(``clip(0.5 + strong_score - weak_score, 0, 1)``), features are what the labeller stores.

Per split and N, on the held-out prompts (APGR, RouteLLM's metric on the rows' own outcomes):
- `length`: routing by prompt length;
- `serving`: the scorer the route serves before learning. For chat it is the bundled scorer (trained on dev.jsonl
  only, so out of sample here); for MMLU the bundled recipe (``tools.train_complexity.train``, dense features)
  refitted on GSM8K and the serving half of the subjects, so no figure is in-sample;
- `learned`: the trainer's own ``routing_engine.label_learning.learn`` (the function the trainer Lambda and
  tools.learn_from_outcomes run) on the N labels, with the serving scorer as its base and the gate's reference;
  `proposed` is its gate's decision, `gain` = learned - serving on the held-out prompts;
- `tfidf`: tools.tfidf_reference (scikit-learn) on the same N labels' instruction texts.
`same_*`: the same scorers on the unlabelled rest of the training pool (prompts of the labels' own subjects or
instructions, never labelled): the fresh prompts of a route's own traffic, where the gate's decision is judged.
`--shuffle` permutes the N targets (no signal left): the gate must then rarely propose.

`--gate-out` stores per run what the gate reads (the N targets, folds, the serving scorer's scores, every tried
setting's out-of-fold logits) and the fresh prompts' outcomes with both scorers' scores, so gate variants are
re-decided offline by `gates` (with `--fresh`: each fresh gain's 95% bootstrap interval) instead of refitting (a
2,000-label MMLU run costs 1-7 minutes).

`summary` prints the table (mean over splits, 95% t-interval over splits) and the gate's error rates, and draws the
curves with matplotlib (`--plot`).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from routing_engine import label_learning, learning, scorer
from routing_engine.complexity import split_text
from tools import tfidf_reference, train_complexity
from tools.learn_from_outcomes import verdict

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "routing-benchmark"
TEST_SHARE = 0.3
T95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 8: 2.365, 10: 2.262, 20: 2.093}


def load(dataset: str) -> tuple[list[dict], list[dict], str]:
    """(rows of the dataset, all dev rows, group key)."""
    dev = [json.loads(line) for line in (SHARED / "dev.jsonl").open(encoding="utf-8") if line.strip()]
    if dataset == "mmlu":
        return [r for r in dev if r["source"] == "mmlu"], dev, "category"
    chat = [json.loads(line) for line in (SHARED / "chat-dev.jsonl").open(encoding="utf-8") if line.strip()]
    return chat, dev, "prompt"


def apgr(scores, rows) -> float | None:
    return learning.route_metrics(
        [float(s) for s in scores], [r["weak_score"] for r in rows], [r["strong_score"] for r in rows]
    )["apgr"]


def run(args: argparse.Namespace) -> None:
    rows, dev, key = load(args.dataset)
    vectors = [train_complexity.vectorize_prompt(r["prompt"]) for r in rows]
    texts = [split_text(r["prompt"])[0] for r in rows]
    targets = [verdict(r["weak_score"], r["strong_score"]) for r in rows]
    groups = sorted({r[key] for r in rows})
    sizes = [int(x) for x in args.sizes.split(",")]
    out = open(args.out, "a", encoding="utf-8")  # noqa: SIM115 - one line per run, flushed as it goes
    gate_out = open(args.gate_out, "a", encoding="utf-8") if args.gate_out else None  # noqa: SIM115
    for split in range(args.first_split, args.first_split + args.splits):
        rng = random.Random(split)
        order = groups[:]
        rng.shuffle(order)
        test_groups = set(order[: round(len(order) * TEST_SHARE)])
        test = [i for i, r in enumerate(rows) if r[key] in test_groups]
        pool_groups = [g for g in order if g not in test_groups]
        if args.dataset == "mmlu":  # the other subjects: half train the serving scorer, half give the labels
            serving_groups = set(pool_groups[: len(pool_groups) // 2])
            pool_groups = pool_groups[len(pool_groups) // 2 :]
            serving = train_complexity.train(
                [r for r in dev if r["source"] != "mmlu" or r["category"] in serving_groups],
                hashed=False,
                **{k: v for k, v in train_complexity.settings_of(scorer.bundled()).items() if k != "hashed"},
                version=f"serving-split{split}",
            )
        else:
            serving = scorer.bundled()
        test_rows = [rows[i] for i in test]
        base = {
            "length": apgr([len(rows[i]["prompt"]) for i in test], test_rows),
            "serving": apgr([serving.score(vectors[i]) for i in test], test_rows),
        }
        if args.dataset == "mmlu":  # labels are rows drawn at random from the label subjects
            label_groups = set(pool_groups)
            pool = [i for i, r in enumerate(rows) if r[key] in label_groups]
            rng.shuffle(pool)
        else:  # whole prompts: every row (weak model) of an instruction together
            by_group: dict[str, list[int]] = {}
            for i, r in enumerate(rows):
                by_group.setdefault(r[key], []).append(i)
            pool = [i for g in pool_groups for i in by_group[g]]
        for n in sizes:
            if n > len(pool):
                continue
            train = pool[:n]
            t = [targets[i] for i in train]
            if args.shuffle:
                random.Random(10_000 + split).shuffle(t)
            started = time.perf_counter()
            res = label_learning.learn(
                [vectors[i] for i in train],
                t,
                [str(rows[i]["id"]) for i in train],
                current=serving,
                version=f"curve-{split}-{n}",
            )
            seconds = time.perf_counter() - started
            learned = apgr([res.candidate.score(vectors[i]) for i in test], test_rows)
            rest = pool[n:]  # unlabelled prompts of the labels' own distribution (same subjects / instructions)
            same: dict = {}
            if len(rest) >= 200:
                rest_rows = [rows[i] for i in rest]
                same = {
                    "same_test": len(rest),
                    "same_serving": apgr([serving.score(vectors[i]) for i in rest], rest_rows),
                    "same_learned": apgr([res.candidate.score(vectors[i]) for i in rest], rest_rows),
                }
                same["same_gain"] = (
                    None
                    if same["same_learned"] is None or same["same_serving"] is None
                    else same["same_learned"] - same["same_serving"]
                )
            line = {
                "dataset": args.dataset,
                "split": split,
                "n": n,
                "shuffled": bool(args.shuffle),
                "test": len(test),
                **base,
                "learned": learned,
                "gain": None if learned is None or base["serving"] is None else learned - base["serving"],
                **same,
                "proposed": res.gate["proposed"],
                "gate": res.gate,
                "setting": res.setting,
                "train_seconds": round(seconds, 1),
                "hashed_weights": len(res.candidate.spec()["hashed"]["coef"]),
                "spec_bytes": len(json.dumps(res.candidate.spec(), separators=(",", ":"))),
            }
            if not args.shuffle and not args.no_reference:
                ref = tfidf_reference.fit([texts[i] for i in train], t)
                line["tfidf"] = apgr(ref.score([texts[i] for i in test]), test_rows)
                line["tfidf_c"] = ref.c
            out.write(json.dumps(line) + "\n")
            out.flush()
            if gate_out is not None:  # what the gate read, so gate variants are re-decided without refitting
                gate_out.write(json.dumps(_gate_record(line, res, t, rows, rest, serving, vectors)) + "\n")
                gate_out.flush()
            print(json.dumps({k: line[k] for k in line if k != "gate"}), file=sys.stderr, flush=True)
    out.close()
    if gate_out is not None:
        gate_out.close()


def _gate_record(line: dict, res: Any, targets: list[float], rows: list[dict], rest: list[int], serving, vectors):
    """One run's gate inputs (``--gate-out``): the N targets, folds, the serving scorer's scores, each tried
    setting's out-of-fold logits, and the fresh prompts' outcomes and both scorers' scores (the fresh gain)."""

    def r(xs):
        return [round(float(x), 5) for x in xs]

    return {
        **{k: line.get(k) for k in ("dataset", "split", "n", "shuffled", "gain", "same_gain", "proposed", "setting")},
        "targets": r(targets),
        "folds": res.folds,
        "current": r(res.current),
        "cv": res.cv,
        "cv_logits": [r(o) for o in res.cv_logits],
        "fresh": {
            "weak": [rows[i]["weak_score"] for i in rest],
            "strong": [rows[i]["strong_score"] for i in rest],
            "serving": r(serving.score(vectors[i]) for i in rest),
            "learned": r(res.candidate.score(vectors[i]) for i in rest),
        },
    }


def _interval(values: list[float]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "n/a"
    m = statistics.fmean(vals)
    if len(vals) < 2:
        return f"{m:.3f}"
    half = T95.get(len(vals), 1.96) * statistics.stdev(vals) / math.sqrt(len(vals))
    return f"{m:.3f} ± {half:.3f}"


def _decided(line: Any) -> Any:
    """The line with ``proposed`` as the gate decides today: its z (over the cross-fitting-corrected standard
    error) above label_learning.GATE_Z. Runs stored before the correction (no ``variance_factor``: their z is
    over the per-label standard error) are counted as the current gate would count them."""
    g = line.get("gate") or {}
    z = g.get("z")
    if not isinstance(z, (int, float)):
        return line
    z *= math.sqrt(g.get("variance_factor", 1.0) / label_learning.CROSS_FIT_VARIANCE)
    return {**line, "proposed": z > label_learning.GATE_Z, "gate": {**g, "z_now": round(z, 3)}}


def summary(args: argparse.Namespace) -> None:
    lines = [
        _decided(json.loads(x)) for path in args.files for x in Path(path).read_text(encoding="utf-8").splitlines() if x
    ]
    skip = {(d, int(k)) for d, _, k in (item.partition(":") for item in (args.skip or "").split(",") if item)}
    curves = [x for x in lines if not x["shuffled"] and (x["dataset"], x["split"]) not in skip]
    keys = sorted({(x["dataset"], x["n"]) for x in curves})
    print(
        "| Labels (dataset, N) | Splits | Prompt length | Serving scorer | Learned (trainer) | TF-IDF reference | Proposed |"
    )
    print("|---|---|---|---|---|---|---|")
    for ds, n in keys:
        xs = [x for x in curves if x["dataset"] == ds and x["n"] == n]
        print(
            f"| {ds} N={n:,} | {len(xs)} | {_interval([x['length'] for x in xs])} | "
            f"{_interval([x['serving'] for x in xs])} | {_interval([x['learned'] for x in xs])} | "
            f"{_interval([x.get('tfidf') for x in xs])} | {sum(x['proposed'] for x in xs)} of {len(xs)} |"
        )
    for ds, n in keys:
        pairs = [
            x["learned"] - x["tfidf"]
            for x in curves
            if x["dataset"] == ds and x["n"] == n and x.get("tfidf") is not None and x["learned"] is not None
        ]
        if pairs:
            print(f"learned - TF-IDF {ds} N={n}, paired over the {len(pairs)} splits with both: {_interval(pairs)}")
    for ds, n in keys:
        xs = [x for x in curves if x["dataset"] == ds and x["n"] == n]
        big = [x for x in xs if x["gain"] is not None and x["gain"] >= 0.02]
        print(
            f"gate {ds} N={n}: proposed in {sum(x['proposed'] for x in big)} of {len(big)} splits with a fresh gain "
            f">= 0.02 (of {len(xs)} splits; gains {[round(x['gain'], 3) for x in xs]}); "
            f"train seconds {[x['train_seconds'] for x in xs]}; spec bytes max {max(x['spec_bytes'] for x in xs):,}"
        )
    for ds, n in keys:
        xs = [x for x in curves if x["dataset"] == ds and x["n"] == n and x.get("same_gain") is not None]
        if xs:
            big = [x for x in xs if x["same_gain"] >= 0.02]
            print(
                f"gate {ds} N={n}, fresh prompts of the labels' own distribution: proposed in "
                f"{sum(x['proposed'] for x in big)} of {len(big)} splits with a gain >= 0.02 (of {len(xs)}; gains "
                f"{[round(x['same_gain'], 3) for x in xs]}; serving {_interval([x['same_serving'] for x in xs])}, "
                f"learned {_interval([x['same_learned'] for x in xs])}); gate z by split "
                f"{ {x['split']: (x.get('gate') or {}).get('z_now') for x in big} }"
            )
    shuffled = [x for x in lines if x["shuffled"]]
    for ds, n in keys:  # the fresh gain a learner gets from no signal at all: its largest over the shuffled runs
        noise = [x["same_gain"] for x in shuffled if x["dataset"] == ds and x["n"] == n and x.get("same_gain")]
        xs = [x for x in curves if x["dataset"] == ds and x["n"] == n and x.get("same_gain") is not None]
        if noise and xs:
            big = [x for x in xs if x["same_gain"] > max(noise)]
            print(
                f"gate {ds} N={n}: proposed in {sum(x['proposed'] for x in big)} of {len(big)} splits whose fresh gain "
                f"is above every one of the {len(noise)} shuffled runs' fresh gains (largest {max(noise):.3f})"
            )
    for ds, n in sorted({(x["dataset"], x["n"]) for x in shuffled}):
        xs = [x for x in shuffled if x["dataset"] == ds and x["n"] == n]
        zs: list[float] = [z for x in xs if (z := (x.get("gate") or {}).get("z_now")) is not None]
        rms = math.sqrt(statistics.fmean(z * z for z in zs)) if zs else float("nan")
        print(
            f"gate {ds} N={n}, verdicts shuffled: proposed in {sum(x['proposed'] for x in xs)} of {len(xs)} runs "
            f"(z root mean square {rms:.2f}, largest {max(zs, default=float('nan')):.2f}; z {sorted(zs)})"
        )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        datasets = sorted({d for d, _ in keys})
        fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
        for ax, ds in zip(axes[0], datasets):
            ns = sorted(n for d, n in keys if d == ds)
            for name, style in (("length", "k--"), ("serving", "b:"), ("tfidf", "g-s"), ("learned", "r-o")):
                means, halves = [], []
                for n in ns:
                    vals = [x.get(name) for x in curves if x["dataset"] == ds and x["n"] == n]
                    vals = [v for v in vals if v is not None]
                    means.append(statistics.fmean(vals))
                    halves.append(
                        T95.get(len(vals), 1.96) * statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else 0
                    )
                ax.errorbar(ns, means, yerr=halves, fmt=style, capsize=3, label=name)
            ax.axhline(0.5, color="grey", lw=0.5)
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(ns, [f"{n:,}" for n in ns])
            ax.set_xlabel("judged labels N")
            ax.set_ylabel("APGR on held-out prompts")
            ax.set_title(
                {"mmlu": "MMLU (dev.jsonl), held-out subjects", "chat": "chat-dev.jsonl, held-out prompts"}[ds]
            )
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"plot: {args.plot}")


def _fold_losses(logits: list[float], targets: list[float], folds: list[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for z, t, f in zip(logits, targets, folds):
        if f >= 0:
            out[f] = out.get(f, 0.0) + (z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))) - t * z
    return out


def _fresh_interval(fresh: dict, resamples: int = 400) -> tuple[float | None, float | None, float | None]:
    """The fresh prompts' APGR gain (learned - serving) and its 95% bootstrap interval (prompts resampled)."""
    n = len(fresh["weak"])
    if n < 200:
        return None, None, None

    def gain(idx):
        rows = [{"weak_score": fresh["weak"][i], "strong_score": fresh["strong"][i]} for i in idx]
        a = apgr([fresh["learned"][i] for i in idx], rows)
        b = apgr([fresh["serving"][i] for i in idx], rows)
        return None if a is None or b is None else a - b

    rng = random.Random(0)
    boot = sorted(g for g in (gain([rng.randrange(n) for _ in range(n)]) for _ in range(resamples)) if g is not None)
    point = gain(range(n))
    return point, boot[int(0.025 * len(boot))], boot[int(0.975 * len(boot)) - 1]


def _other_folds_loss(losses: dict[int, float], fold: int) -> float:
    return sum(v for g, v in losses.items() if g != fold)


def gates(args: argparse.Namespace) -> None:
    """Re-decide stored runs (``run --gate-out``) under gate variants, without refitting."""
    recs = [json.loads(x) for path in args.files for x in Path(path).read_text(encoding="utf-8").splitlines() if x]
    skip = {(d, int(k)) for d, _, k in (item.partition(":") for item in (args.skip or "").split(",") if item)}
    for rec in recs:
        if (rec["dataset"], rec["split"]) in skip:
            continue
        t, folds, cur = rec["targets"], rec["folds"], rec["current"]
        held = [i for i, f in enumerate(folds) if f >= 0]
        sub = [t[i] for i in held], [folds[i] for i in held], [cur[i] for i in held]
        losses = [_fold_losses(o, t, folds) for o in rec["cv_logits"]]
        best = min(range(len(losses)), key=lambda k: sum(losses[k].values()))
        variants = {"selected": [rec["cv_logits"][best][i] for i in held]}
        # each fold's scores from the setting with the lowest loss on the other folds
        choice: dict[int, int] = {}
        for f in set(sub[1]):
            other = [_other_folds_loss(fl, f) for fl in losses]
            choice[f] = other.index(min(other))
        variants["other_folds"] = [rec["cv_logits"][choice[folds[i]]][i] for i in held]
        out = {"dataset": rec["dataset"], "split": rec["split"], "n": rec["n"], "shuffled": rec["shuffled"]}
        for name, scores in variants.items():
            g = label_learning.gate(*sub[:2], scores, sub[2])
            out[name] = g.get("z")
        point, lo, hi = _fresh_interval(rec["fresh"]) if args.fresh else (rec.get("same_gain"), None, None)
        out["fresh_gain"] = None if point is None else round(point, 3)
        if lo is not None and hi is not None:
            out["fresh_ci"] = [round(lo, 3), round(hi, 3)]
        out["settings"] = len(losses)
        print(json.dumps(out), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning_curves", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--dataset", choices=("mmlu", "chat"), required=True)
    r.add_argument("--sizes", default="200,500,1000,2000")
    r.add_argument("--splits", type=int, default=5)
    r.add_argument("--first-split", type=int, default=0)
    r.add_argument("--shuffle", action="store_true", help="permute the targets: no signal left")
    r.add_argument("--no-reference", action="store_true", help="skip the TF-IDF reference")
    r.add_argument("--out", required=True, help="results, one JSON line per (split, N), appended")
    r.add_argument("--gate-out", help="also append each run's gate inputs here (for `gates`: no refitting)")
    s = sub.add_parser("summary")
    s.add_argument("files", nargs="+")
    s.add_argument("--plot")
    s.add_argument(
        "--skip",
        help="DATASET:SPLIT,... left out of the curves (a split whose held-out prompts have no quality gap between "
        "the models: APGR divides by that gap, so its figures are meaningless, e.g. mmlu:5)",
    )
    g = sub.add_parser("gates", help="re-decide stored runs (run --gate-out) under gate variants, no refitting")
    g.add_argument("files", nargs="+")
    g.add_argument("--skip")
    g.add_argument("--fresh", action="store_true", help="bootstrap interval of each run's fresh-prompt gain")
    args = parser.parse_args(argv)
    if args.cmd == "gates":
        gates(args)
        return 0
    if args.cmd == "run":
        if not (SHARED / "dev.jsonl").is_file():
            print(
                f"learning_curves: {SHARED} not found (the routing benchmark sits beside the repository)",
                file=sys.stderr,
            )
            return 2
        run(args)
    else:
        summary(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
