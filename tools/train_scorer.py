"""Train a route's scorer offline on exported labels: the same code the scheduled trainer Lambda runs.

    python -m tools.train_scorer --labels labels.jsonl --config routing.json --route tech_support \
        [--learned learned.json] [--learned-out learned-proposal.json] [--out proposal.json]
        [--report report.json] [--now 2026-12-01T00:00:00Z]

--labels: one label per line, as the labeller stores them (lambdas/labeller/store.py: features, target,
weak_model, strong_model, request_id, labelled_at, ...). --config: the routing configuration the route is served
with (its labelling section, scorer and labelled rule). The report (outcome, labels, out-of-fold APGR of the current
and the candidate scorer with 95% intervals, the paired interval of the gain, the threshold) is printed; with
--report it is written as JSON too. When the candidate is better, --out receives the proposed configuration
(validated like any routing configuration); without --out nothing is written. Deploying it is up to you.
--learned: the deployed learned-scorers document, applied to --config as the routers apply it (the route is then
trained against its learned scorer and threshold); --learned-out receives the proposed learned-scorers document,
what the trainer Lambda deploys to its own profile (the other routes' entries kept).

Exit status: 0 trained (whatever the outcome), 2 bad input (one line on stderr saying what): unreadable or
invalid files, a route that cannot be trained (no labelling section; a labelled rule whose range cannot be
calibrated -- the Lambda reports that as not_better), a proposal that does not validate or is over AppConfig's
1 MB hosted limit, an --out or --report that cannot be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from routing_engine.config import ConfigError, apply_learned, parse_learned_scorers, parse_routing_config
from scorer_trainer.training import TrainingInputError, propose_config, propose_learned, train_from_config


class InputError(Exception):
    pass


def read_labels(path: str) -> list[dict]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the labels file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"the labels file {path} is not UTF-8 text") from None
    labels = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}:{number}: not a JSON object ({exc})") from None
        if not isinstance(item, dict):
            raise InputError(f"{path}:{number}: a label must be a JSON object")
        labels.append(item)
    return labels


def parse_now(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now {text!r} is not an ISO date-time (e.g. 2026-12-01T00:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> dict:
    try:
        raw = Path(args.config).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the routing configuration {args.config}: {exc.strerror}") from None
    try:
        config = parse_routing_config(raw)
    except ConfigError as exc:
        raise InputError(f"invalid routing configuration {args.config}: {exc}") from None
    routing = config
    learned_raw = None
    if args.learned:
        try:
            learned_raw = Path(args.learned).read_bytes()
            config = apply_learned(config, parse_learned_scorers(learned_raw)).config
        except OSError as exc:
            raise InputError(f"cannot read the learned scorers {args.learned}: {exc.strerror}") from None
        except ConfigError as exc:
            raise InputError(f"invalid learned-scorers document {args.learned}: {exc}") from None
    labels = [lab for lab in read_labels(args.labels) if lab.get("route", args.route) == args.route]
    now = parse_now(args.now)
    try:
        report = train_from_config(config, args.route, labels, now=now)
    except TrainingInputError as exc:
        raise InputError(str(exc)) from None
    result = report.as_dict()
    if report.outcome == "proposed" and args.learned_out:
        try:
            write(args.learned_out, propose_learned(learned_raw, routing, args.route, report))
        except (ConfigError, ValueError) as exc:
            raise InputError(f"no learned-scorers proposal written: {exc}") from None
        result["learned_file"] = args.learned_out
    if report.outcome == "proposed" and args.out:
        try:
            proposal = propose_config(raw, args.route, report)
        except (ConfigError, ValueError) as exc:  # TrainingInputError, ProposalTooLarge are ValueErrors
            raise InputError(f"no proposal written: {exc}") from None
        write(args.out, proposal)
        candidate = report.candidate
        assert candidate is not None  # a proposed report always has its candidate
        result["proposal"] = {
            "version": candidate["version"],
            "scorer": candidate["scorer"],
            "file": args.out,
        }
    if args.report:
        write(args.report, (json.dumps(result, indent=2, ensure_ascii=False) + "\n").encode())
    return result


def write(path: str, content: bytes) -> None:
    try:
        Path(path).write_bytes(content)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", required=True, help="labels JSONL")
    parser.add_argument("--config", required=True, help="the routing configuration (JSON)")
    parser.add_argument("--route", required=True, help="the labelled route to train")
    parser.add_argument("--out", help="write the proposed configuration here when the candidate is better")
    parser.add_argument("--learned", help="the deployed learned-scorers document (JSON), applied to --config")
    parser.add_argument("--learned-out", help="write the proposed learned-scorers document here when better")
    parser.add_argument("--report", help="write the report (JSON) here")
    parser.add_argument("--now", help="the training time (ISO; default now): it names the scorer version")
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except InputError as exc:
        print(f"train_scorer: {' '.join(str(exc).splitlines())}", file=sys.stderr)  # one line
        return 2
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
