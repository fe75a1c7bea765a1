"""The whole label loop in one process, with simulated models: traffic -> router -> samples -> labels -> trainer.

    python -m local.label_loop --requests 3000 --out /tmp/proposal.json [--learned-out /tmp/learned.json]
        [--report /tmp/report.json]
        [--config config/routing.json] [--route tech_support] [--seed 0] [--eval 1000]
        [--latency-scale 0] [--labellers 8]

1. Traffic: `--requests` simulated prompts (local/simulated_traffic.py: many topics, English, Spanish, German and
   Japanese, a fifth about databases) are sent to `POST /v1/route` of the REAL router app (the one `make local`
   serves: local.server.build, simulated backend), with label sampling on into an in-memory queue
   (router.adapters.sample_queue.MemorySampleQueue) instead of SQS.
2. Labelling: every queued sample goes through the labeller's own `label_sample` (the other model's answer and
   two swapped judge verdicts), with the simulated backend as Bedrock (through the router's Converse adapter, as
   the labeller Lambda does) and the labels table on moto's DynamoDB (the labeller's LabelStore). The judge is
   local/simulated_judge.py: database questions need the strong model; every other question is a tie.
3. Training: the trainer's own train_route / propose_config (lambdas/scorer_trainer/training.py) on the stored
   labels; the proposal (when better) goes to --learned-out as the trainer Lambda writes it (a learned-scorers
   document: `python -m local.server --learned FILE` serves it), to --out as the routing document with the scorer
   written in (for review; the Lambda never writes that), and the report to --report.
4. Fresh evaluation (`--eval N`, default 1000): N prompts from the held-out templates with another seed, each
   judged by the same simulated judge (weak and strong answers, asked twice, swapped); the APGR of the bundled
   and of the retrained scorer against those labels, with 95% intervals and the paired interval of the gain.

When the route has no `labelling` section, one is added for the run: every request sampled (sample_rate 1), a
budget no run reaches, the judge = the catalog's highest-quality model, and target_strong_share `--strong-share`
(default 0.2, the share of database prompts; the bundled scorer sends none of this traffic past today's
threshold, so "keep today's share" would calibrate to 0). The configuration file itself is not changed.
Latencies: `--latency-scale 0` (default) makes the simulated models answer at once; 1 uses their latencies in
config/local-latency.json (see benchmarks/label_loop.py for labels per simulated hour).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROUTE = "tech_support"
LABELS_TABLE = "model-router-labels-local"
EVAL_SEED_OFFSET = 1_000_003  # fresh prompts: a seed the loop's traffic never uses


class LoopError(Exception):
    """Bad input; the message says what."""


@dataclass
class LoopResult:
    requests: int = 0
    answered: int = 0
    sample_outcomes: dict = field(default_factory=dict)  # the sender's counts (queued, sent, failed, too_large)
    label_outcomes: dict = field(default_factory=dict)  # label_sample kinds
    label_cost_usd: float = 0.0
    seconds: dict = field(default_factory=dict)  # traffic, labelling, training, eval
    report: dict | None = None
    proposal: bytes | None = None  # the routing document with the scorer written in (for review)
    learned: bytes | None = None  # the learned-scorers document the trainer Lambda would propose
    fresh: dict | None = None  # the fresh-prompt comparison
    table_items: list = field(default_factory=list)  # every item of the labels table (for the no-text check)

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "answered": self.answered,
            "samples": self.sample_outcomes,
            "labels": self.label_outcomes,
            "label_cost_usd": round(self.label_cost_usd, 6),
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "report": self.report,
            "fresh": self.fresh,
            "proposed": self.proposal is not None,
        }


def loop_config(doc: object, route: str, strong_share: float | None) -> dict:
    """The configuration for the run: the route gets a labelling section when it has none. LoopError when the
    document is not shaped like a routing configuration (the rest is parse_routing_config's to check)."""
    if not isinstance(doc, dict):
        raise LoopError(f"the configuration must be a JSON object, not {_json_kind(doc)}")
    routes = doc.get("routes")
    if not isinstance(routes, dict):
        raise LoopError("the configuration has no 'routes' object")
    if route not in routes:
        raise LoopError(f"no route '{route}' in the configuration (routes: {', '.join(sorted(routes)) or 'none'})")
    if not isinstance(routes[route], dict):
        raise LoopError(f"routes.{route} must be a JSON object, not {_json_kind(routes[route])}")
    doc = cast(dict, json.loads(json.dumps(doc)))  # a deep copy
    r = doc["routes"][route]
    if not r.get("labelling"):
        models = doc.get("models")
        if not isinstance(models, dict) or not models or not all(isinstance(m, dict) for m in models.values()):
            raise LoopError(
                "the configuration's 'models' must be a non-empty object of model objects: the judge "
                "of the labelling section added for the run is one of them"
            )
        judge = max(models, key=lambda k: _number(models[k].get("quality")))
        r["labelling"] = {"sample_rate": 1.0, "daily_budget_usd": 1_000_000.0, "judge_model": judge, "min_labels": 200}
        if strong_share is not None:
            r["labelling"]["target_strong_share"] = strong_share
    return doc


def _json_kind(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def run_loop(*, quiet_env: dict[str, str] | None = None, **kwargs) -> LoopResult:
    """`_run_loop` with the process environment restored afterwards: the local server's build sets Powertools
    variables in os.environ (read at import), which must not leak into whatever the calling process runs next."""
    saved = dict(os.environ)
    for name, value in (quiet_env or {}).items():
        os.environ.setdefault(name, value)
    try:
        return _run_loop(**kwargs)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run_loop(
    *,
    requests: int,
    config_doc: dict,
    route: str = DEFAULT_ROUTE,
    seed: int = 0,
    eval_n: int = 1000,
    strong_share: float | None = 0.2,
    latency_scale: float = 0.0,
    labellers: int = 8,
    labelling_latency_scale: float | None = None,
    now: datetime | None = None,
) -> LoopResult:
    """`labelling_latency_scale` (default: `latency_scale`): the simulated models' pace while labelling only, so a
    benchmark can time the labeller at real simulated latencies without waiting for the traffic at them too."""
    import boto3
    from moto import mock_aws
    from starlette.testclient import TestClient

    from aws_adapters.bedrock import BedrockConverse
    from labeller.labelling import label_sample
    from labeller.store import LabelStore, create_table
    from labeller.wiring import bedrock_converse
    from local import server, simulated_traffic
    from local.simulated_backend import simulated_client_factory
    from router.adapters.sample_queue import MemorySampleQueue
    from router.sampling import Sampler, SampleSender
    from routing_engine.config import ConfigError, parse_routing_config
    from scorer_trainer.training import (
        TrainingInputError,
        propose_config,
        propose_learned,
        route_training,
        train_from_config,
    )

    doc = loop_config(config_doc, route, strong_share)
    raw = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    try:
        config = parse_routing_config(raw)
    except ConfigError as exc:
        raise LoopError(f"invalid routing configuration: {exc}") from None
    if config.labelling_of(route) is None:
        raise LoopError(f"route '{route}' cannot be labelled (it needs a dynamic policy)")
    try:  # before any traffic: a route the trainer cannot read would make the whole run for nothing
        route_training(config, route)
    except TrainingInputError as exc:
        raise LoopError(str(exc)) from None
    result = LoopResult(requests=requests)
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        config_file = Path(tmp) / "routing.json"
        config_file.write_bytes(raw)
        try:
            app, service, backend = server.build(
                str(config_file), None, bedrock=False, faults=None, latency_scale=latency_scale, env={}
            )
        except server.StartupError as exc:
            raise LoopError(str(exc)) from None
        queue = MemorySampleQueue()
        sender = SampleSender(queue, max_pending=max(64, requests))
        service.sampler = Sampler(sender, seed=seed)

        # 1. traffic through the router app
        started = time.perf_counter()
        prompts = simulated_traffic.generate(requests, seed=seed)
        with TestClient(app) as client:
            for i, p in enumerate(prompts):  # fixed request ids: the train/holdout split hashes them
                response = client.post(
                    "/v1/route", json={"task": route, "prompt": p.text}, headers={"x-request-id": f"loop-{seed}-{i}"}
                )
                result.answered += response.status_code == 200
        sender.flush(30.0)
        result.sample_outcomes = dict(sender.counts)
        result.seconds["traffic"] = time.perf_counter() - started

        # 2. labelling, as the labeller Lambda does it
        started = time.perf_counter()
        dynamodb = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
        )
        create_table(dynamodb, LABELS_TABLE)
        store = LabelStore(LABELS_TABLE, dynamodb)
        if labelling_latency_scale is not None:
            backend.latency_scale = labelling_latency_scale  # read when the labeller's clients are made, below
        converse = bedrock_converse(BedrockConverse(simulated_client_factory(backend)))
        when = now or datetime.now(UTC)
        samples = [json.loads(body) for body in queue.drain()]
        with ThreadPoolExecutor(max_workers=max(1, labellers)) as pool:
            outcomes = list(pool.map(lambda s: label_sample(s, converse=converse, store=store, now=when), samples))
        result.label_outcomes = dict(Counter(o.kind for o in outcomes))
        result.label_cost_usd = sum(o.cost_usd for o in outcomes)
        result.seconds["labelling"] = time.perf_counter() - started

        # 3. the trainer
        started = time.perf_counter()
        labels = store.labels(route)
        try:
            report = train_from_config(config, route, labels, now=when)
        except TrainingInputError as exc:
            raise LoopError(str(exc)) from None
        if report.outcome == "proposed":
            try:
                result.learned = propose_learned(None, config, route, report)
                result.proposal = propose_config(raw, route, report)
            except (ConfigError, ValueError) as exc:  # as the trainer Lambda reports it
                report = report.with_outcome("not_better", reason=f"proposal invalid: {exc}")
        store.put_report(route, report.as_dict())
        result.report = report.as_dict()
        result.seconds["training"] = time.perf_counter() - started
        result.table_items = [
            item for page in dynamodb.get_paginator("scan").paginate(TableName=LABELS_TABLE) for item in page["Items"]
        ]

        # 4. fresh prompts, judged the same way
        if eval_n and report.candidate_scorer is not None:
            started = time.perf_counter()
            result.fresh = fresh_comparison(
                config, route, report.candidate_scorer, converse, n=eval_n, seed=seed + EVAL_SEED_OFFSET
            )
            result.seconds["eval"] = time.perf_counter() - started
    return result


def judged_targets(config, route: str, texts: list[str], converse) -> list[float]:
    """Each prompt answered by the weak and the strong model and judged twice (swapped) by the labeller's own
    `judge_twice`. Where the labeller would drop a reply with no verdict line, evaluation needs a target for
    every fresh prompt, so it counts as a tie; the simulated judge always gives one."""
    from labeller.labelling import judge_twice
    from routing_engine.learning import target_from_verdicts

    labelling = config.labelling_of(route)
    models = config.models
    weak, strong = models[labelling.weak_model], models[labelling.strong_model]
    judge = models[labelling.judge_model]
    judge_spec = {
        "model_id": judge.model_id,
        "region": judge.region,
        "input_per_million": judge.price.input_per_million,
        "output_per_million": judge.price.output_per_million,
    }
    targets = []
    for text in texts:
        messages = [{"role": "user", "content": [{"text": text}]}]
        answer_weak = converse(labelling.weak_model, weak.model_id, weak.region, None, messages, 1024)[0]
        answer_strong = converse(labelling.strong_model, strong.model_id, strong.region, None, messages, 1024)[0]
        verdicts = judge_twice(
            converse, labelling.judge_model, judge_spec, text, answer_weak, answer_strong, {"judge": 0.0}
        )
        targets.append(target_from_verdicts([0.5 if v is None else v for v in verdicts]))
    return targets


def fresh_comparison(config, route: str, candidate, converse, *, n: int, seed: int) -> dict:
    """Bundled vs retrained scorer on fresh prompts (held-out templates, another seed), judged by the simulated
    judge: APGR of each with its 95% interval, and the paired interval of the gain."""
    from local import simulated_traffic
    from routing_engine import learning
    from routing_engine.complexity import split_text
    from routing_engine.scorer import bundled, vectorize

    prompts = simulated_traffic.generate(n, seed=seed, held_out=True)
    vectors = [vectorize(*split_text(p.text)) for p in prompts]
    targets = judged_targets(config, route, [p.text for p in prompts], converse)
    result = learning.compare(bundled(), candidate, vectors, targets)
    return {
        "n": n,
        "seed": seed,
        "database_prompts": sum(p.about_databases for p in prompts),
        "bundled": {"apgr": result["current"]["apgr"], "ci": result["current"]["ci"]},
        "retrained": {
            "apgr": result["candidate"]["apgr"],
            "ci": result["candidate"]["ci"],
            "version": candidate.version,
        },
        "gain": result["difference"],
        "verdict": result["verdict"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--out", help="write the proposed routing configuration here (when the scorer is better)")
    parser.add_argument(
        "--learned-out", help="write the proposed learned-scorers document here (what the trainer Lambda deploys)"
    )
    parser.add_argument("--report", help="write the loop's summary and the training report here (JSON)")
    parser.add_argument("--config", default=str(ROOT / "config" / "routing.json"))
    parser.add_argument("--route", default=DEFAULT_ROUTE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval", type=int, default=1000, help="fresh prompts to compare the scorers on (0: none)")
    parser.add_argument(
        "--strong-share",
        type=float,
        default=0.2,
        help="target_strong_share of the labelling section added when the route has none",
    )
    parser.add_argument("--latency-scale", type=float, default=0.0, help="simulated model latency (0 = instant)")
    parser.add_argument("--labellers", type=int, default=8, help="labelling threads (the labeller's concurrency)")
    args = parser.parse_args(argv)
    # Read by Powertools: set for the command's own run only (run_loop restores the environment), so a process
    # that calls main() (a test session) keeps its loggers' levels.
    quiet = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}  # a line per request drowns it
    try:
        if args.requests < 1:
            raise LoopError("--requests must be at least 1")
        if not 0 < args.strong_share < 1:
            raise LoopError("--strong-share must be between 0 and 1")
        if args.eval < 0:
            raise LoopError("--eval must be 0 or more")
        if args.latency_scale < 0:
            raise LoopError("--latency-scale must be 0 or more")
        for option, path in (("--out", args.out), ("--learned-out", args.learned_out), ("--report", args.report)):
            if path and not Path(path).resolve().parent.is_dir():  # checked before the run, not after it
                raise LoopError(f"{option} {path}: the directory {Path(path).resolve().parent} does not exist")
        try:
            doc = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except OSError as exc:
            raise LoopError(f"cannot read {args.config}: {exc.strerror}") from None
        except ValueError as exc:
            raise LoopError(f"{args.config} is not JSON: {exc}") from None
        result = run_loop(
            quiet_env=quiet,
            requests=args.requests,
            config_doc=doc,
            route=args.route,
            seed=args.seed,
            eval_n=args.eval,
            strong_share=args.strong_share,
            latency_scale=args.latency_scale,
            labellers=args.labellers,
        )
        summary = result.summary()
        if args.out and result.proposal is not None:
            _write(args.out, result.proposal)
            summary["proposal_file"] = args.out
        if args.learned_out and result.learned is not None:
            _write(args.learned_out, result.learned)
            summary["learned_file"] = args.learned_out
        if args.report:
            _write(args.report, (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode())
    except LoopError as exc:
        print(f"label_loop: {' '.join(str(exc).splitlines())}", file=sys.stderr)  # one line
        return 2
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if args.out and result.proposal is None:
        print(f"label_loop: no proposal written: {result.report['outcome'] if result.report else '?'}", file=sys.stderr)
    return 0


def _write(path: str, content: bytes) -> None:
    try:
        Path(path).write_bytes(content)
    except OSError as exc:
        raise LoopError(f"cannot write {path}: {exc.strerror or exc}") from None


if __name__ == "__main__":
    sys.exit(main())
