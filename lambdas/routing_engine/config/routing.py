"""The `routing` AppConfig profile as one model: the catalog, routes, tiers and the rest, every cross-reference
checked (routing_engine.config.checks) and every scorer compiled when a document is validated."""

from __future__ import annotations

from pydantic import Field, PrivateAttr, model_validator

from routing_engine.config.base import Key, StrictModel
from routing_engine.config.catalog import ModelSpec, PromptRouterSpec
from routing_engine.config.checks import reference_problems, scorer_problems
from routing_engine.config.limits import Budget, Limits, Resilience, Tier
from routing_engine.config.routes import Labelling, RiskPattern, Route, labelled_rule
from routing_engine.config.scorers import ScorerSpec
from routing_engine.scorer import BUNDLED_NAME, Scorer, bundled


class RoutingConfig(StrictModel):
    """The `routing` AppConfig profile."""

    version: str | None = Field(default=None, max_length=128, description="Free label shown in responses")
    default_route: Key | None = Field(default=None, description="Route for requests that name no task")
    unknown_model_route: Key | None = Field(
        default=None,
        description="Route for a name that is no route, alias or model; none means the request is refused",
    )
    models: dict[Key, ModelSpec] = Field(min_length=1)
    routes: dict[Key, Route] = Field(min_length=1)
    aliases: dict[Key, Key] = Field(default_factory=dict, description="Extra names for routes or models")
    tiers: dict[Key, Tier] = Field(
        default_factory=lambda: {"standard": Tier()}, description="Default: one tier, standard, with no limits"
    )
    default_tier: Key = "standard"
    callers: dict[str, Key] = Field(default_factory=dict, description="API key id or IAM principal ARN -> tier")
    caller_budgets: dict[str, Budget] = Field(
        default_factory=dict, description="API key id or IAM principal ARN -> that caller's own budget"
    )
    risk_patterns: tuple[RiskPattern, ...] = ()
    prompt_routers: dict[Key, PromptRouterSpec] = Field(default_factory=dict)
    resilience: Resilience = Resilience()
    limits: Limits = Limits()
    scorers: dict[Key, ScorerSpec] = Field(
        default_factory=dict,
        description="Complexity scorers routes may name (DynamicPolicy.scorer); 'bundled' is built in",
    )
    # name -> Scorer, built once when the document is validated (never per request)
    _scorers: dict[str, Scorer] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _references_resolve(self) -> RoutingConfig:
        problems, compiled = scorer_problems(self)
        problems += reference_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        self._scorers = compiled
        return self

    def route_names(self) -> list[str]:
        return sorted(self.routes)

    def scorer(self, name: str) -> Scorer:
        """The compiled scorer of that name ('bundled' or a key of `scorers`); KeyError if there is none."""
        if name == BUNDLED_NAME:
            return bundled()
        return self._scorers[name]

    def labelling_of(self, route: str) -> Labelling | None:
        """The route's labelling section with its defaults filled in (weak, strong model and rule), or None."""
        r = self.routes[route]
        if r.labelling is None or r.dynamic is None:
            return None
        lab = r.labelling
        rule = labelled_rule(r.dynamic, lab)
        strong = lab.strong_model or (rule.target.model if rule is not None else None)
        return lab.model_copy(
            update={
                "weak_model": lab.weak_model or r.dynamic.default.model,
                "strong_model": strong,
                "rule": rule.id if rule is not None else lab.rule,
            }
        )
