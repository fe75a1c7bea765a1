"""The `learned-scorers` AppConfig profile: what the scorer trainer learned, kept out of the hand-edited routing
document.

A person edits `routing` (models, routes, rules); the trainer writes this profile, one entry per route:
the learned scorer's weights (thousands of numbers) and the complexity threshold calibrated FOR those weights on
the route's labelled rule. The two travel together: a threshold is meaningless under another scorer, so the
engine applies an entry's threshold only with its scorer, and never one without the other.

    {"routes": {"tech_support": {"rule": "hard", "threshold": 0.4123, "scorer": {<ScorerSpec>},
                                 "weak_model": "haiku", "strong_model": "sonnet",
                                 "trained_at": "2026-12-07T22:00:00+00:00", "labels": 2000}}}

`apply_learned(routing, learned)` is the configuration the engine serves: for every entry whose route still
matches (the route exists, is dynamic or shadow, does not opt out with `dynamic.learned: false`, still has the
rule, the rule still has a complexity lower bound, and the labelled model pair is still the one the scorer was
trained for), the route's scorer is the learned one and the rule's lower bound is the learned threshold. An entry
that no longer matches is ignored, with the reason, never an error: the router keeps serving the routing
document as written. Deploying `routing` (a `cdk deploy` of config/routing.json) therefore never drops a learned
scorer, and deploying `learned-scorers` never touches a hand-written rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field, PrivateAttr, model_validator

from routing_engine.config.base import Key, StrictModel
from routing_engine.config.checks import reference_problems
from routing_engine.config.routes import Comparison
from routing_engine.config.routing import RoutingConfig
from routing_engine.config.scorers import ScorerSpec
from routing_engine.scorer import BUNDLED_NAME, Scorer, ScorerError

LEARNED_SUFFIX = "-learned"
_KEY_MAX = 64  # routing_engine.config.KEY_PATTERN
EMPTY_LEARNED = b'{"routes": {}}\n'


def learned_scorer_name(route: str) -> str:
    """The name a route's learned scorer is served (and shown) under: `<route>-learned`."""
    return f"{route[: _KEY_MAX - len(LEARNED_SUFFIX)]}{LEARNED_SUFFIX}"


class LearnedRoute(StrictModel):
    """One route's learned scorer and the threshold calibrated for it."""

    rule: Key = Field(description="The labelled rule whose complexity lower bound `threshold` replaces")
    threshold: float = Field(ge=0, le=1, description="The rule's complexity lower bound (gte) under this scorer")
    scorer: ScorerSpec
    weak_model: Key | None = Field(default=None, description="The labelled pair the scorer was trained for")
    strong_model: Key | None = None
    trained_at: str | None = Field(default=None, max_length=64)
    labels: int | None = Field(default=None, ge=0, description="Labels it was trained on")

    @property
    def version(self) -> str:
        return self.scorer.version


class LearnedScorers(StrictModel):
    """The `learned-scorers` profile (written by the scorer trainer, not by hand)."""

    routes: dict[Key, LearnedRoute] = Field(default_factory=dict, description="Route -> its learned scorer")
    # route -> compiled Scorer, built once when the document is validated (never per request)
    _compiled: dict[str, Scorer] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _scorers_compile(self) -> LearnedScorers:
        problems = []
        compiled = {}
        for route, entry in self.routes.items():
            path = f"routes.{route}.scorer"
            try:
                compiled[route] = Scorer.from_spec(
                    entry.scorer.model_dump(mode="json", exclude_none=True), name=learned_scorer_name(route)
                )
            except ScorerError as exc:
                problems.append(f"{path}.{exc.path}: {exc.reason}" if exc.path else f"{path}: {exc}")
            except (TypeError, ValueError, KeyError) as exc:
                problems.append(f"{path}: not a usable scorer spec ({type(exc).__name__}: {exc})")
        if problems:
            raise ValueError("; ".join(problems))
        self._compiled = compiled
        return self

    def scorer(self, route: str) -> Scorer:
        return self._compiled[route]

    def versions(self) -> dict[str, str]:
        return {route: entry.version for route, entry in sorted(self.routes.items())}


