"""The routing configuration: one pydantic model used everywhere.

The same classes validate the file at synth time, generate the JSON Schema that
AppConfig's validator enforces, validate every fetched configuration at run time
and drive the local server. Pure code: no AWS imports.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from routing_engine.patterns import compile_risk_pattern
from routing_engine.scorer import BUNDLED_NAME, Scorer, ScorerError, bundled

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
Key = Annotated[str, Field(pattern=KEY_PATTERN)]
Modality = Literal["text", "image", "document"]
RouteMode = Literal["static", "dynamic", "shadow"]
Strategy = Literal["cheapest_capable", "strongest_within_budget", "fastest_within_slo"]

# Features a dynamic rule may test. Numeric ones take gt/gte/lt/lte/eq,
# booleans take eq, string-valued ones take eq/in.
NUMERIC_FEATURES = ("estimated_tokens", "complexity", "message_count")
BOOLEAN_FEATURES = ("has_images", "has_documents", "uses_tools")
TEXT_FEATURES = ("tier", "risk")
FeatureName = Literal[
    "estimated_tokens", "complexity", "message_count", "has_images", "has_documents", "uses_tools", "tier", "risk"
]


class ConfigError(ValueError):
    """A routing configuration that must not reach traffic. `str()` names the field."""


class _Strict(BaseModel):
    # defer_build: validators are built on first use, not at import (a cold start pays for them once, either way).
    # allow_inf_nan=False: a price (or any number) of Infinity or NaN would make every cost comparison false.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)


class Price(_Strict):
    input_per_1k: float = Field(ge=0, description="USD per 1,000 input tokens")
    output_per_1k: float = Field(ge=0, description="USD per 1,000 output tokens")


class ModelSpec(_Strict):
    """One entry of the model catalog. Its key is the model's alias."""

    model_id: str = Field(
        min_length=1,
        max_length=2048,
        description="Bedrock model id, cross-region inference profile id (us./eu./apac./global.) or ARN",
    )
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$",
        description="Region to call this model in; default: the router's own region",
    )
    display_name: str | None = None
    price: Price
    context_window: int = Field(default=200_000, ge=1, description="Input tokens the model accepts")
    max_output_tokens: int = Field(default=4096, ge=1)
    modalities: tuple[Modality, ...] = Field(default=("text",), min_length=1)
    supports_tools: bool = True
    quality: int = Field(default=50, ge=0, le=100, description="Relative strength; higher is stronger")
    latency_slo_ms: int = Field(default=10_000, ge=1, description="p90 latency the model should stay under")
    fallbacks: tuple[Key, ...] = Field(default=(), description="Model keys to try, in order, if this one fails")
    simulated_latency_ms: int = Field(
        default=300, ge=0, le=60_000, description="Latency of the local simulated backend for this model"
    )


class Comparison(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True, allow_inf_nan=False)

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    eq: float | bool | str | None = None
    in_: tuple[str, ...] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _not_empty(self) -> Comparison:
        if all(v is None for v in (self.gt, self.gte, self.lt, self.lte, self.eq, self.in_)):
            raise ValueError("a comparison needs at least one of gt, gte, lt, lte, eq, in")
        return self

    def bounds(self) -> tuple[float, bool, float, bool]:
        """(low, low_inclusive, high, high_inclusive) of a numeric comparison."""
        low, low_inc, high, high_inc = float("-inf"), True, float("inf"), True
        if self.gt is not None:
            low, low_inc = self.gt, False
        if self.gte is not None and self.gte > low:
            low, low_inc = self.gte, True
        if self.lt is not None:
            high, high_inc = self.lt, False
        if self.lte is not None and self.lte < high:
            high, high_inc = self.lte, True
        if isinstance(self.eq, (int, float)) and not isinstance(self.eq, bool):
            low = max(low, self.eq)
            high = min(high, self.eq)
        return low, low_inc, high, high_inc


