"""The router's environment variables, read and checked once when the app starts (`RouterSettings.from_env`).

The names are constants here, and `stacks/router_stack.py` sets the router's environment with them, so the stack
and the code cannot drift apart. This module imports nothing but the standard library: the CDK app imports it.
Powertools reads its own variables (POWERTOOLS_*) itself; router.observability follows them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Set by the stack in Lambda.
APPCONFIG_APPLICATION_ID = "APPCONFIG_APPLICATION_ID"
APPCONFIG_ENVIRONMENT_ID = "APPCONFIG_ENVIRONMENT_ID"  # the routing configuration's environment
APPCONFIG_PROFILE_ID = "APPCONFIG_PROFILE_ID"  # ... and profile
APPCONFIG_LEARNED_PROFILE_ID = "APPCONFIG_LEARNED_PROFILE_ID"  # learned-scorers, in the routing environment
APPCONFIG_FLAGS_ENVIRONMENT_ID = "APPCONFIG_FLAGS_ENVIRONMENT_ID"  # the failover flags' environment
APPCONFIG_FLAGS_PROFILE_ID = "APPCONFIG_FLAGS_PROFILE_ID"  # ... and profile
CONFIG_MAX_AGE_SECONDS = "CONFIG_MAX_AGE_SECONDS"  # how long the routing configuration is cached
FLAGS_MAX_AGE_SECONDS = "FLAGS_MAX_AGE_SECONDS"  # how long the failover flags are cached
SPEND_TABLE_NAME = "SPEND_TABLE_NAME"  # budgets are enforced only with a spend table
ROUTER_MAX_REQUEST_SECONDS = "ROUTER_MAX_REQUEST_SECONDS"  # the function's timeout: no request outlives it
LABEL_QUEUE_URL = "LABEL_QUEUE_URL"  # label sampling is off without it
PROMPT_ROUTER_ARN = "PROMPT_ROUTER_ARN"  # the stack's prompt router, for routes that name none of their own
AUTH_MODE = "AUTH_MODE"  # how API Gateway authenticates callers (api_key or iam): for a person reading the function
# Set by hand, or by local mode.
ROUTER_CONFIG_FILE = "ROUTER_CONFIG_FILE"  # the routing configuration from a file instead of AppConfig
ROUTER_FLAGS_FILE = "ROUTER_FLAGS_FILE"  # the failover flags from a file (absent file: no flags)
ROUTER_LEARNED_FILE = "ROUTER_LEARNED_FILE"  # learned scorers from a file (absent file: none)
BUDGET_CACHE_SECONDS = "BUDGET_CACHE_SECONDS"  # how long a read of the spend table is trusted
LABEL_SAMPLE_SEED = "LABEL_SAMPLE_SEED"  # a fixed label-sampling draw, for repeatable local runs
# Set by Lambda itself.
AWS_REGION = "AWS_REGION"
AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
AWS_LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"

DEFAULT_CONFIG_MAX_AGE_S = 45
DEFAULT_FLAGS_MAX_AGE_S = 10


class SettingsError(RuntimeError):
    """A missing or malformed environment variable; the message names it."""


@dataclass(frozen=True)
class AppConfigIds:
    application_id: str
    environment_id: str
    profile_id: str


@dataclass(frozen=True)
class RouterSettings:
    region: str | None
    in_lambda: bool  # behind the Lambda Web Adapter: callers are who API Gateway says they are
    config_file: str | None  # routing configuration from this file, else `routing` from AppConfig
    routing: AppConfigIds | None
    flags_file: str | None  # failover flags from this file, else `flags` from AppConfig, else none
    flags: AppConfigIds | None
    learned_file: str | None = None  # learned scorers from this file, else `learned` from AppConfig, else none
    learned: AppConfigIds | None = None
    config_max_age_s: int = DEFAULT_CONFIG_MAX_AGE_S
    flags_max_age_s: int = DEFAULT_FLAGS_MAX_AGE_S
    prompt_router_arn: str | None = None
    max_request_s: float | None = None
    spend_table_name: str | None = None
    budget_cache_s: float | None = None  # None: the budget guard's own default (router.budgets)
    label_queue_url: str | None = None
    label_sample_seed: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RouterSettings:
        env = {name: value for name, value in environ.items() if value}  # an empty variable counts as unset
        config_file = env.get(ROUTER_CONFIG_FILE)
        routing = None
        if not config_file:
            routing = AppConfigIds(
                _required(env, APPCONFIG_APPLICATION_ID),
                _required(env, APPCONFIG_ENVIRONMENT_ID),
                _required(env, APPCONFIG_PROFILE_ID),
            )
        flags_file = env.get(ROUTER_FLAGS_FILE)
        flags = None
        if not flags_file and APPCONFIG_FLAGS_ENVIRONMENT_ID in env and APPCONFIG_FLAGS_PROFILE_ID in env:
            flags = AppConfigIds(
                _required(env, APPCONFIG_APPLICATION_ID),
                env[APPCONFIG_FLAGS_ENVIRONMENT_ID],
                env[APPCONFIG_FLAGS_PROFILE_ID],
            )
        learned_file = env.get(ROUTER_LEARNED_FILE)
        learned = None
        if not learned_file and routing is not None and APPCONFIG_LEARNED_PROFILE_ID in env:
            learned = AppConfigIds(routing.application_id, routing.environment_id, env[APPCONFIG_LEARNED_PROFILE_ID])
        label_queue_url = env.get(LABEL_QUEUE_URL)
        seed = env.get(LABEL_SAMPLE_SEED) if label_queue_url else None  # it seeds the draw of a label queue's samples
        if seed and not seed.lstrip("-").isdigit():
            raise SettingsError(f"{LABEL_SAMPLE_SEED} must be an integer (a fixed sampling seed), not {seed!r}")
        max_request = env.get(ROUTER_MAX_REQUEST_SECONDS)
        budget_cache = env.get(BUDGET_CACHE_SECONDS)
        return cls(
            region=env.get(AWS_REGION) or env.get(AWS_DEFAULT_REGION),
            in_lambda=AWS_LAMBDA_FUNCTION_NAME in env,
            config_file=config_file,
            routing=routing,
            flags_file=flags_file,
            flags=flags,
            learned_file=learned_file,
            learned=learned,
            config_max_age_s=int(env.get(CONFIG_MAX_AGE_SECONDS, DEFAULT_CONFIG_MAX_AGE_S)),
            flags_max_age_s=int(env.get(FLAGS_MAX_AGE_SECONDS, DEFAULT_FLAGS_MAX_AGE_S)),
            prompt_router_arn=env.get(PROMPT_ROUTER_ARN),
            max_request_s=float(max_request) if max_request else None,
            spend_table_name=env.get(SPEND_TABLE_NAME),
            budget_cache_s=float(budget_cache) if budget_cache else None,
            label_queue_url=label_queue_url,
            label_sample_seed=int(seed) if seed else None,
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise SettingsError(f"environment variable {name} is required (set by the CDK stack)")
    return value
