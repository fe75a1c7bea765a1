"""What-if replay: re-decide logged requests under a new routing configuration, with the production engine.

Usage (from the repo root)::

    python -m tools.replay --decisions FILE --config NEW.json [--learned LEARNED.json] [--json]
        [--assume-complexity X] [--repeat N]

FILE is the router's own decision log: JSON lines as the router prints them, a CloudWatch Logs Insights export
(CSV or JSON with an `@message` field, or `aws logs get-query-results` output), or `aws logs filter-log-events` /
`get-log-events` output. Lines that are not request lines (configuration events, EMF documents, other text) are
skipped and counted, and so are dry runs and failed requests whose line carries no features.

Every other request is decided again by `routing_engine.engine.Engine.decide` under NEW.json, from the logged
features only (no prompt text is logged, and none is needed), with the caller's tier under NEW.json, the logged
max_tokens and max_cost_usd, and every model healthy. What the log cannot tell is never invented:
- complexity is scored only for dynamic routes, so a request logged on a static route has none. If NEW.json's
  decision for it depends on complexity, it is counted "not replayable: complexity not logged" on its route,
  unless --assume-complexity X is given (then it is replayed with X, and counted as assumed);
- a turn of a conversation held on one model is decided again on its logged task features (`task_features`),
  as the router decided it; where NEW.json's route opts out of conversation affinity it needs the whole
  conversation's complexity, which was not scored (counted as above);
- risk patterns cannot be re-run without the text: the logged risk ids are reused where NEW.json still has them;
  patterns that are new or changed in NEW.json are not re-evaluated.

--learned LEARNED.json: a learned-scorers document (the `learned-scorers` AppConfig profile, or the trainer's
proposal) applied to NEW.json exactly as the routers apply it (routing_engine.config.apply_learned): each entry that
fits its route replaces the route's scorer and its rule's threshold; one that does not is listed with the reason.

Per logged route it names the scorer versions that decided before (from the log) and the one that decides under
NEW.json (with LEARNED.json), and prints the model mix before and after, the cost before (the logged cost_usd) and after (the
new model's price applied to the logged input and output tokens), the decisions that changed by rule
(old rule -> new rule), and the requests that would now be rejected or find no capable model, with their reason
codes. Costs of requests without logged tokens are estimates (features.estimated_tokens and the output bound) and
are counted as such. --json prints the same as one JSON document. Exit 2 on bad input, with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from routing_engine.config import ConfigError, RoutingConfig, apply_learned, parse_learned_scorers, parse_routing_config
from routing_engine.engine import HEALTHY, Decision, Engine, NoCapableModel, RoutingError
from routing_engine.features import RequestFeatures
from tools._replay_input import InputError, decode_message, read_records

REQUEST_MESSAGES = ("request routed", "request failed")
# Decision.rule when a caller's spent budget (hard: the tier's fallback model) or soft threshold (the cheapest
# capable model) chose the model. Spend is not in the log, so replay decides those requests without it.
BUDGET_RULES = ("budget", "budget_soft")
NOT_LOGGED = "complexity not logged"
RISK_NOTE = (
    "risk patterns are not re-run (no prompt text is logged): logged risk ids are reused where the new "
    "configuration has them; patterns new or changed in it are not re-evaluated"
)
HEALTH_NOTE = (
    "every model is assumed healthy and no budget is under pressure: the log's fallbacks, breakers, "
    "latency preferences and budget decisions are not replayed"
)
COST_NOTE = (
    "cost before is the logged cost_usd; cost after prices the logged input and output tokens at the new "
    "model's price (the output length of a different model will differ); without logged tokens both are "
    "estimates from features.estimated_tokens and the output-token bound"
)


class ReplayError(Exception):
    """Bad input the user must fix; the message says what."""


# --- one logged request ------------------------------------------------------------------------------


@dataclass(slots=True)
class Logged:
    route: str
    requested: str | None
    caller: str | None
    tier: str | None
    model: str  # the decided model (a fallback may have answered: that one is `answered`)
    answered: str
    label: str  # the rule, or static/default/direct
    features: RequestFeatures
    risk_dropped: tuple[str, ...]
    max_tokens: int | None
    max_cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    fell_back: bool = False  # a fallback answered: the logged cost is the fallback's
    # A continuing conversation on a route that held it: the task's features its rules read (`task_features`)
    task: RequestFeatures | None = None
    cache_read_tokens: int = 0  # prompt-cache tokens (not in input_tokens), priced at each model's cache prices
    cache_write_tokens: int = 0


def _label(rule: str | None, mode: str | None) -> str:
    if rule:
        return rule
    return {"dynamic": "default", "direct": "direct"}.get(mode or "", "static")


def _number(value, kind):
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return kind(value)


def parse_logged(line: dict, risk_ids: frozenset[str]) -> Logged:
    """The replay's view of one request line; ValueError/KeyError/TypeError when it is malformed."""
    risk = tuple(str(r) for r in line["features"].get("risk") or ())
    features = _logged_features(line["features"], line, risk_ids)
    task = line.get("task_features")
    answered = str(line["model"])
    return Logged(
        route=str(line["route"]),
        requested=line.get("requested"),
        caller=line.get("caller"),
        tier=line.get("tier"),
        model=str(line.get("chosen") or answered),
        answered=answered,
        label=_label(line.get("rule"), line.get("mode")),
        features=features,
        risk_dropped=tuple(r for r in risk if r not in risk_ids),
        max_tokens=_number(line.get("max_tokens"), int),
        max_cost_usd=_number(line.get("max_cost_usd"), float),
        input_tokens=_number(line.get("input_tokens"), int),
        output_tokens=_number(line.get("output_tokens"), int),
        cost_usd=_number(line.get("cost_usd"), float),
        fell_back=bool(line.get("chosen"))
        and any(isinstance(a, dict) and a.get("outcome") != "ok" for a in line.get("attempts") or ()),
        cache_read_tokens=_number(line.get("cache_read_tokens"), int) or 0,
        cache_write_tokens=_number(line.get("cache_write_tokens"), int) or 0,
        task=_logged_features(task, line, risk_ids) if isinstance(task, dict) else None,
    )