class Target(_Strict):
    """Where a rule sends a request: exactly one of model, strategy, prompt_router."""

    model: Key | None = None
    strategy: Strategy | None = None
    prompt_router: Key | None = None
    prefer_within_slo: bool = Field(
        default=False, description="Prefer candidates whose recent latency is inside their SLO"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Target:
        chosen = [name for name in ("model", "strategy", "prompt_router") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError("a target needs exactly one of model, strategy, prompt_router")
        return self


class Rule(_Strict):
    id: Key
    description: str = ""
    when: dict[FeatureName, Comparison] = Field(
        default_factory=dict, description="All conditions must hold; empty means always"
    )
    target: Target


class DynamicPolicy(_Strict):
    candidates: tuple[Key, ...] | None = Field(
        default=None, description="Models this route may choose from; default: the whole catalog"
    )
    rules: tuple[Rule, ...] = ()
    default: Target = Field(default=Target(strategy="cheapest_capable"), description="Used when no rule matches")
    scorer: Key = Field(
        default=BUNDLED_NAME,
        description="The scorer (a key of `scorers`, or bundled) whose score is this route's complexity feature",
    )


class Labelling(_Strict):
    """Opt-in label loop of a dynamic or shadow route: sample answered requests, have a judge compare the weak
    and the strong model's answers, and retrain the route's scorer on the verdicts."""

    sample_rate: float = Field(gt=0, le=1, description="Share of answered requests sent for labelling")
    daily_budget_usd: float = Field(gt=0, description="USD the labeller may spend per UTC day on this route")
    judge_model: Key = Field(description="Catalog model that gives the pairwise verdicts")
    weak_model: Key | None = Field(default=None, description="Default: the model of the policy's default target")
    strong_model: Key | None = Field(default=None, description="Default: the model the labelled rule targets")
    rule: Key | None = Field(
        default=None,
        description="The rule whose complexity threshold training calibrates; default: the first rule with a "
        "complexity gte/gt condition",
    )
    target_strong_share: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Calibrate the threshold so this share of requests goes to the strong model; default: keep "
        "today's share",
    )
    target_quality: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Instead of a share: the fewest strong calls that recover this fraction of the judged quality "
        "gap between the two models (PGR) on the training labels",
    )
    auto_deploy: bool = Field(
        default=False, description="Deploy a better scorer without review (gradual strategy, alarm rollback)"
    )
    min_labels: int = Field(default=200, ge=20, description="Labels needed before a scorer is trained")


class DenseWeights(_Strict):
    names: tuple[str, ...] = Field(min_length=1, description="Feature names, in the scorer's order")
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]


class HashedWeights(_Strict):
    buckets: int = Field(ge=1)
    coef: tuple[tuple[int, float], ...] = Field(default=(), description="Sparse [bucket, weight] pairs")


class ScorerSpec(_Strict):
    """Weights of a complexity scorer (what routing_engine.scorer.Scorer.spec() writes); checked in full by
    Scorer.from_spec when the configuration is parsed."""

    version: str = Field(min_length=1, max_length=128, description="Shown as routing.scorer_version")
    feature_set: str = Field(min_length=1, max_length=32, description="The feature code the weights were fit for")
    intercept: float = 0.0
    dense: DenseWeights
    hashed: HashedWeights | None = Field(default=None, description="Weights of hashed word features; default none")
    meta: dict = Field(default_factory=dict, description="Free facts about the training (labels, date, report)")


class Route(_Strict):
    description: str = ""
    model: Key = Field(description="The static choice (also the dynamic fallback and the shadow baseline)")
    mode: RouteMode = "static"
    system_prompt: str | None = Field(default=None, max_length=20_000)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=1)
    fallbacks: tuple[Key, ...] | None = Field(
        default=None, description="Overrides the chosen model's own fallback chain"
    )
    dynamic: DynamicPolicy | None = None
    labelling: Labelling | None = Field(default=None, description="Label loop (dynamic or shadow routes only)")


