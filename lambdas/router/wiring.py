"""Builds the RouterService from the environment: AppConfig + Bedrock in Lambda, files locally.

Nothing is wired at import time: the app factory (router.http.app.create_app_from_env) or a test calls
`service_from_env`, and the configuration is fetched on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from aws_adapters.bedrock import BedrockConverse, ClientFactory, boto3_client_factory
from router import observability as obs
from router.adapters.config_store import ConfigEvent, LastGoodStore, appconfig_fetcher, file_fetcher
from router.adapters.spend_store import DynamoSpendStore, dynamodb_client
from router.budgets import DEFAULT_CACHE_S, BudgetGuard
from router.sampling import sampler_from_env
from router.service import RouterService
from routing_engine.config import FailoverFlags, parse_failover_flags, parse_routing_config
from routing_engine.engine import Engine

BUNDLED_CONFIG = Path(__file__).parent / "bundled_routing.json"
EMPTY_FLAGS = b'{"models": {}}'
DEFAULT_MAX_AGE_S = 45


def build_engine(prompt_router_arn: str | None = None) -> Callable[[bytes, str], Engine]:
    def build(raw: bytes, version: str) -> Engine:
        return Engine(parse_routing_config(raw), version, prompt_router_arn=prompt_router_arn)

    return build


def build_flags(raw: bytes, version: str) -> FailoverFlags:
    return parse_failover_flags(raw)


def report(event: ConfigEvent) -> None:
    """Configuration changes are rare and important: always one log line; a metric for the bad ones."""
    fields = {"store": event.store, "kind": event.kind, "detail": event.message, "config_version": event.version}
    if event.kind == "updated":
        obs.logger.info("configuration loaded", extra=fields)
        return
    obs.logger.error(
        "configuration rejected" if event.kind == "rejected" else "configuration fetch failed", extra=fields
    )
    name = "ConfigRejected" if event.kind == "rejected" else "ConfigFetchFailed"
    obs.emit({"Store": event.store}, {name: ("Count", 1)})


def service_from_env(
    *,
    client_factory: ClientFactory | None = None,
    backend: str = "bedrock",
    env: dict | None = None,
    spend_client=None,
    sqs_client=None,
) -> RouterService:
    """`spend_client`: the DynamoDB client for the spend table (default: boto3's, when SPEND_TABLE_NAME is set).
    `sqs_client`: the SQS client for the label queue (default: boto3's, when LABEL_QUEUE_URL is set; without it
    label sampling is off)."""
    env = dict(os.environ if env is None else env)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    engine_builder = build_engine(env.get("PROMPT_ROUTER_ARN") or None)
    max_age = int(env.get("CONFIG_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_S))
    local_file = env.get("ROUTER_CONFIG_FILE")
    if local_file:
        routing = LastGoodStore("routing", file_fetcher(local_file), engine_builder, source="file", on_event=report)
    else:
        bundled = BUNDLED_CONFIG.read_bytes() if BUNDLED_CONFIG.exists() else None
        routing = LastGoodStore(
            "routing",
            appconfig_fetcher(
                application=_required(env, "APPCONFIG_APPLICATION"),
                environment=_required(env, "APPCONFIG_ENVIRONMENT"),
                profile=_required(env, "APPCONFIG_PROFILE"),
                max_age_s=max_age,
                client_factory=lambda: _appconfigdata_client(region),
            ),
            engine_builder,
            source="appconfig",
            fallback=bundled,
            on_event=report,
        )
    flags = None
    flags_file = env.get("ROUTER_FLAGS_FILE")
    if flags_file:
        flags = LastGoodStore(
            "failover-flags",
            _optional_file(flags_file),
            build_flags,
            source="file",
            fallback=EMPTY_FLAGS,
            on_event=report,
        )
    elif env.get("APPCONFIG_FLAGS_ENVIRONMENT") and env.get("APPCONFIG_FLAGS_PROFILE"):
        flags = LastGoodStore(
            "failover-flags",
            appconfig_fetcher(
                application=_required(env, "APPCONFIG_APPLICATION"),
                environment=env["APPCONFIG_FLAGS_ENVIRONMENT"],
                profile=env["APPCONFIG_FLAGS_PROFILE"],
                max_age_s=int(env.get("FLAGS_MAX_AGE_SECONDS", 10)),
                client_factory=lambda: _appconfigdata_client(region),
            ),
            build_flags,
            source="appconfig",
            fallback=EMPTY_FLAGS,
            on_event=report,
        )
    invoker = BedrockConverse(client_factory or boto3_client_factory(region))
    max_request = env.get("ROUTER_MAX_REQUEST_SECONDS")
    return RouterService(
        routing,
        invoker,
        flags=flags,
        backend=backend,
        default_region=region,
        max_request_s=float(max_request) if max_request else None,
        budgets=budget_guard(env, region, spend_client),
        sampler=sampler_from_env(env, region, sqs_client),
    )


def budget_guard(env: dict, region: str | None, spend_client=None) -> BudgetGuard:
    """Budgets are enforced when SPEND_TABLE_NAME names the spend table; without it a configuration's budgets
    are reported (one warning, and /v1/health) but not enforced."""
    table = env.get("SPEND_TABLE_NAME")
    cache_s = float(env.get("BUDGET_CACHE_SECONDS", DEFAULT_CACHE_S))
    store = None
    if table:
        store = DynamoSpendStore(table, spend_client if spend_client is not None else dynamodb_client(region))
    return BudgetGuard(store, cache_s=cache_s, on_warning=lambda message: obs.logger.warning(message))


def _optional_file(path: str) -> Callable[[], bytes]:
    """A flags file that does not exist means no flags, not an error."""
    fetch = file_fetcher(path)

    def read() -> bytes:
        if not os.path.exists(path):
            return EMPTY_FLAGS
        return fetch()

    return read


def _required(env: dict, name: str) -> str:
    value = env.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is required (set by the CDK stack)")
    return value


def _appconfigdata_client(region: str | None):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "appconfigdata",
        region_name=region,
        config=Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"}),
    )
