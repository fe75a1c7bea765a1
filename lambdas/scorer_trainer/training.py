"""Train a route's scorer on its judged labels, and turn a better one into a proposed routing configuration.

Pure code (no AWS imports): the scheduled trainer Lambda (handler.py) and the offline command
(`python -m tools.train_scorer`) run exactly this.

How one route is trained (`train_route`):
0. The labelled rule's only condition is a complexity lower bound (gte/gt): routing_engine.config refuses any
   other labelled rule, since its strong-call share would not be set by the threshold alone.
1. Usable labels: a feature vector of this code's feature set, a target in [0, 1], and the CONFIGURED (weak,
   strong) model pair (`labelling.weak_model` / `strong_model`, defaults resolved by config.labelling_of):
   labels judged for another pair answer another question, and are counted `other_pair`. Fewer than
   `labelling.min_labels` usable labels: outcome `too_few`, nothing is fitted.
2. Learn and gate (`routing_engine.label_learning.learn`): the newest `MAX_LABELS` usable labels in 4 folds by a
   hash of their stored features (deterministic; a prompt judged twice is one prompt in one fold); an idf-weighted
   logistic fit of the dense and hashed features (the serving scorer's score is not a feature: it cost quality on
   judged chat labels), its regularisation chosen by cross-validation; every label scored out of fold; the
   candidate refitted on all labels.
3. Threshold: the labelled rule's complexity threshold is calibrated on the labels so the candidate sends
   `labelling.target_strong_share` of them to the strong model (with `target_quality`: the fewest strong calls that
   recover that fraction of the judged quality gap), or, when neither is set, the share the current threshold gives
   with the current scorer on the same labels (a new scorer must not quietly change the route's cost).
4. Proposed when the gate's paired per-prompt comparison with the serving scorer, out of fold on every label, has
   a one-sided 97.5% lower confidence bound of the gain in judged quality above 0, its standard error widened for
   cross-fitting (label_learning, step 4; a candidate no better than the serving scorer is rarely proposed:
   measured in the README). The report also carries both scorers' APGR on the labels
   (the candidate's out of fold) with bootstrap intervals, for a reviewer.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from routing_engine import label_learning, learning
from routing_engine.config import (
    ConfigError,
    RoutingConfig,
    apply_learned,
    learned_scorer_name,
    parse_learned_scorers,
    parse_routing_config,
)
from routing_engine.scorer import FeatureVector, Scorer, ScorerError

HOLDOUT_SHARE = 0.25  # in_holdout's default share (kept for callers that split by request id)
# At most this many labels (the newest) per run, for a bounded run time: a Lambda stops at 15 minutes, and 10,000
# labels took 25 minutes on this shared machine (benchmarks/trainer_time.py; 2,000 labels: 1.2-7 minutes).
MAX_LABELS = 5_000
REPORT_RESAMPLES = 300
# AWS::AppConfig::HostedConfigurationVersion: "configurations must be 1 MB or smaller" (Content); a proposal over
# it would be refused by CreateHostedConfigurationVersion, so propose_config refuses it first and says why.
APPCONFIG_HOSTED_MAX_BYTES = 1_048_576
OUTCOMES = ("proposed", "deployed", "not_better", "too_few", "failed")  # the metric's Outcome values


class TrainingInputError(ValueError):
    """The route cannot be trained as configured (no such route, no labelling); the message says why."""


class ProposalTooLarge(ValueError):
    """The proposed configuration is over AppConfig's hosted limit (APPCONFIG_HOSTED_MAX_BYTES)."""


@dataclass(frozen=True, slots=True)
class RouteTraining:
    """What the deployed configuration says about training one route."""

    route: str
    labelling: Any  # routing_engine.config.Labelling, defaults filled in (config.labelling_of)
    scorer: Scorer  # the scorer the route uses today
    rule: str  # the labelled rule's id
    threshold: float  # its complexity lower bound today (the tighter one, if the rule has both gt and gte)
    inclusive: bool  # gte (True) or gt (False)