class RiskPattern(_Strict):
    id: Key
    pattern: str = Field(
        min_length=1,
        max_length=2000,
        description="RE2 regular expression (no backreferences or lookarounds), matched case-insensitively",
    )
    action: Literal["force_model", "reject"]
    model: Key | None = None
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_risk_pattern(value)  # the engine and options the router matches with; raises saying why not
        return value

    @model_validator(mode="after")
    def _model_when_forced(self) -> RiskPattern:
        if self.action == "force_model" and self.model is None:
            raise ValueError("action force_model needs a model")
        return self


class Budget(_Strict):
    """Spend allowed per UTC day and/or UTC month. On a tier it caps the tier's callers together; under
    `caller_budgets` it caps one caller. Where both apply, the tighter one wins."""

    daily_usd: float | None = Field(default=None, gt=0, description="USD per UTC day (resets at 00:00 UTC)")
    monthly_usd: float | None = Field(default=None, gt=0, description="USD per UTC month (resets on the 1st)")
    soft_threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of a limit from which dynamic routes prefer the cheapest capable model",
    )
    over_budget: Literal["reject", "fallback"] = Field(
        default="reject",
        description="Over a limit: reject with 429 budget_exceeded, or serve every request with fallback_model",
    )
    fallback_model: Key | None = Field(default=None, description="The model over_budget: fallback serves")

    @model_validator(mode="after")
    def _coherent(self) -> Budget:
        if self.daily_usd is None and self.monthly_usd is None:
            raise ValueError("a budget needs daily_usd, monthly_usd or both")
        if self.over_budget == "fallback" and self.fallback_model is None:
            raise ValueError("over_budget fallback needs a fallback_model")
        if self.over_budget == "reject" and self.fallback_model is not None:
            raise ValueError("fallback_model is only used with over_budget: fallback")
        return self


class Tier(_Strict):
    allowed_models: tuple[Key, ...] | None = Field(default=None, description="Default: every model")
    max_cost_per_request_usd: float | None = Field(default=None, gt=0)
    budget: Budget | None = Field(default=None, description="The total spend of all the tier's callers")


class PromptRouterSpec(_Strict):
    arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:(default-)?prompt-router/.+$",
        description="Prompt-router ARN; omit to use the router created by the stack (PROMPT_ROUTER_ARN)",
    )
    models: tuple[Key, ...] = Field(min_length=1, description="Catalog keys of the models the router may invoke")
    description: str = ""


class Resilience(_Strict):
    max_attempts: int = Field(default=3, ge=1, le=10, description="Models tried per request, fallbacks included")
    total_deadline_ms: int = Field(
        default=120_000,
        ge=100,
        le=290_000,
        description="Deadline of a buffered (non-streamed) request, fallbacks included. At most 290 s: a buffered "
        "answer sends nothing until it is whole, and API Gateway's regional endpoints drop a streamed-mode "
        "response that is silent for 5 minutes",
    )
    stream_deadline_ms: int = Field(
        default=600_000,
        ge=1_000,
        le=900_000,
        description="Deadline of a streamed request, from its start to its last token",
    )
    attempt_slo_multiple: float = Field(
        default=2.0,
        gt=0,
        le=100,
        description="A call that may still be followed by a fallback gets at most this many times its model's "
        "latency_slo_ms (for a stream: to its first token) before the fallback starts",
    )
    breaker_failure_rate: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of this instance's recent calls to a model that must fail to open its breaker",
    )
    breaker_min_calls: int = Field(
        default=10, ge=1, description="Calls within the window before the failure rate is judged at all"
    )
    breaker_window_s: float = Field(default=30, gt=0, description="Sliding window the rate is computed over")
    breaker_cooldown_s: float = Field(default=30, gt=0, description="How long an open breaker skips the model")


