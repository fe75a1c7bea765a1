"""The routing configuration: one pydantic model used everywhere.

The same classes validate the file at synth time, generate the JSON Schema that AppConfig's validator
enforces, validate every fetched configuration at run time and drive the local server. Pure code: no AWS
imports. One module per concern:

- base: the strict base model and the key syntax
- catalog: models, their prices and capabilities, prompt routers
- geography: which inference profile serves which Region, which model offers which (with sources)
- routes: routes, dynamic policies and their rules, labelling, risk patterns
- limits: tiers, budgets, resilience, request limits
- scorers: the weights of complexity scorers
- routing: RoutingConfig, the `routing` profile as a whole
- learned: LearnedScorers, the `learned-scorers` profile, and how it applies to a routing configuration
- checks: the cross-reference checks RoutingConfig runs
- flags: the `failover-flags` profile
- loading: parsing a document (ConfigError names the field)
- schema: the draft-04 JSON Schemas AppConfig validates with

Everything public is importable from here.
"""

from routing_engine.config.base import KEY_PATTERN, Key, StrictModel
from routing_engine.config.catalog import Modality, ModelSpec, Price, PromptRouterSpec
from routing_engine.config.flags import FailoverFlags, ModelFlag
from routing_engine.config.learned import (
    EMPTY_LEARNED,
    Effective,
    LearnedRoute,
    LearnedScorers,
    apply_learned,
    learned_scorer_name,
)
from routing_engine.config.limits import Budget, Limits, Resilience, Tier
from routing_engine.config.loading import (
    ConfigError,
    content_version,
    parse_failover_flags,
    parse_learned_scorers,
    parse_routing_config,
    resolve_routing_document,
)
from routing_engine.config.routes import (
    BOOLEAN_FEATURES,
    NUMERIC_FEATURES,
    Comparison,
    DynamicPolicy,
    FeatureName,
    Labelling,
    RiskPattern,
    Route,
    RouteMode,
    Rule,
    Strategy,
    Target,
)
from routing_engine.config.routing import RoutingConfig
from routing_engine.config.schema import flags_json_schema, learned_json_schema, routing_json_schema
from routing_engine.config.scorers import DenseWeights, HashedWeights, ScorerSpec

__all__ = [
    "BOOLEAN_FEATURES",
    "KEY_PATTERN",
    "NUMERIC_FEATURES",
    "Budget",
    "Comparison",
    "ConfigError",
    "DenseWeights",
    "EMPTY_LEARNED",
    "DynamicPolicy",
    "Effective",
    "FailoverFlags",
    "FeatureName",
    "HashedWeights",
    "Key",
    "Labelling",
    "LearnedRoute",
    "LearnedScorers",
    "Limits",
    "Modality",
    "ModelFlag",
    "ModelSpec",
    "Price",
    "PromptRouterSpec",
    "Resilience",
    "RiskPattern",
    "Route",
    "RouteMode",
    "RoutingConfig",
    "Rule",
    "ScorerSpec",
    "Strategy",
    "StrictModel",
    "Target",
    "Tier",
    "apply_learned",
    "content_version",
    "flags_json_schema",
    "learned_json_schema",
    "learned_scorer_name",
    "parse_failover_flags",
    "parse_learned_scorers",
    "parse_routing_config",
    "resolve_routing_document",
    "routing_json_schema",
]