def route_training(config: RoutingConfig, route: str) -> RouteTraining:
    """The route's labelling, current scorer and labelled rule threshold; TrainingInputError if it has none."""
    if route not in config.routes:
        raise TrainingInputError(
            f"no route '{route}' in the routing configuration (routes: {', '.join(sorted(config.routes))})"
        )
    labelling = config.labelling_of(route)
    if labelling is None:
        raise TrainingInputError(f"route '{route}' has no labelling section: there is nothing to train")
    policy = config.routes[route].dynamic
    rule = next((r for r in policy.rules if r.id == labelling.rule), None) if policy is not None else None
    cmp = rule.when.get("complexity") if rule is not None else None
    if policy is None or rule is None or cmp is None or (cmp.gte is None and cmp.gt is None):
        # validation refuses such a configuration; say so rather than crash
        raise TrainingInputError(f"route '{route}': rule '{labelling.rule}' has no complexity gte/gt threshold")
    # The bound the engine applies: both gt and gte must hold, so the larger one is the threshold (a gt beside
    # a gte is what proposals before the gt fix wrote; the next proposal removes both and writes one gte).
    floor, inclusive = (
        (cmp.gte, True) if cmp.gte is not None and (cmp.gt is None or cmp.gte > cmp.gt) else (cmp.gt, False)
    )
    return RouteTraining(route, labelling, config.scorer(policy.scorer), rule.id, float(floor or 0.0), inclusive)