class Limits(_Strict):
    max_body_bytes: int = Field(default=1_000_000, ge=1_024, le=10_000_000)
    max_messages: int = Field(default=200, ge=1)
    default_max_tokens: int = Field(default=1024, ge=1)
    risk_scan_chars: int = Field(
        default=16_000,
        ge=1_000,
        le=10_000_000,
        description="Characters of each text part the risk patterns read (3/4 from the start, 1/4 from the end)",
    )


class RoutingConfig(_Strict):
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
    tiers: dict[Key, Tier] = Field(default_factory=lambda: {"standard": Tier()})
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
        problems, compiled = _scorer_problems(self)
        problems += _reference_problems(self)
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
        rule = _labelled_rule(r.dynamic, lab)
        strong = lab.strong_model or (rule.target.model if rule is not None else None)
        return lab.model_copy(
            update={
                "weak_model": lab.weak_model or r.dynamic.default.model,
                "strong_model": strong,
                "rule": rule.id if rule is not None else lab.rule,
            }
        )


def _scorer_problems(cfg: RoutingConfig) -> tuple[list[str], dict[str, Scorer]]:
    """Each configured scorer compiled by the scorer itself (a spec that cannot score is refused here, before
    traffic), and every route's scorer name resolved."""
    problems: list[str] = []
    compiled: dict[str, Scorer] = {}
    for name, spec in cfg.scorers.items():
        path = f"scorers.{name}"
        if name == BUNDLED_NAME:
            problems.append(
                f"{path}: the name '{BUNDLED_NAME}' is reserved for the built-in weights; give this scorer another name"
            )
            continue
        try:
            compiled[name] = Scorer.from_spec(spec.model_dump(mode="json", exclude_none=True), name=name)
        except ScorerError as exc:
            problems.append(_scorer_message(path, exc))
        except (TypeError, ValueError, KeyError) as exc:  # a spec the scorer's checks did not foresee: still refused
            problems.append(f"{path}: not a usable scorer spec ({type(exc).__name__}: {exc})")
    known = ", ".join(sorted({BUNDLED_NAME, *cfg.scorers}))
    for route_name, route in cfg.routes.items():
        if (
            route.dynamic is not None
            and route.dynamic.scorer != BUNDLED_NAME
            and route.dynamic.scorer not in cfg.scorers
        ):
            problems.append(
                f"routes.{route_name}.dynamic.scorer: unknown scorer '{route.dynamic.scorer}' (known: {known})"
            )
    return problems, compiled


def _scorer_message(path: str, exc: ScorerError) -> str:
    """`scorers.<name>.<field>: why` (a ScorerError names its field in `path`)."""
    return f"{path}.{exc.path}: {exc.reason}" if exc.path else f"{path}: {exc}"


def _labelled_rule(policy: DynamicPolicy, lab: Labelling) -> Rule | None:
    """The rule named by `labelling.rule`, else the first with a complexity lower bound (gte or gt)."""
    if lab.rule is not None:
        return next((r for r in policy.rules if r.id == lab.rule), None)
    return next((r for r in policy.rules if _complexity_floor(r) is not None), None)


def _complexity_floor(rule: Rule) -> float | None:
    cmp = rule.when.get("complexity")
    if cmp is None:
        return None
    floor = cmp.gte if cmp.gte is not None else cmp.gt
    return None if floor is None or isinstance(floor, bool) else float(floor)


