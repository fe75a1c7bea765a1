"""Cross-reference checks of a routing configuration: what no single field can check by itself (a route names a
model that exists, a rule can match, a labelled route has two models to compare, a scorer compiles).

Each check returns messages that start with the path of the field at fault, so an operator can find it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from routing_engine.config.limits import Budget
from routing_engine.config.routes import (
    BOOLEAN_FEATURES,
    NUMERIC_FEATURES,
    Comparison,
    DynamicPolicy,
    Route,
    Target,
    complexity_floor,
    labelled_rule,
)
from routing_engine.scorer import BUNDLED_NAME, Scorer, ScorerError

if TYPE_CHECKING:  # the checks run inside RoutingConfig's own validator: a runtime import would be circular
    from routing_engine.config.routing import RoutingConfig


def scorer_problems(cfg: RoutingConfig) -> tuple[list[str], dict[str, Scorer]]:
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
    rule = labelled_rule(policy, lab)
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
    elif complexity_floor(rule) is None:
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
    if rule is not None and complexity_floor(rule) is not None:
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


def reference_problems(cfg: RoutingConfig):
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