def _logged_features(f: dict, line: dict, risk_ids: frozenset[str]) -> RequestFeatures:
    complexity = f.get("complexity")
    return RequestFeatures(
        estimated_tokens=int(f["estimated_tokens"]),
        message_count=int(f["message_count"]),
        has_images=bool(f["has_images"]),
        has_documents=bool(f["has_documents"]),
        uses_tools=bool(f["uses_tools"]),
        risk=tuple(str(r) for r in f.get("risk") or () if r in risk_ids),
        complexity=None if complexity is None else float(complexity),
        risk_scan_partial=bool(f.get("risk_scan_partial", False)),
        # the weights that scored the logged complexity (the log line names their version, not the scorer)
        scorer_version=str(line["scorer_version"]) if complexity is not None and line.get("scorer_version") else None,
    )


# --- per-route tallies ---------------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    replayed: int = 0
    assumed_complexity: int = 0
    not_replayable: Counter = field(default_factory=Counter)
    tier_changed: int = 0
    before: Counter = field(default_factory=Counter)
    after: Counter = field(default_factory=Counter)
    cost_before: float = 0.0
    cost_after: float = 0.0
    estimated_before: int = 0
    estimated_after: int = 0
    unpriced_before: int = 0
    fallback_before: int = 0
    budget_before: int = 0
    changed: int = 0
    changed_model: int = 0
    transitions: dict = field(default_factory=dict)  # "old -> new" -> Counter of "model -> model"
    rerouted: Counter = field(default_factory=Counter)
    rejected: dict = field(default_factory=dict)  # code -> {"kind", "count", "reasons": Counter}
    no_capable: Counter = field(default_factory=Counter)  # reason code -> requests
    no_capable_count: int = 0
    risk_dropped: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    # logged scorer version -> replayed requests whose logged complexity another scorer than the new route's made
    other_scorer: Counter = field(default_factory=Counter)
    scorers_before: Counter = field(default_factory=Counter)  # logged scorer version -> replayed requests
    scorer_after: str | None = None  # the version of the new configuration's scorer of this route

    def add(self, other: Tally) -> None:
        for name in (
            "requests",
            "replayed",
            "assumed_complexity",
            "tier_changed",
            "cost_before",
            "cost_after",
            "estimated_before",
            "estimated_after",
            "unpriced_before",
            "fallback_before",
            "budget_before",
            "changed",
            "changed_model",
            "no_capable_count",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in (
            "not_replayable",
            "before",
            "after",
            "rerouted",
            "no_capable",
            "risk_dropped",
            "errors",
            "other_scorer",
            "scorers_before",
        ):
            getattr(self, name).update(getattr(other, name))
        for key, models in other.transitions.items():
            self.transitions.setdefault(key, Counter()).update(models)
        for code, entry in other.rejected.items():
            mine = self.rejected.setdefault(code, {"kind": entry["kind"], "count": 0, "reasons": Counter()})
            mine["count"] += entry["count"]
            mine["reasons"].update(entry["reasons"])


def _filtered_code(text: str) -> str:
    """A short code for the engine's reason a model was filtered out."""
    if text.startswith("not allowed for tier"):
        return "tier_not_allowed"
    if text.startswith("context window"):
        return "context_window"
    if text == "does not accept images":
        return "no_image_input"
    if text == "does not accept documents":
        return "no_document_input"
    if text == "does not support tool use":
        return "no_tool_use"
    if "over the ceiling" in text:
        return "over_cost_ceiling"
    return text


# --- the replay ----------------------------------------------------------------------------------------


class Replayer:
    def __init__(self, config: RoutingConfig, *, assume_complexity: float | None = None, version: str = "replay"):
        self.config = config
        self.engine = Engine(
            config, version, prompt_router_arn="arn:aws:bedrock:us-east-1:000000000000:prompt-router/replay"
        )
        self.assume = assume_complexity
        self.risk_ids = frozenset(p.id for p in config.risk_patterns)
        self._probes = {name: _probe_points(route) for name, route in config.routes.items()}
        self.routes: dict[str, Tally] = {}
        self.engine_calls = 0

    # -- cost --

    def _price(self, key: str, input_tokens: int, output_tokens: int, req: Logged | None = None) -> float | None:
        """A model's cost for these tokens, with `req`'s cached tokens at its cache prices (a model without prompt
        caching: at its input price); a prompt router at its dearest member."""
        read, write = (req.cache_read_tokens, req.cache_write_tokens) if req is not None else (0, 0)
        return self.engine.cost_at(key, input_tokens, output_tokens, read, write)

    def _cost_after(self, d: Decision, req: Logged) -> tuple[float, bool]:
        """(cost, estimated?): the logged tokens at the new model's price, like with like."""
        if (
            req.input_tokens is None
            or req.output_tokens is None
            or (req.input_tokens == 0 == req.output_tokens and req.cost_usd is None)
        ):
            return d.estimated_cost_usd or 0.0, True
        if d.is_prompt_router and req.answered in self.config.prompt_routers[d.model].models:
            # the router answered with this member before: assume it again
            return self._price(req.answered, req.input_tokens, req.output_tokens, req) or 0.0, False
        return self._price(d.model, req.input_tokens, req.output_tokens, req) or 0.0, d.is_prompt_router

    def _cost_before(self, req: Logged) -> tuple[float | None, bool]:
        if req.cost_usd is not None:
            return req.cost_usd, False
        spec = self.config.models.get(req.answered)
        if spec is None:
            return None, True
        if req.input_tokens is not None and req.output_tokens is not None and (req.input_tokens or req.output_tokens):
            return self._price(req.answered, req.input_tokens, req.output_tokens, req), True
        route = self.config.routes.get(req.route)
        out = min(self.engine.output_tokens(route, req.max_tokens), spec.max_output_tokens)
        return self._price(req.answered, req.features.estimated_tokens, out), True

    # -- deciding --

    def _decide(self, req: Logged, features: RequestFeatures, tier: str) -> Decision:
        self.engine_calls += 1
        return self.engine.decide(
            req.requested,
            features,
            tier=tier,
            max_cost_usd=req.max_cost_usd,
            max_output_tokens=req.max_tokens,
            health=HEALTHY,
            explain=False,
            # a logged continuation is decided again on its task where the new route holds conversations
            continuation=req.task is not None,
            task=req.task,
        )

    def _depends_on_complexity(self, req: Logged, tier: str) -> bool:
        """Whether the new decision for a request logged without complexity changes with the score. The decision
        reads complexity only through rule thresholds, so it is constant between them: deciding at 0, 1 and on
        both sides of every threshold of the route covers every value the score could have had."""
        try:
            route, direct = self.engine.resolve(req.requested)
        except RoutingError:
            return False
        points = None if direct is not None else self._probes.get(route)
        if not points:
            return False
        seen = set()
        for point in points:
            try:
                d = self._decide(req, _with(req.features, point), tier)
                seen.add((d.route, d.model, d.rule))
            except RoutingError as exc:
                seen.add((type(exc).__name__, exc.code, None))
            if len(seen) > 1:
                return True
        return False

    def replay(self, req: Logged) -> None:
        tally = self.routes.get(req.route)
        if tally is None:
            tally = self.routes[req.route] = Tally()
        tally.requests += 1
        tally.risk_dropped.update(req.risk_dropped)
        tier = self.engine.tier_of(req.caller)
        features = req.features
        if features.complexity is None and self._depends_on_complexity(req, tier):
            if self.assume is None:
                tally.not_replayable[NOT_LOGGED] += 1
                return
            features = _with(features, self.assume)
            tally.assumed_complexity += 1
        tally.replayed += 1
        self._note_scorer(tally, req)
        if req.tier is not None and req.tier != tier:
            tally.tier_changed += 1
        tally.before[req.model] += 1
        tally.fallback_before += req.fell_back
        tally.budget_before += req.label in BUDGET_RULES
        before, before_estimated = self._cost_before(req)
        if before is None:
            tally.unpriced_before += 1
        else:
            tally.cost_before += before
            tally.estimated_before += before_estimated
        try:
            d = self._decide(req, features, tier)
        except NoCapableModel as exc:
            tally.no_capable_count += 1
            tally.after["(no capable model)"] += 1
            codes = {_filtered_code(str(v)) for v in (exc.details.get("filtered") or {}).values()}
            tally.no_capable.update(codes or {"no_candidates"})
            self._transition(tally, req, "(no capable model)", "(no capable model)")
            return
        except RoutingError as exc:
            entry = tally.rejected.setdefault(exc.code, {"kind": type(exc).__name__, "count": 0, "reasons": Counter()})
            entry["count"] += 1
            entry["reasons"][_rejection_reason(exc, req)] += 1
            tally.after["(rejected)"] += 1
            self._transition(tally, req, "(rejected)", "(rejected)")
            return
        except Exception as exc:  # noqa: BLE001 - one odd line must not end the replay; it is counted and shown
            tally.errors[f"{type(exc).__name__}: {exc}"] += 1
            return
        tally.after[d.model] += 1
        if d.route != req.route:
            tally.rerouted[d.route] += 1
        cost, estimated = self._cost_after(d, req)
        tally.cost_after += cost
        tally.estimated_after += estimated
        self._transition(tally, req, _label(d.rule, d.mode), d.model)

    def _note_scorer(self, tally: Tally, req: Logged) -> None:
        """Count a logged complexity scored by other weights than the new configuration's route uses: the
        replay keeps the logged score, which the new scorer would not necessarily give."""
        logged = req.features.scorer_version
        try:
            route, direct = self.engine.resolve(req.requested)
        except RoutingError:
            return
        scorer = self.engine.scorer_for(route) if direct is None else None
        if scorer is not None:
            tally.scorer_after = scorer.version
        if logged is None:
            return
        tally.scorers_before[logged] += 1
        if scorer is not None and scorer.version != logged:
            tally.other_scorer[logged] += 1

    @staticmethod
    def _transition(tally: Tally, req: Logged, new_label: str, new_model: str) -> None:
        if new_label == req.label and new_model == req.model:
            return
        tally.changed += 1
        if new_model != req.model:
            tally.changed_model += 1
        tally.transitions.setdefault(f"{req.label} -> {new_label}", Counter())[f"{req.model} -> {new_model}"] += 1


def _with(features: RequestFeatures, complexity: float) -> RequestFeatures:
    return replace(features, complexity=complexity)


def _probe_points(route) -> tuple[float, ...]:
    """Complexity values on every side of the route's thresholds (none: the route never reads complexity)."""
    if route.mode == "static" or route.dynamic is None:
        return ()
    thresholds = set()
    for rule in route.dynamic.rules:
        cmp = rule.when.get("complexity")
        if cmp is None:
            continue
        for value in (cmp.gt, cmp.gte, cmp.lt, cmp.lte, cmp.eq):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                thresholds.add(float(value))
    if not thresholds:
        return ()
    points = {0.0, 1.0}
    for t in thresholds:
        points.update(p for p in (math.nextafter(t, -math.inf), t, math.nextafter(t, math.inf)) if 0.0 <= p <= 1.0)
    return tuple(sorted(points))


def _rejection_reason(exc: RoutingError, req: Logged) -> str:
    if exc.details.get("risk"):
        return f"risk pattern {exc.details['risk']}"
    if exc.code == "model_not_found":
        return f"unknown name {req.requested!r}"
    return exc.code


# --- the run --------------------------------------------------------------------------------------------


@dataclass
class Skipped:
    not_json: int = 0
    not_request: Counter = field(default_factory=Counter)  # message (or "EMF metrics document") -> lines
    dry_run: int = 0
    no_features: Counter = field(default_factory=Counter)  # error_code -> failed lines that logged no features
    malformed: int = 0


def run(
    decisions: str,
    config_path: str,
    *,
    assume_complexity: float | None = None,
    repeat: int = 1,
    learned_path: str | None = None,
) -> dict:
    try:
        raw = Path(config_path).read_bytes()
    except OSError as exc:
        raise ReplayError(f"cannot read the configuration {config_path}: {exc.strerror or exc}") from None
    try:
        config = parse_routing_config(raw)
    except (ConfigError, ValueError) as exc:
        raise ConfigError(f"invalid routing configuration {config_path}: {exc}") from None
    learned_info = None
    if learned_path is not None:
        try:
            learned_raw = Path(learned_path).read_bytes()
        except OSError as exc:
            raise ReplayError(f"cannot read the learned scorers {learned_path}: {exc.strerror or exc}") from None
        try:
            learned = parse_learned_scorers(learned_raw)
        except ConfigError as exc:
            raise ConfigError(f"invalid learned-scorers document {learned_path}: {exc}") from None
        effective = apply_learned(config, learned)
        config = effective.config
        learned_info = {"file": learned_path, "applied": effective.applied, "ignored": effective.ignored}
    try:
        shape, record_iter = read_records(decisions)
        records = list(record_iter)
    except InputError as exc:
        raise ReplayError(str(exc)) from None
    replayer = Replayer(config, assume_complexity=assume_complexity, version=config.version or "replay")
    skipped = Skipped()
    lines = request_lines = 0
    started = time.perf_counter()
    for _ in range(repeat):
        for record in records:
            if isinstance(record, str) and not record.strip():
                continue  # blank lines are nothing at all
            lines += 1
            line = decode_message(record)
            if line is None:
                skipped.not_json += 1
                continue
            message = line.get("message")
            if message not in REQUEST_MESSAGES:
                skipped.not_request["EMF metrics document" if message is None and "_aws" in line else str(message)] += 1
                continue
            request_lines += 1
            if line.get("dry_run"):
                skipped.dry_run += 1
                continue
            if not isinstance(line.get("features"), dict) or "route" not in line:
                skipped.no_features[str(line.get("error_code") or "no error code")] += 1
                continue
            try:
                req = parse_logged(line, replayer.risk_ids)
            except (KeyError, TypeError, ValueError):
                skipped.malformed += 1
                continue
            replayer.replay(req)
    seconds = time.perf_counter() - started
    replayed_lines = sum(t.requests for t in replayer.routes.values())
    if not replayed_lines:
        raise ReplayError(_nothing_to_replay(decisions, shape, lines, request_lines, skipped))
    out = report(decisions, shape, config_path, config, replayer, skipped, lines, request_lines, seconds, repeat)
    if learned_info is not None:
        out["config"]["learned"] = learned_info
    return out


def _nothing_to_replay(path: str, shape: str, lines: int, request_lines: int, skipped: Skipped) -> str:
    if not request_lines:
        return (
            f"no request lines in {path} ({shape}, {lines} lines read): replay needs the router's "
            "'request routed' / 'request failed' lines with their features; see the Logs Insights query in "
            "the README"
        )
    return (
        f"nothing to replay in {path}: {request_lines} request lines, of which {skipped.dry_run} dry runs, "
        f"{sum(skipped.no_features.values())} failed before a decision was logged (no features) and "
        f"{skipped.malformed} malformed"
    )


def _mix(counts: Counter, total: int) -> dict:
    return {
        k: {"count": n, "share": round(n / total, 4) if total else 0.0}
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    }


def _tally_json(t: Tally) -> dict:
    out: dict = {
        "requests": t.requests,
        "replayed": t.replayed,
        "not_replayable": dict(t.not_replayable),
        "assumed_complexity": t.assumed_complexity,
        "before": {
            "models": _mix(t.before, t.replayed),
            "cost_usd": round(t.cost_before, 6),
            "cost_estimated": t.estimated_before,
            "cost_unpriced": t.unpriced_before,
            "answered_by_fallback": t.fallback_before,
            "decided_by_budget": t.budget_before,
        },
        "after": {
            "models": _mix(t.after, t.replayed),
            "cost_usd": round(t.cost_after, 6),
            "cost_estimated": t.estimated_after,
        },
        "cost_change_usd": round(t.cost_after - t.cost_before, 6),
        "not_served_after": t.no_capable_count + sum(e["count"] for e in t.rejected.values()),
        "changed": t.changed,
        "changed_model": t.changed_model,
        "changed_by_rule": {
            k: {"count": sum(v.values()), "models": dict(v.most_common())}
            for k, v in sorted(t.transitions.items(), key=lambda kv: -sum(kv[1].values()))
        },
        "rejected": {
            code: {"kind": e["kind"], "count": e["count"], "reasons": dict(e["reasons"].most_common())}
            for code, e in sorted(t.rejected.items())
        },
        "no_capable_model": {"count": t.no_capable_count, "reasons": dict(t.no_capable.most_common())},
    }
    if t.tier_changed:
        out["tier_changed"] = t.tier_changed
    if t.rerouted:
        out["now_on_route"] = dict(t.rerouted.most_common())
    if t.risk_dropped:
        out["risk_ids_not_in_new_config"] = dict(t.risk_dropped.most_common())
    if t.errors:
        out["errors"] = dict(t.errors.most_common())
    if t.other_scorer:
        out["complexity_from_other_scorer"] = dict(t.other_scorer.most_common())
    if t.scorers_before or t.scorer_after:
        out["scorer"] = {"before": dict(t.scorers_before.most_common()), "after": t.scorer_after}
    return out


def report(
    decisions, shape, config_path, config, replayer: Replayer, skipped: Skipped, lines, request_lines, seconds, repeat
) -> dict:
    total = Tally()
    for t in replayer.routes.values():
        total.add(t)
    replayed_lines = total.requests
    complexity = (
        f"not logged on static routes: a decision that depends on it is not replayable "
        f"({sum(total.not_replayable.values())}); pass --assume-complexity X to replay those with X"
        if replayer.assume is None
        else f"assumed {replayer.assume} where not logged and needed ({total.assumed_complexity} decisions)"
    )
    return {
        "input": {
            "file": decisions,
            "format": shape,
            "lines": lines,
            "request_lines": request_lines,
            "replayed": replayed_lines,
            "repeat": repeat,
            "skipped": {
                "not_json": skipped.not_json,
                "not_request": dict(skipped.not_request.most_common()),
                "dry_run": skipped.dry_run,
                "failed_without_features": dict(skipped.no_features.most_common()),
                "malformed": skipped.malformed,
            },
        },
        "config": {"file": config_path, "version": config.version},
        "notes": {"complexity": complexity, "risk": RISK_NOTE, "health": HEALTH_NOTE, "cost": COST_NOTE},
        "routes": {name: _tally_json(t) for name, t in sorted(replayer.routes.items())},
        "total": _tally_json(total),
        "speed": {
            "lines": lines,
            "decisions": replayed_lines,
            "engine_calls": replayer.engine_calls,
            "seconds": round(seconds, 4),
            "decisions_per_s": round(replayed_lines / seconds) if seconds > 0 else None,
        },
    }


# --- the human-readable table ------------------------------------------------------------------------


def _usd(value: float) -> str:
    return f"${value:,.6f}"


def _change(before: float, after: float) -> str:
    if before == 0:
        return ""
    return f" ({(after - before) / before:+.1%})"


def render(out: dict) -> str:
    inp, cfg = out["input"], out["config"]
    sk = inp["skipped"]
    rows = [
        f"Replay of {inp['replayed']} requests from {inp['file']} ({inp['format']}, {inp['lines']} lines"
        + (f", x{inp['repeat']}" if inp["repeat"] > 1 else "")
        + f") under {cfg['file']}"
        + (f" (version {cfg['version']})" if cfg["version"] else "")
    ]
    learned = cfg.get("learned")
    if learned is not None:
        applied = ", ".join(f"{r} {v}" for r, v in learned["applied"].items()) or "none"
        rows.append(f"Learned scorers from {learned['file']}: applied {applied}")
        rows += [f"  ignored {r}: {why}" for r, why in learned["ignored"].items()]
    parts = []
    if sk["not_request"] or sk["not_json"]:
        what = ", ".join(f"{k} {n}" for k, n in sk["not_request"].items())
        if sk["not_json"]:
            what = ", ".join(filter(None, [what, f"not JSON {sk['not_json']}"]))
        parts.append(f"{sum(sk['not_request'].values()) + sk['not_json']} not request lines ({what})")
    if sk["dry_run"]:
        parts.append(f"dry runs {sk['dry_run']}")
    if sk["failed_without_features"]:
        codes = ", ".join(f"{k} {n}" for k, n in sk["failed_without_features"].items())
        parts.append(
            f"{sum(sk['failed_without_features'].values())} failed before a decision was logged (no features: {codes})"
        )
    if sk["malformed"]:
        parts.append(f"malformed request lines {sk['malformed']}")
    if parts:
        rows.append("Skipped: " + "; ".join(parts))
    notes = out["notes"]
    rows += [
        f"Complexity: {notes['complexity']}",
        f"Risk: {notes['risk']}",
        f"Health: {notes['health']}",
        f"Cost: {notes['cost']}",
    ]
    for name, t in [*out["routes"].items(), ("TOTAL", out["total"])]:
        rows.append("")
        rows += _render_tally(name, t)
    speed = out["speed"]
    rows += [
        "",
        f"{speed['decisions']} decisions in {speed['seconds']:.3f} s ({speed['decisions_per_s']:,}/s, "
        f"{speed['engine_calls']} engine calls)",
    ]
    return "\n".join(rows)


def _render_tally(name: str, t: dict) -> list[str]:
    head = f"route {name}" if name != "TOTAL" else "TOTAL"
    head += f": {t['requests']} requests, {t['replayed']} replayed"
    if t["not_replayable"]:
        head += ", not replayable: " + ", ".join(f"{k} {n}" for k, n in t["not_replayable"].items())
    if t["assumed_complexity"]:
        head += f", complexity assumed for {t['assumed_complexity']}"
    rows = [head]
    before, after = t["before"]["models"], t["after"]["models"]
    models = list(dict.fromkeys([*before, *after]))
    if models:
        width = max(20, *(len(m) + 2 for m in models))
        rows.append(f"  {'model':<{width}}{'before':>16}{'after':>16}")
        for m in models:
            b, a = before.get(m, {"count": 0, "share": 0.0}), after.get(m, {"count": 0, "share": 0.0})
            rows.append(f"  {m:<{width}}{b['count']:>7} {b['share']:>7.1%}{a['count']:>7} {a['share']:>7.1%}")
        cb, ca = t["before"]["cost_usd"], t["after"]["cost_usd"]
        est = []
        if t["before"]["cost_estimated"]:
            est.append(f"estimated {t['before']['cost_estimated']} before")
        if t["after"]["cost_estimated"]:
            est.append(f"estimated {t['after']['cost_estimated']} after")
        if t["not_served_after"]:
            est.append(f"{t['not_served_after']} not served after: no cost")
        rows.append(
            f"  {'cost':<{width}}{_usd(cb):>16}{_usd(ca):>16}{_change(cb, ca)}"
            + (f"  [{'; '.join(est)}]" if est else "")
            + (f"  [{t['before']['cost_unpriced']} unpriced before]" if t["before"]["cost_unpriced"] else "")
        )
        if t["before"]["answered_by_fallback"]:
            rows.append(
                f"  {t['before']['answered_by_fallback']} answered by a fallback before: their cost before "
                "is the fallback's, their cost after the chosen model's"
            )
    if t["before"]["decided_by_budget"]:
        rows.append(
            f"  {t['before']['decided_by_budget']} decided by a budget before (spend is not logged: replayed "
            "without budget pressure)"
        )
    if t.get("tier_changed"):
        rows.append(f"  tier changed under the new callers/tiers: {t['tier_changed']}")
    if t.get("now_on_route"):
        rows.append("  now on another route: " + ", ".join(f"{k} {n}" for k, n in t["now_on_route"].items()))
    rows.append(f"  changed: {t['changed']} decisions ({t['changed_model']} to another model)")
    for rule, entry in t["changed_by_rule"].items():
        rows.append(f"    {rule:<40}{entry['count']:>6}   " + ", ".join(f"{k} {n}" for k, n in entry["models"].items()))
    for code, entry in t["rejected"].items():
        rows.append(
            f"  rejected now: {entry['kind']} {code} {entry['count']} ("
            + ", ".join(f"{k} {n}" for k, n in entry["reasons"].items())
            + ")"
        )
    if t["no_capable_model"]["count"]:
        rows.append(
            f"  no capable model now: {t['no_capable_model']['count']} ("
            + ", ".join(f"{k} {n}" for k, n in t["no_capable_model"]["reasons"].items())
            + ")"
        )
    if t.get("risk_ids_not_in_new_config"):
        rows.append(
            "  logged risk ids the new config does not have (ignored): "
            + ", ".join(f"{k} {n}" for k, n in t["risk_ids_not_in_new_config"].items())
        )
    if t.get("errors"):
        rows.append("  errors: " + ", ".join(f"{k} ({n})" for k, n in t["errors"].items()))
    scorer = t.get("scorer")
    if scorer is not None:
        before = ", ".join(f"{k} {n}" for k, n in scorer["before"].items()) or "none logged"
        rows.append(f"  scorer before: {before}" + (f"; after: {scorer['after']}" if scorer["after"] else ""))
    if t.get("complexity_from_other_scorer"):
        rows.append(
            "  logged complexity scored by other weights than the new route's scorer (replayed with the "
            "logged score): " + ", ".join(f"{k} {n}" for k, n in t["complexity_from_other_scorer"].items())
        )
    return rows


def _complexity_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number in [0, 1], not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a number in [0, 1], not {text}")
    return value


def _repeat_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number >= 1, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number >= 1, not {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.replay", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", required=True, help="the router's decision log (JSON lines or an export)")
    parser.add_argument("--config", required=True, help="the routing configuration to replay under")
    parser.add_argument(
        "--learned",
        default=None,
        metavar="LEARNED.json",
        help="a learned-scorers document applied to --config as the routers apply it",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    parser.add_argument(
        "--assume-complexity",
        type=_complexity_arg,
        default=None,
        metavar="X",
        help="replay requests logged without a complexity score (static routes) with score X, "
        "instead of counting them as not replayable",
    )
    parser.add_argument(
        "--repeat",
        type=_repeat_arg,
        default=1,
        metavar="N",
        help="replay the file's lines N times (to measure speed on a large volume)",
    )
    args = parser.parse_args(argv)
    try:
        out = run(
            args.decisions,
            args.config,
            assume_complexity=args.assume_complexity,
            repeat=args.repeat,
            learned_path=args.learned,
        )
    except ConfigError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    except ReplayError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(out, indent=2) if args.json else render(out))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted; no second error when Python flushes at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
