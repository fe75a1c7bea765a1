"""The routing decision: pure functions over a validated RoutingConfig.

`Engine` is built once per configuration version (it precomputes what every
request would otherwise recompute) and answers `decide()` per request. It never
calls a model or AWS; the caller supplies the request's features and a view of
live health, and gets back a `Decision` that explains itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from routing_engine.config import Comparison, DynamicPolicy, Labelling, ModelSpec, Route, RoutingConfig, Rule, Target
from routing_engine.config.geography import base_model_id
from routing_engine.failures import FailureKind
from routing_engine.features import RequestFeatures, RiskMatcher, with_complexity
from routing_engine.scorer import Scorer, bundled

_CHEAPEST = Target(strategy="cheapest_capable")
# How a decision was made: the route's mode, or "direct" for a model requested by name. Serialized as is into
# responses and log lines.
DecisionMode = Literal["static", "dynamic", "shadow", "direct"]


class RoutingError(Exception):
    """A request the configuration cannot route.

    `kind` names the failure for the layer that answers the caller (which maps it to an HTTP status: the
    engine knows no protocol); `code` is the machine-readable error code; `details` what the caller may act on.
    """

    kind = FailureKind.INVALID_REQUEST
    code = "routing_error"

    def __init__(self, message: str, *, details: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code


class UnknownRoute(RoutingError):
    """The requested name is no route, alias or model, and no unknown_model_route is configured."""

    kind = FailureKind.UNKNOWN_ROUTE
    code = "model_not_found"


class RiskRejected(RoutingError):
    kind = FailureKind.RISK_REJECTED
    code = "rejected_by_risk_policy"


class NoCapableModel(RoutingError):
    kind = FailureKind.NO_CAPABLE_MODEL
    code = "no_capable_model"


@dataclass(frozen=True, slots=True)
class Health:
    """Live health as seen by this instance: models to skip (with why) and recent latency."""

    unavailable: Mapping[str, str] = field(default_factory=dict)
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    forced_up: frozenset[str] = frozenset()  # an operator's "up" flag: never skipped by a circuit breaker
    # Seconds until an unavailable model may be tried again, where known (HealthTracker.cooldowns()); a
    # NoCapableModel names them in details["retry_after_s"], so an answer's Retry-After can tell the truth.
    retry_after_s: Mapping[str, float] = field(default_factory=dict)


HEALTHY = Health()


@dataclass(frozen=True, slots=True)
class BudgetPressure:
    """What the caller's spend asks of one decision. The router measures spend; the engine only obeys.

    With `fallback_model` (a hard budget is spent and says `over_budget: fallback`) every route serves that model.
    Without it (spend is over a soft threshold) dynamic routes choose the cheapest capable model; static routes
    are unchanged. `why` starts the decision's reason, e.g. "over 80% of the daily budget of tier free".
    """

    why: str
    fallback_model: str | None = None


_NO_LATENCY: Mapping[str, float] = {}  # what a route that holds conversations ranks with: each instance's own differs

BUDGET_RULE = "budget"  # Decision.rule when a spent budget chose the fallback model
BUDGET_SOFT_RULE = "budget_soft"  # Decision.rule when a soft threshold chose the cheapest capable model


@dataclass(slots=True)
class Decision:
    route: str
    mode: DecisionMode
    model: str  # catalog key of the model, or the prompt-router key
    model_id: str  # what goes into Converse's modelId
    reason: str
    rule: str | None = None
    is_prompt_router: bool = False
    out_tokens: int = 0  # the output-token bound the cost estimate assumed
    estimated_cost_usd: float | None = None
    trace: dict | None = None
    # A shadow route's dynamic choice: {"model", "rule", "agrees", "estimated_cost_usd"} (plus "trace" in a dry
    # run), or {"model": None, "agrees": False, "error"} when dynamic routing would have refused the request.
    # Its estimated_cost_usd is the WORST CASE (estimated input and every allowed output token), like the served
    # decision's estimate; to compare like with like, price the shadow model at the served answer's actual tokens
    # (Engine.cost_at).
    shadow: dict | None = None
    # The scorer that computed the complexity feature, when it was computed: its name and its weights' version.
    scorer: str | None = None
    scorer_version: str | None = None
    # A continuing conversation on a dynamic route (Engine.decide's `continuation`): {"affinity", "home_model",
    # "moved", "why"}: whether the route holds conversations on one model, the model its task is decided to (the one
    # that began it), and, when this decision serves another, why (the home model's filter reason, or the budget's);
    # {"affinity": False} on a route that opted out. None otherwise.
    conversation: dict | None = None


def _stamped(decision: Decision, features: RequestFeatures) -> Decision:
    """Name the scorer that computed the complexity feature on the decision and in its trace."""
    if features.complexity is not None and (features.scorer is not None or features.scorer_version is not None):
        decision.scorer = features.scorer
        decision.scorer_version = features.scorer_version
        if decision.trace is not None:
            decision.trace["scorer"] = {"name": features.scorer, "version": features.scorer_version}
    return decision


def estimate_cost(
    spec: ModelSpec, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0, write_1h: int = 0
) -> float:
    """USD for these tokens at the model's prices (USD per million tokens). `input_tokens` leaves out the tokens
    read from (`cache_read`) and written to (`cache_write`, of which `write_1h` with a 1-hour TTL) the prompt cache,
    as Converse reports them; a model without cache prices is priced at its input price for them."""
    price = spec.price
    cost = input_tokens / 1_000_000 * price.input_per_million + output_tokens / 1_000_000 * price.output_per_million
    if cache_read or cache_write:
        read = price.input_per_million if price.cache_read_per_million is None else price.cache_read_per_million
        write = price.input_per_million if price.cache_write_per_million is None else price.cache_write_per_million
        write_long = write if price.cache_write_1h_per_million is None else price.cache_write_1h_per_million
        cost += (cache_read * read + (cache_write - write_1h) * write + write_1h * write_long) / 1_000_000
    return cost


def _risk_matches(risk_ids: tuple[str, ...], cmp: Comparison) -> bool:
    """The `risk` feature is the set of matched pattern ids: `eq` means "includes", `in` means "includes any"."""
    names = set(risk_ids)
    if cmp.eq is not None and cmp.eq not in names:
        return False
    return not (cmp.in_ is not None and not names.intersection(cmp.in_))


class DecisionInputs(NamedTuple):
    """What one decision depends on besides the configuration: resolved once by `decide`, then handed whole
    to each step. A NamedTuple: read-only, and the cheapest named object to build once per request (a frozen
    dataclass costs several times as much to build)."""

    route_name: str  # the route, or the model key when a model was requested by name
    mode: DecisionMode
    features: RequestFeatures
    tier: str
    ceiling: float | None  # the caller's cost ceiling capped by its tier's (cost_ceiling)
    out_tokens: int  # the output-token bound costs assume (output_tokens)
    health: Health
    forced: str | None  # the model a risk pattern forces, if any
    explain: bool
    # A continuing conversation on a route with conversation_affinity: the features of its task (system prompt and
    # first user turn), which its rules and ranking read instead of `features`; filters still read `features`.
    task: RequestFeatures | None
    # The route holds conversations (a dynamic route with conversation_affinity): its ranking ignores this
    # instance's latency, which differs between instances, on every turn, the first one included.
    affinity: bool


@dataclass(frozen=True, slots=True)
class _Row:
    """A catalog model as the per-request hot path reads it: flat values, not attribute walks through the
    (frozen) pydantic models. Built once per configuration, read per candidate: slots, whose attribute reads
    cost about a third of a NamedTuple's (which kept the decision benchmark from slowing down)."""

    context_window: int
    max_output_tokens: int
    takes_images: bool
    takes_documents: bool
    takes_tools: bool
    input_per_million: float
    output_per_million: float
    quality: int
    latency_slo_ms: int