def _labelling_problems(cfg: RoutingConfig, name: str, route: Route) -> list[str]:
    lab = route.labelling
    if lab is None:
        return []
    base = f"routes.{name}.labelling"
    if route.mode == "static":
        return [
            f"{base}: only a dynamic or shadow route can be labelled (mode is '{route.mode}'): labels compare "
            "the models its dynamic policy chooses between"
        ]
    if route.dynamic is None:
        return []  # "mode needs a dynamic policy" is reported already
    policy = route.dynamic
    models = cfg.models
    out = []
    if lab.target_strong_share is not None and lab.target_quality is not None:
        out.append(f"{base}: set target_strong_share or target_quality, not both (the threshold can meet one)")
    for field_name in ("judge_model", "weak_model", "strong_model"):
        key = getattr(lab, field_name)
        if key is not None and key not in models:
            out.append(f"{base}.{field_name}: unknown model '{key}' (known: {', '.join(sorted(models))})")
    rule = _labelled_rule(policy, lab)
    if lab.rule is not None and rule is None:
        out.append(
            f"{base}.rule: no rule '{lab.rule}' in routes.{name}.dynamic.rules "
            f"(known: {', '.join(r.id for r in policy.rules) or 'none'})"
        )
    elif rule is None:
        out.append(
            f"{base}.rule: no rule of routes.{name}.dynamic has a complexity gte or gt condition, so there "
            "is no threshold to train; add one, or name the rule"
        )
    elif _complexity_floor(rule) is None:
        out.append(
            f"{base}.rule: rule '{rule.id}' has no complexity gte or gt condition, so there is no threshold to train"
        )
    elif rule.target.model is None:
        kind = (
            "strategy " + rule.target.strategy
            if rule.target.strategy
            else "prompt router " + str(rule.target.prompt_router)
        )
        out.append(
            f"{base}.rule: rule '{rule.id}' targets {kind}; labels compare two fixed models, so the labelled "
            "rule must target the strong model (target.model)"
        )
    elif lab.strong_model is not None and lab.strong_model != rule.target.model:
        out.append(
            f"{base}.strong_model: '{lab.strong_model}' is not the model rule '{rule.id}' targets "
            f"('{rule.target.model}'); the labelled rule must send its requests to the strong model"
        )
    if rule is not None and _complexity_floor(rule) is not None:
        cmp = rule.when["complexity"]
        extra = [op for op, v in (("lt", cmp.lt), ("lte", cmp.lte), ("eq", cmp.eq)) if v is not None]
        if extra:
            out.append(
                f"{base}.rule: rule '{rule.id}' also bounds complexity with {'/'.join(extra)}; training "
                "calibrates a lower bound (gte/gt) only: move the upper bound to another rule"
            )
        others = sorted(k for k in rule.when if k != "complexity")
        if others:
            out.append(
                f"{base}.rule: rule '{rule.id}' also tests {', '.join(others)}; training calibrates its "
                "complexity threshold alone: label a rule whose only condition is complexity"
            )
    strong = lab.strong_model or (rule.target.model if rule is not None else None)
    weak = lab.weak_model or policy.default.model
    if lab.weak_model is not None and policy.default.model is not None and lab.weak_model != policy.default.model:
        out.append(
            f"{base}.weak_model: '{lab.weak_model}' is not the model of routes.{name}.dynamic.default "
            f"('{policy.default.model}'); labels must compare the two models the route routes between"
        )
    if weak is None:
        kind = (
            f"strategy {policy.default.strategy}"
            if policy.default.strategy
            else f"prompt router {policy.default.prompt_router}"
        )
        out.append(f"{base}.weak_model: required here: the policy's default target is {kind}, not a model")
    if weak is not None and weak == strong:
        out.append(f"{base}: the weak and the strong model are both '{weak}'; labels need two different models")
    if policy.candidates is not None:
        for field_name, key in (("weak_model", weak), ("strong_model", strong)):
            if key is not None and key in models and key not in policy.candidates:
                out.append(f"{base}.{field_name}: '{key}' is not one of routes.{name}.dynamic.candidates")
    return out