@dataclass(frozen=True, slots=True)
class TrainingReport:
    route: str
    outcome: str  # one of OUTCOMES
    reason: str
    trained_at: str
    labels: dict  # {"total", "usable", "train", "out_of_fold", "folds", "skipped": {...}, "fit": {...}}
    current: dict | None = None  # {"scorer", "version", "apgr", "ci"}
    candidate: dict | None = None  # {"version", "apgr", "ci"}
    difference: dict | None = None  # {"apgr", "ci"} candidate - current, paired
    threshold: dict | None = None  # {"rule", "old", "new", "op"}: op is today's (a proposal always writes gte)
    strong_share: dict | None = None  # {"target", "train", "current"}
    proposal: dict | None = None  # {"version", "scorer", "hosted_version", "deployment"} once proposed
    candidate_scorer: Scorer | None = field(default=None, compare=False)  # not in as_dict: it goes in the config

    @property
    def candidate_version(self) -> str:
        return self.candidate_scorer.version if self.candidate_scorer is not None else ""

    @property
    def candidate_name(self) -> str:
        return self.candidate_scorer.name if self.candidate_scorer is not None else ""

    def with_outcome(self, outcome: str, *, reason: str | None = None, proposal: dict | None = None) -> TrainingReport:
        return replace(
            self,
            outcome=outcome,
            reason=self.reason if reason is None else reason,
            proposal={**(self.proposal or {}), **(proposal or {})} or None,
        )

    def as_dict(self) -> dict:
        """JSON-able; what the report item and `--report` hold (no weights, no text)."""
        out = {
            "route": self.route,
            "outcome": self.outcome,
            "reason": self.reason,
            "trained_at": self.trained_at,
            "labels": self.labels,
        }
        for name in ("current", "candidate", "difference", "threshold", "strong_share", "proposal"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def summary(self) -> str:
        """One line for a person (and for the hosted version's description)."""
        parts = [
            f"route {self.route}: {self.outcome}",
            f"labels {self.labels.get('train', 0)} (every one judged out of fold, {self.labels.get('folds', 0)} folds)",
        ]
        if self.current and self.candidate and self.difference:
            parts.append(
                f"out-of-fold APGR {_fmt(self.current['apgr'])} {_fmt_ci(self.current['ci'])} -> "
                f"{_fmt(self.candidate['apgr'])} {_fmt_ci(self.candidate['ci'])}, gain "
                f"{_fmt(self.difference['apgr'])} {_fmt_ci(self.difference['ci'])}"
            )
        if self.threshold and self.threshold.get("new") is not None:
            old_op = "" if self.threshold.get("op", "gte") == "gte" else f"{self.threshold['op']} "
            parts.append(
                f"rule {self.threshold['rule']} threshold {old_op}{self.threshold['old']} -> "
                f"{'gte ' if old_op else ''}{self.threshold['new']}"
            )
        if self.strong_share:
            parts.append(
                f"strong share {_fmt(self.strong_share.get('train'))} (target {_fmt(self.strong_share.get('target'))})"
            )
        parts.append(self.reason)
        return "; ".join(parts)


def in_holdout(request_id: str, share: float = HOLDOUT_SHARE) -> bool:
    """Deterministic split: the first 8 bytes of SHA-256(request id) as a fraction of 2**64."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def scorer_version(route: str, now: datetime, labels: int) -> str:
    return f"{route}-{now.astimezone(UTC):%Y%m%dT%H%M}-n{labels}"


def usable_labels(
    labels: Iterable[Mapping], pair: tuple[Any, Any] | None = None
) -> tuple[list[tuple[Mapping, FeatureVector, float]], dict]:
    """[(label, vector, target)] of the (weak, strong) model `pair` -- the configured one; only when no pair is
    given, the newest label's -- and the counts of what was skipped and why."""
    rows = sorted(labels, key=lambda lab: (str(lab.get("labelled_at", "")), str(lab.get("request_id", ""))))
    skipped: Counter[str] = Counter()
    parsed = []
    for lab in rows:
        target = lab.get("target")
        if (
            not isinstance(target, int | float)
            or isinstance(target, bool)
            or not 0 <= target <= 1
            or not math.isfinite(target)
            or not lab.get("request_id")
        ):
            skipped["invalid"] += 1
            continue
        try:
            vector = FeatureVector.from_json(lab.get("features"))
        except (ScorerError, TypeError, ValueError, KeyError):
            skipped["feature_set"] += 1  # another feature set (or a malformed vector): cannot be scored here
            continue
        parsed.append((lab, vector, float(target)))
    if parsed:
        if pair is None:  # a caller without a labelling section: the newest label's pair
            pair = (parsed[-1][0].get("weak_model"), parsed[-1][0].get("strong_model"))
        kept = [row for row in parsed if (row[0].get("weak_model"), row[0].get("strong_model")) == pair]
        if len(kept) < len(parsed):
            skipped["other_pair"] += len(parsed) - len(kept)
        parsed = kept
    return parsed, dict(skipped)


def train_route(
    route: str,
    labelling,
    current_scorer: Scorer,
    labels: Iterable[Mapping],
    *,
    now: datetime,
    current_threshold: float,
    inclusive: bool = True,
    rule: str | None = None,
    folds: int = label_learning.FOLDS,
) -> TrainingReport:
    """Fit, calibrate and gate (see the module docstring). `labelling`: the route's Labelling with defaults
    filled in; `current_threshold`: the labelled rule's complexity threshold today (gte when `inclusive`)."""
    labels = list(labels)
    weak, strong = getattr(labelling, "weak_model", None), getattr(labelling, "strong_model", None)
    rows, skipped = usable_labels(labels, (weak, strong) if weak and strong else None)
    trained_at = now.astimezone(UTC).isoformat(timespec="seconds")
    rule = rule or labelling.rule
    counts: dict[str, Any] = {"total": len(labels), "usable": len(rows), "skipped": skipped}
    if len(rows) < labelling.min_labels:
        return TrainingReport(
            route,
            "too_few",
            f"{len(rows)} usable labels, {labelling.min_labels} needed",
            trained_at,
            {**counts, "train": 0, "out_of_fold": 0},
        )
    rows = rows[-MAX_LABELS:]  # the newest: a bounded run time, and the traffic as it is now
    counts.update(train=len(rows), out_of_fold=len(rows), folds=folds)
    version = scorer_version(route, now, len(rows))
    meta = {
        "route": route,
        "labels": len(rows),
        "trained_at": trained_at,
        "base": current_scorer.version,
        "trained_on": f"judged labels {rows[0][0].get('labelled_at', '?')} .. {rows[-1][0].get('labelled_at', '?')}",
    }
    vectors = [r[1] for r in rows]
    targets = [r[2] for r in rows]
    try:
        learned = label_learning.learn(
            vectors,
            targets,
            [str(r[0]["request_id"]) for r in rows],
            current=current_scorer,
            version=version,
            meta=meta,
            name=learned_scorer_name(route),
            folds=folds,
        )
    except learning.LearningError as exc:  # e.g. every label a tie: nothing to learn from
        return TrainingReport(route, "not_better", f"no scorer could be fitted: {exc}", trained_at, counts)
    candidate = learned.candidate
    counts["fit"] = {**learned.setting, "seconds": round(learned.seconds, 1)}

    train_current = learned.current
    train_candidate = [candidate.score(v) for v in vectors]
    quality_share = None
    if labelling.target_quality is not None:
        quality_share = share_for_quality(train_candidate, targets, float(labelling.target_quality))
    if quality_share is not None:
        target_share = quality_share
    elif labelling.target_strong_share is not None:
        target_share = float(labelling.target_strong_share)
    else:  # today's share (also when a quality target cannot be met: the labels show no gap to recover)
        target_share = _share(train_current, current_threshold, inclusive)
    new_threshold = _config_threshold(learning.threshold_for_share(train_candidate, target_share))
    share = {
        "target": round(target_share, 4),
        **(
            {"target_quality": labelling.target_quality, "quality_met": quality_share is not None}
            if labelling.target_quality is not None
            else {}
        ),
        "train": round(_share(train_candidate, new_threshold, True), 4),
        "current": round(_share(train_current, current_threshold, inclusive), 4),
    }
    threshold = {"rule": rule, "op": "gte" if inclusive else "gt", "old": current_threshold, "new": new_threshold}

    # Figures for a reviewer: APGR of both scorers on every label, the candidate's from the fold models that did
    # not see it, with bootstrap intervals (the decision is the gate's, below).
    result = learning.compare_scores(learned.current, learned.out_of_fold, targets, resamples=REPORT_RESAMPLES)
    current = {"scorer": current_scorer.name, "version": current_scorer.version, **_metric(result, "current")}
    cand = {"scorer": candidate.name, "version": version, **_metric(result, "candidate")}
    diff = _metric(result, "difference")
    gate = learned.gate
    diff["gate"] = gate
    if gate["proposed"]:
        outcome, reason = (
            "proposed",
            (
                f"the candidate ranks better out of fold: its per-prompt gain {gate['gain']:+.4f} has a one-sided "
                f"97.5% lower bound {gate['ci'][0]:+.4f} above 0 over {gate['n']} labels (z {gate['z']:.2f})"
            ),
        )
    elif gate["gain"] is None:
        outcome, reason = "not_better", "the labels cannot compare the scorers"
    else:
        outcome, reason = (
            "not_better",
            (
                f"the candidate's per-prompt gain {gate['gain']:+.4f} out of fold has a one-sided 97.5% "
                f"lower bound {gate['ci'][0]:+.4f} that is not above 0 ({gate['n']} labels)"
            ),
        )
    return TrainingReport(
        route, outcome, reason, trained_at, counts, current, cand, diff, threshold, share, candidate_scorer=candidate
    )


def train_from_config(config: RoutingConfig, route: str, labels: Iterable[Mapping], *, now: datetime) -> TrainingReport:
    """train_route with the route's labelling, scorer and threshold read from the deployed configuration."""
    inputs = route_training(config, route)
    return train_route(
        route,
        inputs.labelling,
        inputs.scorer,
        labels,
        now=now,
        current_threshold=inputs.threshold,
        inclusive=inputs.inclusive,
        rule=inputs.rule,
    )


def propose_config(config_json: bytes | str, route: str, report: TrainingReport) -> bytes:
    """For offline review tools only (the trainer Lambda writes the learned-scorers profile, propose_learned):
    the routing configuration with the report's candidate scorer in `scorers["<route>-learned"]`, the route's
    `dynamic.scorer` naming it and its labelled rule's complexity threshold replaced; everything else as it was,
    in the same key order, written compactly (no indent: a scorer's weights are thousands of numbers).
    Validated with parse_routing_config before it is returned (ConfigError names the field otherwise);
    ProposalTooLarge (a ValueError) when it is over AppConfig's hosted limit, APPCONFIG_HOSTED_MAX_BYTES."""
    if report.candidate_scorer is None or report.threshold is None or report.threshold.get("new") is None:
        raise TrainingInputError(
            f"route '{route}': the report holds no candidate scorer to propose (outcome {report.outcome})"
        )
    doc = json.loads(config_json)
    try:
        policy = doc["routes"][route]["dynamic"]
        rule = next(r for r in policy.get("rules", []) if r.get("id") == report.threshold["rule"])
        cmp = rule["when"]["complexity"]
    except (KeyError, TypeError, StopIteration, AttributeError):
        raise TrainingInputError(
            f"route '{route}' or its rule '{report.threshold['rule']}' is not in the configuration any more"
        ) from None
    name = learned_scorer_name(route)
    doc.setdefault("scorers", {})[name] = report.candidate_scorer.spec()
    policy["scorer"] = name
    # The new threshold is calibrated as "score >= new" (train_route measures its share with >=), so the rule's
    # bound is written as gte: a gte rule stays gte, a gt rule BECOMES gte with the new value. Both old bounds
    # are removed first: the engine requires every bound, so a stale gt beside the new gte would still cap it.
    cmp.pop("gt", None)
    cmp.pop("gte", None)
    cmp["gte"] = report.threshold["new"]
    raw = _hosted_document(doc, "configuration", "; remove unused scorers from it")
    try:
        parse_routing_config(raw)
    except ConfigError as exc:
        raise ConfigError(f"the proposed configuration does not validate: {exc}") from exc
    return raw


def learned_entry(report: TrainingReport, labelling: Any = None) -> dict:
    """The report's candidate as one route's entry of the `learned-scorers` profile: the scorer and the threshold
    calibrated for it on the labelled rule travel together (routing_engine.config.learned)."""
    if report.candidate_scorer is None or report.threshold is None or report.threshold.get("new") is None:
        raise TrainingInputError(
            f"route '{report.route}': the report holds no candidate scorer to propose (outcome {report.outcome})"
        )
    entry: dict[str, Any] = {
        "rule": report.threshold["rule"],
        "threshold": report.threshold["new"],
        "scorer": report.candidate_scorer.spec(),
    }
    weak, strong = getattr(labelling, "weak_model", None), getattr(labelling, "strong_model", None)
    if weak and strong:
        entry.update(weak_model=weak, strong_model=strong)
    entry.update(trained_at=report.trained_at, labels=int(report.labels.get("train", 0)))
    return entry


def propose_learned(
    learned_json: bytes | str | None, config: RoutingConfig, route: str, report: TrainingReport
) -> bytes:
    """The `learned-scorers` document with the report's candidate as route `route`'s entry (the other routes'
    entries as they were), written compactly. Validated, and checked to APPLY to the routing configuration
    `config` (an entry the router would ignore is refused here, with the router's reason: ConfigError);
    ProposalTooLarge when it is over AppConfig's hosted limit. The routing document is not touched."""
    doc = json.loads(learned_json) if learned_json else {}
    if not isinstance(doc, dict):
        raise ConfigError("the deployed learned-scorers document is not a JSON object")
    routes = doc.setdefault("routes", {})
    routes[route] = learned_entry(report, config.labelling_of(route))
    raw = _hosted_document(doc, "learned-scorers document")
    try:
        learned = parse_learned_scorers(raw)
    except ConfigError as exc:
        raise ConfigError(f"the proposed learned-scorers document does not validate: {exc}") from exc
    effective = apply_learned(config, learned)
    if route in effective.ignored:
        raise ConfigError(f"the router would ignore the proposed scorer: {effective.ignored[route]}")
    return raw


# --- helpers -------------------------------------------------------------------------------------


def _hosted_document(doc: dict, what: str, hint: str = "") -> bytes:
    """`doc` written compactly (a scorer's weights are thousands of numbers); ProposalTooLarge when it is over
    AppConfig's hosted limit, APPCONFIG_HOSTED_MAX_BYTES."""
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    if len(raw) > APPCONFIG_HOSTED_MAX_BYTES:
        raise ProposalTooLarge(
            f"the proposed {what} is {len(raw):,} bytes, over AppConfig's hosted limit "
            f"of {APPCONFIG_HOSTED_MAX_BYTES:,} bytes{hint}"
        )
    return raw


def share_for_quality(scores: Sequence[float], targets: Sequence[float], quality: float) -> float | None:
    """The smallest strong-call share (sending the highest scores first) whose judged quality recovers
    `quality` of the gap between the two models (PGR) on these labels; None when the labels show no gap (the
    strong model is not better on average), so there is nothing to recover. A label with target t is a
    (weak 1 - t, strong t) outcome: sending it to the strong model gains 2t - 1."""
    gains = [2.0 * t - 1.0 for t in targets]
    total = sum(gains)
    if not scores or total <= 1e-12:
        return None
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    got, k = 0.0, 0
    while k < len(order):
        v = scores[order[k]]
        while k < len(order) and scores[order[k]] == v:  # ties go together: a threshold cannot split them
            got += gains[order[k]]
            k += 1
        if got >= quality * total - 1e-12:
            return k / len(scores)
    return 1.0


def _share(scores: Sequence[float], threshold: float, inclusive: bool) -> float:
    if not scores:
        return 0.0
    hits = sum(1 for s in scores if (s >= threshold if inclusive else s > threshold))
    return hits / len(scores)


def _config_threshold(value: float) -> float:
    """Rounded DOWN to 4 places (a request scored exactly at the calibrated threshold stays above it), within
    [0, 1] as the configuration requires."""
    return min(1.0, max(0.0, math.floor(value * 10_000) / 10_000))


def _metric(result: Mapping, name: str) -> dict:
    """{"apgr", "ci"} for one entry of learning.compare's result."""
    entry = result.get(name) or {}
    apgr = entry.get("apgr")
    ci = entry.get("ci")
    out: dict[str, Any] = {
        "apgr": None if apgr is None or not math.isfinite(apgr) else round(float(apgr), 4),
        "ci": None,
    }
    if ci is not None and all(x is not None and math.isfinite(x) for x in ci):
        out["ci"] = [round(float(ci[0]), 4), round(float(ci[1]), 4)]
    return out


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _fmt_ci(ci) -> str:
    return "" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