class _Condition(NamedTuple):
    """One condition of a rule, its comparison's bounds read out once."""

    feature: str
    cmp: Comparison
    in_: tuple[str, ...] | None
    eq: float | bool | str | None
    gt: float | None
    gte: float | None
    lt: float | None
    lte: float | None


class _Policy(NamedTuple):
    """A route's dynamic policy (a static route's is its model), its candidate pool and its rules with their
    conditions, in the configuration's order."""

    policy: DynamicPolicy
    candidates: tuple[str, ...]
    rules: tuple[tuple[Rule, tuple[_Condition, ...]], ...]


@dataclass(frozen=True, slots=True)
class _TierLimits:
    allowed: frozenset[str] | None  # None: every model
    max_cost_usd: float | None


class Engine:
    def __init__(self, config: RoutingConfig, version: str, *, prompt_router_arn: str | None = None):
        self.config = config
        self.version = version
        self.risk = RiskMatcher.compile(config.risk_patterns, config.limits.risk_scan_chars)
        self._risk_actions = {p.id: p for p in config.risk_patterns}
        self._names: dict[str, tuple[str, str | None]] = {}  # requested name -> (route, direct model)
        # Prompt routers are targets of rules, not names a caller may use, so they are not listed.
        for name in config.routes:
            self._names[name] = (name, None)
        for key in config.models:
            self._names.setdefault(key, ("", key))
        for alias, target in config.aliases.items():
            self._names[alias] = (target, None) if target in config.routes else ("", target)
        self._available = sorted(set(self._names))
        self._all_models: tuple[str, ...] = tuple(config.models)
        self._router_arns = {key: (spec.arn or prompt_router_arn or "") for key, spec in config.prompt_routers.items()}
        # The per-request hot path (costs, filters, rules) reads these flat rows instead of walking the
        # (frozen) pydantic config: attribute lookups, generator expressions and `all()` per rule were most of
        # a dynamic decision's time. Every value is the config's own, so results are unchanged.
        self._rows: dict[str, _Row] = {
            key: _Row(
                context_window=spec.context_window,
                max_output_tokens=spec.max_output_tokens,
                takes_images="image" in spec.modalities,
                takes_documents="document" in spec.modalities,
                takes_tools=spec.supports_tools,
                input_per_million=spec.price.input_per_million,
                output_per_million=spec.price.output_per_million,
                quality=spec.quality,
                latency_slo_ms=spec.latency_slo_ms,
            )
            for key, spec in config.models.items()
        }
        # allowed models as a set, as a tuple made the check O(catalog) per candidate and the filter quadratic
        # (1.0 ms per decision at 500 models)
        self._tiers = {
            name: _TierLimits(
                None if t.allowed_models is None else frozenset(t.allowed_models), t.max_cost_per_request_usd
            )
            for name, t in config.tiers.items()
        }
        self._model_ids = {key: spec.model_id for key, spec in config.models.items()}
        # the reasons of the two choices that need no rule, written once rather than formatted per request
        self._static_reasons = {name: f"static route {name} -> {route.model}" for name, route in config.routes.items()}
        self._direct_reasons = {key: f"model {key} requested by name" for key in config.models}
        self._policies: dict[str, _Policy] = {}
        for name, route in config.routes.items():
            # A static route's policy, from parts already validated: model_construct, as validating it would build
            # DynamicPolicy's own validator (its rules, comparisons...) on the first request for nothing
            policy = route.dynamic or DynamicPolicy.model_construct(
                rules=(), default=Target.model_construct(model=route.model)
            )
            rules = tuple(
                (
                    rule,
                    tuple(
                        _Condition(feature, cmp, cmp.in_, cmp.eq, cmp.gt, cmp.gte, cmp.lt, cmp.lte)
                        for feature, cmp in rule.when.items()
                    ),
                )
                for rule in policy.rules
            )
            self._policies[name] = _Policy(policy, policy.candidates or self._all_models, rules)
        # Scorers are compiled once, when the configuration was validated; a route only maps to its scorer here.
        self._scorers: dict[str, Scorer] = {
            name: config.scorer(route.dynamic.scorer)
            for name, route in config.routes.items()
            if route.mode != "static" and route.dynamic is not None
        }
        self._affinity = frozenset(
            name for name, route in config.routes.items() if route.mode == "dynamic" and route.conversation_affinity
        )
        self._labelling: dict[str, Labelling] = {}
        for name in config.routes:
            labelling = config.labelling_of(name)
            if labelling is not None:
                self._labelling[name] = labelling

    # --- the complexity scorer and the label loop -----------------------------------------

    def scorer_for(self, route_name: str) -> Scorer | None:
        """The scorer a dynamic or shadow route's complexity feature uses; None for a static or unknown route."""
        return self._scorers.get(route_name)

    def labelling_for(self, route_name: str) -> Labelling | None:
        """The route's labelling section with its defaults resolved (weak_model, strong_model and rule are always
        set), or None when the route is not labelled."""
        return self._labelling.get(route_name)

    def with_complexity(
        self, name: str | None, features: RequestFeatures, messages, system: str | None = None
    ) -> RequestFeatures:
        """`features` with complexity scored by the scorer of the route `name` resolves to; a request whose
        route reads no complexity (a dry run of a static route or a named model) is scored by the bundled one."""
        if features.complexity is not None:
            return features
        scorer = None
        try:
            route_name, direct = self.resolve(name)
            if direct is None:
                scorer = self._scorers.get(route_name)
        except RoutingError:
            pass
        return with_complexity(features, messages, system=system, scorer=scorer or bundled())

    def cost_at(
        self, key: str, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0
    ) -> float | None:
        """What a model (or, at its dearest member, a prompt router) would cost for these actual tokens (cached
        ones at its cache prices); None for a key the catalog does not know. Prices a shadow choice like with like
        against the served answer."""
        if key in self.config.prompt_routers:
            members = [
                self.cost_at(m, input_tokens, output_tokens, cache_read, cache_write)
                for m in self.config.prompt_routers[key].models
            ]
            return max((c for c in members if c is not None), default=None)
        spec = self.config.models.get(key)
        return None if spec is None else estimate_cost(spec, input_tokens, output_tokens, cache_read, cache_write)

    def model_key_for(self, model_id: str | None) -> str | None:
        """The catalog key of a model a prompt router invoked (its id may be a full ARN or a regional profile)."""
        if not model_id:
            return None
        tail = model_id.rsplit("/", 1)[-1]
        base = base_model_id(tail)
        for key, spec in self.config.models.items():
            if spec.model_id in (model_id, tail) or base_model_id(spec.model_id.rsplit("/", 1)[-1]) == base:
                return key
        return None

    # --- names -----------------------------------------------------------------------------

    def callable_names(self) -> list[tuple[str, str]]:
        """(name, kind) for every name a caller may use: routes, aliases and model keys."""
        out = [(n, "route") for n in self.config.routes]
        out += [(a, "alias") for a in self.config.aliases]
        out += [(m, "model") for m in self.config.models]
        return out

    def resolve(self, name: str | None) -> tuple[str, str | None]:
        """Map a requested task/model name to (route, direct_model).

        No name: the default route. A name that is no route, alias or model: the `unknown_model_route` if one
        is configured, else UnknownRoute; an unknown name never falls silently into the default route."""
        route, direct, _ = self._resolve(name)
        return route, direct

    def _resolve(self, name: str | None) -> tuple[str, str | None, bool]:
        """(route, direct model, whether an unknown name was sent to unknown_model_route)."""
        if name is None:
            if self.config.default_route is not None:
                return self.config.default_route, None, False
            raise RoutingError(
                f"no task given and no default route is configured; known names: {', '.join(self._available)}",
                code="task_required",
                details={"available": list(self._available)},
            )
        hit = self._names.get(name)
        if hit is not None:
            return hit[0], hit[1], False
        if self.config.unknown_model_route is not None:
            return self.config.unknown_model_route, None, True
        raise UnknownRoute(
            f"unknown name '{name}'; known names: {', '.join(self._available)}",
            details={"available": list(self._available)},
        )

    def holds_conversations(self, name: str | None) -> bool:
        """Whether a continuing conversation sent to this name is decided on its task (Engine.decide's `task`):
        a dynamic route with conversation_affinity. Static and shadow routes serve one model anyway."""
        try:
            route_name, direct = self.resolve(name)
        except RoutingError:
            return False
        return direct is None and route_name in self._affinity

    def needs_complexity(self, name: str | None) -> bool:
        """Whether deciding for this name reads the complexity score (static routes never pay for it)."""
        try:
            route_name, direct = self.resolve(name)
        except RoutingError:
            return False
        return direct is None and self.config.routes[route_name].mode != "static"

    def tier_of(self, caller: str | None) -> str:
        if caller is not None:
            tier = self.config.callers.get(caller)
            if tier is not None:
                return tier
        return self.config.default_tier

    # --- the decision ------------------------------------------------------------------------

    def decide(
        self,
        name: str | None,
        features: RequestFeatures,
        *,
        tier: str | None = None,
        max_cost_usd: float | None = None,
        max_output_tokens: int | None = None,
        health: Health = HEALTHY,
        explain: bool = False,
        budget: BudgetPressure | None = None,
        continuation: bool = False,
        task: RequestFeatures | None = None,
    ) -> Decision:
        """`continuation`: the request continues a conversation (it carries earlier assistant turns). `task`: then,
        on a route that holds conversations (holds_conversations), the features of the conversation's task (its
        system prompt and first user turn, complexity included when the route reads it). The rules read them
        instead of `features`, so every turn is decided as the first one was, and the decision says in
        `conversation` whether it stayed on that model and, if not, why; on a dynamic route that opted out, that it
        was decided per turn. Capabilities, context window, cost ceiling and health still judge the whole request."""
        route_name, direct_model, unknown = self._resolve(name)
        held = route_name in self._affinity and direct_model is None
        if held and continuation and task is None:
            task = features  # no task given: the latest turn stands for it
        tier = tier or self.config.default_tier
        route = self.config.routes[route_name] if direct_model is None else None
        # Keywords straight to __new__: `DecisionInputs(**kw)` goes through type.__call__, which first packs the
        # keywords into a dict, and tripled the cost of building the tuple (0.9 us instead of 0.3, every request).
        inputs = DecisionInputs.__new__(
            DecisionInputs,
            route_name=direct_model or route_name,
            mode="direct" if route is None else route.mode,
            features=features,
            tier=tier,
            # a risk pattern that rejects the request is the first refusal, before any tier or cost check
            forced=self._risk_forced(route_name, features) if route is not None and features.risk else None,
            out_tokens=self.output_tokens(route, max_output_tokens),
            ceiling=self.cost_ceiling(tier, max_cost_usd),
            health=health,
            explain=explain,
            affinity=held,
            task=task if held and continuation else None,
        )
        if budget is not None and budget.fallback_model is not None:
            decision = self._budget_fallback(inputs, budget)
            if continuation and inputs.mode == "dynamic":
                self._hold(inputs, decision, budget, task or features)
            return _stamped(decision, features)
        if route is None:
            return _stamped(self._direct(inputs), features)
        if route.mode == "dynamic":
            decision = self._dynamic(inputs, cheaper=budget.why if budget is not None else None)
        else:
            decision = self._static(inputs, route)
            decision.estimated_cost_usd = self._check_servable(decision.model, inputs)
            if explain:
                decision.trace = {
                    "features": features.as_dict(),
                    "tier": tier,
                    "rules": [],
                    "choice": {"model": decision.model, "reason": decision.reason},
                }
            if route.mode == "shadow":
                decision.shadow = self._shadow(inputs, decision)
        decision.out_tokens = inputs.out_tokens
        if continuation and inputs.mode == "dynamic":
            self._hold(inputs, decision, budget, task or features)
        if decision.trace is not None:
            decision.trace["fallbacks"] = list(self._fallbacks(decision, inputs))
        if unknown:
            decision.reason = (
                f"unknown name '{name}' routed to '{route_name}' by unknown_model_route; {decision.reason}"
            )
            if decision.trace is not None:
                decision.trace["choice"]["reason"] = decision.reason
        return _stamped(decision, features)

    # --- a continuing conversation -------------------------------------------------------------

    def _hold(
        self, inputs: DecisionInputs, decision: Decision, budget: BudgetPressure | None, task: RequestFeatures
    ) -> None:
        """Say on a continuing conversation's decision (a dynamic route) whether it stays on the model that began
        it, and if not, why; a route that opted out says so."""
        if not inputs.affinity:
            decision.conversation = {"affinity": False}
        else:
            home = self._home(inputs, task)
            info: dict[str, Any] = {
                "affinity": True,
                "home_model": home,
                "moved": home is not None and decision.model != home,
            }
            if info["moved"]:
                assert home is not None
                info["why"] = self._why_moved(home, inputs, decision, budget)
                decision.reason = f"conversation moved from {home} ({info['why']}); {decision.reason}"
                if decision.trace is not None:
                    decision.trace["choice"]["reason"] = decision.reason
            decision.conversation = info
        if decision.trace is not None:
            decision.trace["conversation"] = decision.conversation

    def _home(self, inputs: DecisionInputs, task: RequestFeatures) -> str | None:
        """The model the conversation's task is decided to with every model healthy and no budget pressure: the
        model that began the conversation, as every instance computes it. None if the task alone is unroutable."""
        try:
            forced = self._risk_forced(inputs.route_name, task) if task.risk else None
            home = self._dynamic(
                inputs._replace(features=task, task=task, health=HEALTHY, forced=forced, explain=False)
            )
        except RoutingError:
            return None
        return home.model

    def _why_moved(self, home: str, inputs: DecisionInputs, decision: Decision, budget: BudgetPressure | None) -> str:
        if decision.rule == "risk":
            return decision.reason
        if budget is not None:
            return budget.why
        members = self.config.prompt_routers[home].models if home in self.config.prompt_routers else (home,)
        _, filtered = self.filter_candidates(
            members, inputs.features, inputs.tier, inputs.ceiling, inputs.out_tokens, inputs.health
        )
        if filtered:
            return "; ".join(f"{key}: {why}" for key, why in filtered.items())
        return "the route's policy chose another model"  # not expected: every other difference is a filter's

    def _budget_fallback(self, inputs: DecisionInputs, budget: BudgetPressure) -> Decision:
        """A spent budget that says `over_budget: fallback`: every route and named model serves the fallback model,
        which must still take the request (tier, capabilities, cost ceiling, a risk policy's forced model)."""
        model = budget.fallback_model
        assert model is not None
        forced = inputs.forced
        if forced is not None and forced != model:
            raise NoCapableModel(
                f"{budget.why}, and its fallback model {model} cannot take this request: risk policy forces {forced}",
                details={
                    "route": inputs.route_name,
                    "filtered": {model: f"risk policy forces {forced}"},
                    "tier": inputs.tier,
                },
            )
        cost = self._check_servable(model, inputs)
        reason = f"{budget.why}: over_budget fallback -> {model}"
        decision = Decision(
            # a model requested by name is not a route: the decision names the model that serves it
            route=model if inputs.mode == "direct" else inputs.route_name,
            mode=inputs.mode,
            model=model,
            model_id=self._model_ids[model],
            reason=reason,
            rule=BUDGET_RULE,
            out_tokens=inputs.out_tokens,
            estimated_cost_usd=cost,
        )
        if inputs.explain:
            decision.trace = {
                "features": inputs.features.as_dict(),
                "tier": inputs.tier,
                "rules": [],
                "choice": {"model": model, "rule": BUDGET_RULE, "reason": reason},
                "fallbacks": list(self._fallbacks(decision, inputs)),
            }
        return decision

    def output_tokens(self, route: Route | None, requested: int | None) -> int:
        """The output-token bound for cost estimates and the call: what the caller asked for, capped by the
        route's max_tokens; without a request, the route's max_tokens or the configured default."""
        route_max = route.max_tokens if route is not None else None
        if requested:
            return min(requested, route_max) if route_max else requested
        return route_max or self.config.limits.default_max_tokens

    def _risk_forced(self, route_name: str, features: RequestFeatures) -> str | None:
        for risk_id in features.risk:
            action = self._risk_actions[risk_id]
            if action.action == "reject":
                raise RiskRejected(
                    f"the request matches risk pattern '{risk_id}', which this router is configured to reject",
                    details={"risk": risk_id, "route": route_name},
                )
        for risk_id in features.risk:
            action = self._risk_actions[risk_id]
            if action.action == "force_model":
                return action.model
        return None

    def _static(self, inputs: DecisionInputs, route: Route) -> Decision:
        forced = inputs.forced
        model = forced or route.model
        reason = f"risk policy forced {model}" if forced else self._static_reasons[inputs.route_name]
        return Decision(
            route=inputs.route_name,
            mode=inputs.mode,
            model=model,
            model_id=self._model_ids[model],
            reason=reason,
            rule="risk" if forced else None,
        )

    def _check_servable(self, model: str, inputs: DecisionInputs) -> float:
        """A static choice still honours the caller's tier, its cost ceiling and the model's capabilities.
        Returns the model's estimated cost for the request (computed once, for the check and the decision)."""
        costs = self.costs((model,), inputs.features, inputs.out_tokens)
        _, filtered = self.filter_candidates(
            (model,), inputs.features, inputs.tier, inputs.ceiling, inputs.out_tokens, HEALTHY, costs
        )
        if filtered:
            raise NoCapableModel(
                f"route '{inputs.route_name}' serves {model}, which cannot take this request: {filtered[model]}",
                details={
                    "route": inputs.route_name,
                    "filtered": filtered,
                    "tier": inputs.tier,
                    "cost_ceiling_usd": inputs.ceiling,
                },
            )
        return costs[model]

    def _shadow(self, inputs: DecisionInputs, served: Decision) -> dict:
        """What dynamic routing would have chosen; never affects the served decision (nor does budget pressure
        change it: it shows what the policy itself chooses)."""
        try:
            dynamic = self._dynamic(inputs)
        except RoutingError as exc:
            return {"model": None, "agrees": False, "error": exc.code}
        shadow: dict[str, Any] = {
            "model": dynamic.model,
            "rule": dynamic.rule,
            "agrees": dynamic.model == served.model,
            "estimated_cost_usd": dynamic.estimated_cost_usd,
        }
        if inputs.explain:  # a dry run shows the served (static) decision and, beside it, the dynamic one in full
            shadow["trace"] = _stamped(dynamic, inputs.features).trace
        return shadow

    def _direct(self, inputs: DecisionInputs) -> Decision:
        model = inputs.route_name
        decision = Decision(
            route=model,
            mode="direct",
            model=model,
            model_id=self._model_ids[model],
            reason=self._direct_reasons[model],
            out_tokens=inputs.out_tokens,
            estimated_cost_usd=self._check_servable(model, inputs),
        )
        if inputs.explain:
            decision.trace = {
                "features": inputs.features.as_dict(),
                "tier": inputs.tier,
                "rules": [],
                "choice": {"model": model, "reason": decision.reason},
                "fallbacks": list(self._fallbacks(decision, inputs)),
            }
        return decision

    # --- dynamic -----------------------------------------------------------------------------

    def costs(self, pool, features: RequestFeatures, out_tokens: int) -> dict[str, float]:
        """Each model's estimated cost for this request (output bounded by what the model can emit), once per
        decision."""
        rows, tokens = self._rows, features.estimated_tokens
        out = {}
        for key in pool:
            row = rows[key]
            max_out = row.max_output_tokens
            # Same arithmetic as estimate_cost(); `max_out if max_out < out_tokens else out_tokens` is min().
            out[key] = (
                tokens / 1_000_000 * row.input_per_million
                + (max_out if max_out < out_tokens else out_tokens) / 1_000_000 * row.output_per_million
            )
        return out

    def filter_candidates(
        self,
        pool,
        features: RequestFeatures,
        tier: str,
        ceiling: float | None,
        out_tokens: int,
        health: Health,
        costs: dict[str, float] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        if costs is None:
            costs = self.costs(pool, features, out_tokens)
        allowed = self._tiers[tier].allowed
        kept: list[str] = []
        filtered: dict[str, str] = {}
        rows = self._rows
        tokens, images, documents, tools = (
            features.estimated_tokens,
            features.has_images,
            features.has_documents,
            features.uses_tools,
        )
        unavailable = health.unavailable
        for key in pool:
            row = rows[key]
            context_window, max_out = row.context_window, row.max_output_tokens
            out = max_out if max_out < out_tokens else out_tokens  # min(out_tokens, max_out)
            if allowed is not None and key not in allowed:
                filtered[key] = f"not allowed for tier {tier}"
            elif tokens + out > context_window:
                filtered[key] = f"context window {context_window} < {tokens} input + {out} output tokens"
            elif images and not row.takes_images:
                filtered[key] = "does not accept images"
            elif documents and not row.takes_documents:
                filtered[key] = "does not accept documents"
            elif tools and not row.takes_tools:
                filtered[key] = "does not support tool use"
            elif key in unavailable:
                filtered[key] = unavailable[key]
            elif ceiling is not None and costs[key] > ceiling:
                filtered[key] = f"estimated cost ${costs[key]:.6f} over the ceiling ${ceiling:.6f}"
            else:
                kept.append(key)
        return kept, filtered

    def cost_ceiling(self, tier: str, requested: float | None) -> float | None:
        tier_max = self._tiers[tier].max_cost_usd
        if requested is None:
            return tier_max
        return requested if tier_max is None else min(requested, tier_max)

    def _dynamic(self, inputs: DecisionInputs, cheaper: str | None = None) -> Decision:
        """The dynamic policy's choice. `cheaper`: why spend asks for the cheapest capable model instead (a
        soft budget threshold is passed); None lets the rules decide."""
        route_name = inputs.route_name
        features = inputs.features
        tier = inputs.tier
        ceiling = inputs.ceiling
        health = inputs.health
        forced = inputs.forced
        policy, candidate_pool, rules = self._policies[route_name]
        pool = (forced,) if forced else candidate_pool
        costs = self.costs(pool, features, inputs.out_tokens)
        candidates, filtered = self.filter_candidates(pool, features, tier, ceiling, inputs.out_tokens, health, costs)
        # What the rules and the ranking read: a held conversation's task, so that each turn is decided as its first
        # was (a conversation grows each turn, which alone could move it across a token rule or reorder costs); and
        # no latency on a route that holds conversations, because each instance measures its own.
        task = inputs.task
        ranked, rank_costs = (features, costs) if task is None else (task, self.costs(pool, task, inputs.out_tokens))
        latency = _NO_LATENCY if inputs.affinity else health.latency_ms
        trace: dict[str, Any] | None = (
            {
                "features": features.as_dict(),
                "tier": tier,
                "cost_ceiling_usd": ceiling,
                "max_output_tokens": inputs.out_tokens,
                "candidates": list(candidates),
                "filtered": filtered,
                "rules": [],
            }
            if inputs.explain
            else None
        )
        if not candidates:
            details: dict[str, Any] = {
                "route": route_name,
                "filtered": filtered,
                "tier": tier,
                "cost_ceiling_usd": ceiling,
            }
            waits = {
                k: health.retry_after_s[k]
                for k in filtered
                if k in health.retry_after_s and filtered[k] == health.unavailable.get(k)
            }
            if waits:
                details["retry_after_s"] = waits
            raise NoCapableModel(
                f"no model can serve this request on route '{route_name}': "
                + "; ".join(f"{k}: {v}" for k, v in filtered.items()),
                details=details,
            )
        if trace is not None and task is not None:
            trace["task_features"] = task.as_dict()  # what the rules below read
        if forced:
            choice = self._decision(inputs, forced, None, f"risk policy forced {forced}", costs)
            choice.rule = "risk"
            choice.trace = trace
            return choice
        if cheaper is not None:  # over a soft budget threshold: the cheapest capable model, whatever the rules say
            outcome, why = self._pick(_CHEAPEST, candidates, rank_costs, latency)
            return self._decision(inputs, outcome, BUDGET_SOFT_RULE, f"{cheaper}: {why}", costs, trace)
        for rule, conditions in rules:
            # All conditions must hold, checked inline in configuration order (no per-rule generator or calls);
            # the risk feature, a tuple of matched ids, has set semantics.
            matched = True
            value: Any  # the tier's name, a number, a flag or the tuple of matched risk ids
            for feature, cmp, in_, eq, gt, gte, lt, lte in conditions:
                if feature == "tier":
                    value = tier
                elif feature == "risk":  # a compliance control: it reads the whole conversation
                    value = features.risk
                else:
                    value = getattr(ranked, feature)
                    if value is None:
                        value = 0.0
                if isinstance(value, tuple):
                    matched = _risk_matches(value, cmp)
                else:
                    matched = not (
                        (in_ is not None and value not in in_)
                        or (eq is not None and value != eq)
                        or (gt is not None and not value > gt)
                        or (gte is not None and not value >= gte)
                        or (lt is not None and not value < lt)
                        or (lte is not None and not value <= lte)
                    )
                if not matched:
                    break
            outcome = None
            if matched:
                outcome, why = self._pick(rule.target, candidates, rank_costs, latency)
            if trace is not None:
                trace["rules"].append(
                    {
                        "id": rule.id,
                        "matched": matched,
                        **({"result": outcome or "skipped", "why": why} if matched else {}),
                    }
                )
            if outcome is not None:
                return self._decision(inputs, outcome, rule.id, f"rule {rule.id}: {why}", costs, trace)
        outcome, why = self._pick(policy.default, candidates, rank_costs, latency)
        if outcome is None:
            # The default target is unavailable: serve the best remaining candidate rather than fail.
            outcome, why = self._pick(_CHEAPEST, candidates, rank_costs, latency)
            why = f"default target unavailable; {why}"
        return self._decision(inputs, outcome, None, f"default: {why}", costs, trace)

    def _pick(
        self, target: Target, candidates: list[str], costs: dict[str, float], latency: Mapping[str, float]
    ) -> tuple[str | None, str]:
        if target.model is not None:
            if target.model in candidates:
                return target.model, f"target {target.model}"
            return None, f"target {target.model} is not a capable candidate"
        if target.prompt_router is not None:
            router = self.config.prompt_routers[target.prompt_router]
            missing = [m for m in router.models if m not in candidates]
            if missing or not self._router_arns[target.prompt_router]:
                why = f"models {missing} not capable" if missing else "no prompt-router ARN configured"
                return None, f"prompt router {target.prompt_router} skipped: {why}"
            return target.prompt_router, f"prompt router {target.prompt_router}"
        pool = candidates
        note = ""
        # With no latency data every candidate is inside its SLO (0 <= slo), so nothing would change.
        if target.prefer_within_slo and latency:
            rows = self._rows
            inside = [k for k in candidates if latency.get(k, 0.0) <= rows[k].latency_slo_ms]
            if inside and len(inside) < len(candidates):
                note = " (within latency SLO)"
                pool = inside

        if target.strategy == "cheapest_capable":
            # Same as min(pool, key=lambda k: (costs[k], -quality, k)) (keys are unique, so the same winner),
            # without a Python call per candidate.
            rows = self._rows
            best = min([(costs[k], -rows[k].quality, k) for k in pool])[2]
        elif target.strategy == "strongest_within_budget":
            rows = self._rows
            best = min([(-rows[k].quality, costs[k], k) for k in pool])[2]
        else:  # fastest_within_slo
            rows = self._rows
            best = min(pool, key=lambda k: (latency.get(k, rows[k].latency_slo_ms), costs[k], k))
        return best, f"{target.strategy}{note} -> {best}"

    def _decision(
        self,
        inputs: DecisionInputs,
        key: str | None,
        rule_id: str | None,
        reason: str,
        costs: dict[str, float],
        trace: dict | None = None,
    ) -> Decision:
        assert key is not None  # _pick found no model only where its caller falls back to another target
        if key in self._router_arns:  # a prompt router
            decision = Decision(
                route=inputs.route_name,
                mode=inputs.mode,
                model=key,
                model_id=self._router_arns[key],
                reason=reason,
                rule=rule_id,
                is_prompt_router=True,
                trace=trace,
            )
            # Billed as whichever member answers; the estimate (and the ceiling check) assumes the dearest.
            decision.estimated_cost_usd = max(costs[m] for m in self.config.prompt_routers[key].models)
        else:
            decision = Decision(
                route=inputs.route_name,
                mode=inputs.mode,
                model=key,
                model_id=self._model_ids[key],
                reason=reason,
                rule=rule_id,
                trace=trace,
                estimated_cost_usd=costs[key],
            )
        if trace is not None:
            trace["choice"] = {
                "model": key,
                "model_id": decision.model_id,
                "rule": rule_id,
                "reason": reason,
                "estimated_cost_usd": decision.estimated_cost_usd,
            }
        return decision

    # --- fallback ----------------------------------------------------------------------------

    def fallbacks(self, decision: Decision, features, tier, max_cost_usd, health: Health = HEALTHY) -> tuple[str, ...]:
        """Models to try after the choice: the configured chain, else every other capable model by closeness in
        quality. Computed only when the first attempt fails (or for a dry run), so the happy path never pays for it."""
        return self._capable_fallbacks(decision, features, tier, self.cost_ceiling(tier, max_cost_usd), health)

    def _fallbacks(self, decision: Decision, inputs: DecisionInputs) -> tuple[str, ...]:
        return self._capable_fallbacks(decision, inputs.features, inputs.tier, inputs.ceiling, inputs.health)

    def _capable_fallbacks(
        self, decision: Decision, features: RequestFeatures, tier: str, ceiling: float | None, health: Health
    ) -> tuple[str, ...]:
        models = self.config.models
        route = self.config.routes.get(decision.route)
        configured = route.fallbacks if route is not None and route.fallbacks else None
        if decision.is_prompt_router:
            members = self.config.prompt_routers[decision.model].models
            configured = configured or tuple(fb for m in members for fb in models[m].fallbacks if fb not in members)
            anchor = max(models[m].quality for m in members)
        else:
            configured = configured or models[decision.model].fallbacks
            anchor = models[decision.model].quality
        if configured:
            pool = [m for m in dict.fromkeys(configured) if m != decision.model]
        else:
            pool = sorted(
                (m for m in models if m != decision.model), key=lambda m: (abs(models[m].quality - anchor), m)
            )
        if decision.rule == BUDGET_RULE and decision.estimated_cost_usd is not None:
            # over budget, a failing fallback model may only hand over to models no dearer than itself
            dearest = decision.estimated_cost_usd
            pool = [m for m, cost in self.costs(pool, features, decision.out_tokens).items() if cost <= dearest]
        capable, _ = self.filter_candidates(pool, features, tier, ceiling, decision.out_tokens, health)
        return tuple(capable)