def _reference_problems(cfg: RoutingConfig):
    models = cfg.models

    def unknown_model(path: str, key: str | None):
        if key is not None and key not in models:
            return f"{path}: unknown model '{key}' (known: {', '.join(sorted(models))})"
        return None

    checks: list[str | None] = []
    for key, spec in models.items():
        for i, fb in enumerate(spec.fallbacks):
            checks.append(unknown_model(f"models.{key}.fallbacks[{i}]", fb))
            if fb == key:
                checks.append(f"models.{key}.fallbacks[{i}]: a model cannot fall back to itself")
    if cfg.default_route is not None and cfg.default_route not in cfg.routes:
        checks.append(f"default_route: unknown route '{cfg.default_route}' (known: {', '.join(sorted(cfg.routes))})")
    if cfg.unknown_model_route is not None and cfg.unknown_model_route not in cfg.routes:
        checks.append(
            f"unknown_model_route: unknown route '{cfg.unknown_model_route}' (known: {', '.join(sorted(cfg.routes))})"
        )
    for name, route in cfg.routes.items():
        base = f"routes.{name}"
        checks.append(unknown_model(f"{base}.model", route.model))
        for i, fb in enumerate(route.fallbacks or ()):
            checks.append(unknown_model(f"{base}.fallbacks[{i}]", fb))
        if route.mode != "static" and route.dynamic is None:
            checks.append(f"{base}.dynamic: mode '{route.mode}' needs a dynamic policy")
        if route.dynamic is not None:
            checks.extend(_policy_problems(cfg, f"{base}.dynamic", route.dynamic))
        checks.extend(_labelling_problems(cfg, name, route))
    for alias, target in cfg.aliases.items():
        if alias in cfg.routes:
            checks.append(f"aliases.{alias}: the name is already a route")
        elif alias in models:
            checks.append(f"aliases.{alias}: the name is already a model")
        elif target not in cfg.routes and target not in models:
            checks.append(f"aliases.{alias}: '{target}' is neither a route nor a model")
    if cfg.default_tier not in cfg.tiers:
        checks.append(f"default_tier: unknown tier '{cfg.default_tier}' (known: {', '.join(sorted(cfg.tiers))})")
    for caller, caller_tier in cfg.callers.items():
        if caller_tier not in cfg.tiers:
            checks.append(f"callers.{caller}: unknown tier '{caller_tier}'")
    for name, tier in cfg.tiers.items():
        for i, m in enumerate(tier.allowed_models or ()):
            checks.append(unknown_model(f"tiers.{name}.allowed_models[{i}]", m))
        if tier.budget is not None:
            checks.extend(_budget_problems(cfg, f"tiers.{name}.budget", tier.budget, name))
    for caller, budget in cfg.caller_budgets.items():
        checks.extend(
            _budget_problems(
                cfg, f"caller_budgets.{caller}.fallback_model", budget, cfg.callers.get(caller, cfg.default_tier)
            )
        )
    seen_risk: set[str] = set()
    for i, risk in enumerate(cfg.risk_patterns):
        if risk.id in seen_risk:
            checks.append(f"risk_patterns[{i}].id: duplicate id '{risk.id}'")
        seen_risk.add(risk.id)
        checks.append(unknown_model(f"risk_patterns[{i}].model", risk.model))
    for name, router in cfg.prompt_routers.items():
        if name in models:
            checks.append(f"prompt_routers.{name}: the name is already a model")
        for i, m in enumerate(router.models):
            checks.append(unknown_model(f"prompt_routers.{name}.models[{i}]", m))
    return [c for c in checks if c]


def _budget_problems(cfg: RoutingConfig, path: str, budget: Budget, tier_name: str) -> list[str]:
    """A budget's fallback model must exist and be one its tier may use, or every over-budget request would fail."""
    model = budget.fallback_model
    if model is None:
        return []
    if not path.endswith(".fallback_model"):
        path = f"{path}.fallback_model"
    if model not in cfg.models:
        return [f"{path}: unknown model '{model}' (known: {', '.join(sorted(cfg.models))})"]
    tier = cfg.tiers.get(tier_name)
    if tier is not None and tier.allowed_models is not None and model not in tier.allowed_models:
        return [f"{path}: '{model}' is not in the allowed_models of tier '{tier_name}'"]
    return []