@dataclass(frozen=True)
class Effective:
    """The configuration the engine serves, and what became of each learned entry."""

    config: RoutingConfig
    applied: dict[str, str] = field(default_factory=dict)  # route -> learned scorer version
    ignored: dict[str, str] = field(default_factory=dict)  # route -> why its entry was not applied


def apply_learned(routing: RoutingConfig, learned: LearnedScorers | None) -> Effective:
    """`routing` with each matching learned entry applied (see the module docstring). Never raises for an entry
    that does not fit: it is left out, and `ignored` says why."""
    if learned is None or not learned.routes:
        return Effective(routing)
    config = routing
    applied: dict[str, str] = {}
    ignored: dict[str, str] = {}
    for route in sorted(learned.routes):
        entry = learned.routes[route]
        reason = _mismatch(config, route, entry)
        if reason is not None:
            ignored[route] = reason
            continue
        candidate = _with_entry(config, route, entry, learned.scorer(route))
        problems = list(reference_problems(candidate))
        if problems:
            ignored[route] = "the routing configuration with it does not validate: " + "; ".join(problems)
            continue
        config = candidate
        applied[route] = entry.version
    return Effective(config, applied, ignored)


def _mismatch(config: RoutingConfig, route: str, entry: LearnedRoute) -> str | None:
    r = config.routes.get(route)
    if r is None:
        return f"route '{route}' is not in the routing configuration"
    if r.mode == "static" or r.dynamic is None:
        return f"route '{route}' is {r.mode} without a dynamic policy: it reads no complexity"
    if not r.dynamic.learned:
        return f"routes.{route}.dynamic.learned is false: the route keeps scorer '{r.dynamic.scorer}'"
    rule = next((x for x in r.dynamic.rules if x.id == entry.rule), None)
    if rule is None:
        return f"route '{route}' has no rule '{entry.rule}' any more (the threshold was calibrated for it)"
    cmp = rule.when.get("complexity")
    if cmp is None or (cmp.gte is None and cmp.gt is None):
        return f"rule '{entry.rule}' of route '{route}' has no complexity lower bound (gte/gt) any more"
    if any(v is not None for v in (cmp.lt, cmp.lte, cmp.eq)) or len(rule.when) > 1:
        return f"rule '{entry.rule}' of route '{route}' now tests more than a complexity lower bound"
    labelling = config.labelling_of(route)
    if labelling is not None and entry.weak_model and entry.strong_model:
        now = (labelling.weak_model, labelling.strong_model)
        if now != (entry.weak_model, entry.strong_model):
            return (
                f"route '{route}' now labels {now[0]} vs {now[1]}; the scorer was trained for "
                f"{entry.weak_model} vs {entry.strong_model}"
            )
    return None


def _with_entry(config: RoutingConfig, route: str, entry: LearnedRoute, scorer: Scorer) -> RoutingConfig:
    name = learned_scorer_name(route)
    r = config.routes[route]
    policy = r.dynamic
    assert policy is not None  # _mismatch checked it
    rules = tuple(
        rule.model_copy(
            update={"when": {**rule.when, "complexity": Comparison(gte=entry.threshold)}}  # gte only: see training
        )
        if rule.id == entry.rule
        else rule
        for rule in policy.rules
    )
    new_route = r.model_copy(update={"dynamic": policy.model_copy(update={"rules": rules, "scorer": name})})
    out = config.model_copy(
        update={"routes": {**config.routes, route: new_route}, "scorers": {**config.scorers, name: entry.scorer}}
    )
    # the compiled scorers travel with the copy; the learned one is added under its name ('bundled' stays built in)
    out._scorers = {**config._scorers, name: scorer}
    assert name != BUNDLED_NAME
    return out
