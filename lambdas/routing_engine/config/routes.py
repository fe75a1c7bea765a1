"""Routes and how they choose: static routes, dynamic policies (rules over request features), the label loop of
a dynamic route, and the risk patterns a rule or the engine acts on."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from routing_engine.config.base import Key, StrictModel
from routing_engine.patterns import compile_risk_pattern
from routing_engine.scorer import BUNDLED_NAME

RouteMode = Literal["static", "dynamic", "shadow"]
Strategy = Literal["cheapest_capable", "strongest_within_budget", "fastest_within_slo"]

# Features a dynamic rule may test. Numeric ones take gt/gte/lt/lte/eq,
# booleans take eq, the rest (tier, risk) are names and take eq/in.
NUMERIC_FEATURES = ("estimated_tokens", "complexity", "message_count")
BOOLEAN_FEATURES = ("has_images", "has_documents", "uses_tools")
FeatureName = Literal[
    "estimated_tokens", "complexity", "message_count", "has_images", "has_documents", "uses_tools", "tier", "risk"
]


class Comparison(StrictModel):
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


class Target(StrictModel):
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


class Rule(StrictModel):
    id: Key
    description: str = ""
    when: dict[FeatureName, Comparison] = Field(
        default_factory=dict, description="All conditions must hold; empty means always"
    )
    target: Target


class DynamicPolicy(StrictModel):
    candidates: tuple[Key, ...] | None = Field(
        default=None, description="Models this route may choose from; default: the whole catalog"
    )
    rules: tuple[Rule, ...] = ()
    default: Target = Field(default=Target(strategy="cheapest_capable"), description="Used when no rule matches")
    scorer: Key = Field(
        default=BUNDLED_NAME,
        description="The scorer (a key of `scorers`, or bundled) whose score is this route's complexity feature",
    )
    learned: bool = Field(
        default=True,
        description="Use the route's learned scorer from the learned-scorers profile, with the threshold "
        "calibrated for it, when there is one that fits this route; false keeps `scorer` and the rules as written",
    )


class Labelling(StrictModel):
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


class Route(StrictModel):
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
    conversation_affinity: bool = Field(
        default=True,
        description="Dynamic routes: a continuing conversation (earlier assistant turns, tool calls and results) is "
        "decided on its task (system prompt and first user turn) and not on this instance's latency, so every turn "
        "stays on the model that began it unless that model is unhealthy, flagged down or over budget; false "
        "decides each turn afresh",
    )
    auto_cache_points: bool = Field(
        default=False,
        description="Place prompt-cache points for requests that mark none (OpenAI and JSON API clients): after "
        "the tools and the system prompt, and at the end of the latest turn, on models that cache",
    )


class RiskPattern(StrictModel):
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


def labelled_rule(policy: DynamicPolicy, lab: Labelling) -> Rule | None:
    """The rule named by `labelling.rule`, else the first with a complexity lower bound (gte or gt)."""
    if lab.rule is not None:
        return next((r for r in policy.rules if r.id == lab.rule), None)
    return next((r for r in policy.rules if complexity_floor(r) is not None), None)


def complexity_floor(rule: Rule) -> float | None:
    cmp = rule.when.get("complexity")
    if cmp is None:
        return None
    floor = cmp.gte if cmp.gte is not None else cmp.gt
    return None if floor is None or isinstance(floor, bool) else float(floor)