def _policy_problems(cfg: RoutingConfig, base: str, policy: DynamicPolicy):
    out: list[str | None] = []
    models = cfg.models
    for i, cand in enumerate(policy.candidates or ()):
        if cand not in models:
            out.append(f"{base}.candidates[{i}]: unknown model '{cand}' (known: {', '.join(sorted(models))})")
    out.extend(_target_problems(cfg, f"{base}.default", policy.default))
    seen: set[str] = set()
    unconditional_at: int | None = None
    for i, rule in enumerate(policy.rules):
        path = f"{base}.rules[{i}]"
        if rule.id in seen:
            out.append(f"{path}.id: duplicate rule id '{rule.id}'")
        seen.add(rule.id)
        if unconditional_at is not None:
            out.append(
                f"{path}: can never match, rule {policy.rules[unconditional_at].id!r} before it matches every request"
            )
        out.extend(_target_problems(cfg, f"{path}.target", rule.target))
        for feature, cmp in rule.when.items():
            out.extend(_condition_problems(cfg, f"{path}.when.{feature}", feature, cmp))
        if not rule.when:
            unconditional_at = i
    return out


def _target_problems(cfg: RoutingConfig, path: str, target: Target):
    if target.model is not None and target.model not in cfg.models:
        return [f"{path}.model: unknown model '{target.model}' (known: {', '.join(sorted(cfg.models))})"]
    if target.prompt_router is not None and target.prompt_router not in cfg.prompt_routers:
        known = ", ".join(sorted(cfg.prompt_routers)) or "none configured"
        return [f"{path}.prompt_router: unknown prompt router '{target.prompt_router}' (known: {known})"]
    return []


def _condition_problems(cfg: RoutingConfig, path: str, feature: str, cmp: Comparison):
    out = []
    numeric_ops = any(v is not None for v in (cmp.gt, cmp.gte, cmp.lt, cmp.lte))
    if feature in NUMERIC_FEATURES:
        if cmp.in_ is not None or isinstance(cmp.eq, (bool, str)):
            out.append(f"{path}: '{feature}' is a number; use gt, gte, lt, lte or eq with a number")
        low, low_inc, high, high_inc = cmp.bounds()
        if low > high or (low == high and not (low_inc and high_inc)):
            out.append(f"{path}: can never match (the range is empty)")
        if feature == "complexity":
            for op in ("gt", "gte", "lt", "lte", "eq"):
                v = getattr(cmp, op)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not 0 <= v <= 1:
                    out.append(f"{path}.{op}: complexity thresholds must be within [0, 1], got {v}")
        if feature in ("estimated_tokens", "message_count"):
            for op in ("gt", "gte", "lt", "lte", "eq"):
                v = getattr(cmp, op)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
                    out.append(f"{path}.{op}: '{feature}' is never negative, got {v}")
    elif feature in BOOLEAN_FEATURES:
        if numeric_ops or cmp.in_ is not None or not isinstance(cmp.eq, bool):
            out.append(f"{path}: '{feature}' is true or false; use eq: true or eq: false")
    else:  # tier, risk
        if numeric_ops or isinstance(cmp.eq, (bool, int, float)):
            out.append(f"{path}: '{feature}' is a name; use eq or in with names")
        names = ([cmp.eq] if isinstance(cmp.eq, str) else []) + list(cmp.in_ or ())
        known = set(cfg.tiers) if feature == "tier" else {r.id for r in cfg.risk_patterns}
        for n in names:
            if n not in known:
                out.append(f"{path}: unknown {feature} '{n}' (known: {', '.join(sorted(known)) or 'none'})")
    return out


# --- failover flags: their own AppConfig profile and environment ------------------------------


class ModelFlag(_Strict):
    state: Literal["down", "up"] = Field(description="down: skip the model; up: force it healthy")
    source: Literal["alarm", "manual"] = Field(description="manual flags are never changed by the controller")
    reason: str = Field(default="", max_length=1000)
    set_by: str = Field(default="", max_length=512)
    updated_at: str = Field(default="", max_length=64, description="ISO 8601 UTC time of the change")


class FailoverFlags(_Strict):
    """The `failover-flags` AppConfig profile, keyed by model key (alias)."""

    models: dict[Key, ModelFlag] = Field(default_factory=dict)

    def down_models(self) -> frozenset[str]:
        return frozenset(k for k, f in self.models.items() if f.state == "down")


# --- loading ---------------------------------------------------------------------------------


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def content_version(raw: bytes) -> str:
    """A short, stable fingerprint of a configuration document."""
    return hashlib.sha256(raw).hexdigest()[:12]


def parse_routing_config(raw: bytes | str) -> RoutingConfig:
    """Parse and validate a routing configuration document; raise ConfigError naming the field."""
    return _parse(RoutingConfig, raw)


def parse_failover_flags(raw: bytes | str) -> FailoverFlags:
    return _parse(FailoverFlags, raw)


class _Object(dict):
    """A JSON object that remembers the keys it had more than once (json keeps the last one silently)."""

    __slots__ = ("duplicates",)
    duplicates: tuple[str, ...] | list[str]


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = _Object(pairs)
    obj.duplicates = (
        () if len(obj) == len(pairs) else sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    )
    return obj


def _document_problems(node, path: str = ""):
    """Duplicate keys and non-finite numbers (`Infinity`, `NaN`, `1e999`), each named by its path. A leaf's path
    is only spelled out when it is wrong: a scorer's weights are thousands of numbers."""
    if isinstance(node, dict):
        for key in getattr(node, "duplicates", ()):
            yield f"{path + '.' if path else ''}{key}: duplicate key (JSON keeps only the last value)"
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                yield from _document_problems(value, f"{path}.{key}" if path else str(key))
            elif isinstance(value, float) and not math.isfinite(value):
                yield f"{path + '.' if path else ''}{key}: {value} is not a finite number"
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                yield from _document_problems(value, f"{path}[{i}]")
            elif isinstance(value, float) and not math.isfinite(value):
                yield f"{path}[{i}]: {value} is not a finite number"


def _parse(model: type[BaseModel], raw: bytes | str):
    try:
        data = json.loads(raw, object_pairs_hook=_object)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("the document must be a JSON object")
    try:
        problems = list(_document_problems(data))
    except RecursionError:
        raise ConfigError("the document is nested too deeply") from None
    if problems:
        raise ConfigError("; ".join(problems))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from exc


def routing_json_schema() -> dict:
    """The JSON Schema AppConfig's validator enforces (cross-references are checked by pydantic)."""
    return _draft4(RoutingConfig.model_json_schema(by_alias=True), "Model router routing configuration")


def flags_json_schema() -> dict:
    return _draft4(FailoverFlags.model_json_schema(by_alias=True), "Model router failover flags")


def _draft4(schema: dict, title: str) -> dict:
    """Rewrite pydantic's 2020-12 output as JSON Schema draft-04, the dialect AppConfig validates with.

    Titles and defaults are dropped: AppConfig caps a validator at 32,768 characters.
    """

    def walk(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in ("title", "default"):
                    continue
                if key == "$ref":
                    out[key] = value.replace("#/$defs/", "#/definitions/")
                elif key == "const":
                    out["enum"] = [value]
                elif key == "prefixItems":  # a fixed-length tuple: draft-04 spells it as a list of `items`
                    out["items"] = walk(value)
                elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
                    out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
                    out[key] = True
                elif key == "$defs":
                    out["definitions"] = {k: walk(v) for k, v in value.items()}
                elif key == "properties":
                    out[key] = {k: walk(v) for k, v in value.items()}
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    converted = walk(schema)
    return {"$schema": "http://json-schema.org/draft-04/schema#", "title": title, **converted}
