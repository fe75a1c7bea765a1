"""Builds the RouterService from the environment: AppConfig + Bedrock in Lambda, files locally.

Nothing is wired at import time: the app factory (router.http.app.create_app_from_env) or a test calls
`service_from_env`, and the configuration is fetched on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from aws_adapters.bedrock import BedrockConverse, ClientFactory, boto3_client_factory
from router import observability as obs
from router.adapters.config_store import ConfigEvent, LastGoodStore, appconfig_fetcher, file_fetcher
from router.adapters.sample_queue import SqsSampleQueue
from router.adapters.sample_queue import sqs_client as make_sqs_client
from router.adapters.spend_store import DynamoSpendStore, dynamodb_client
from router.budgets import DEFAULT_CACHE_S, BudgetGuard
from router.engine_store import EngineStore
from router.sampling import Sampler, SampleSender
from router.service import RouterService
from router.settings import AppConfigIds, RouterSettings
from routing_engine.config import (
    EMPTY_LEARNED,
    FailoverFlags,
    LearnedScorers,
    RoutingConfig,
    parse_failover_flags,
    parse_learned_scorers,
    parse_routing_config,
)
from routing_engine.engine import Engine

BUNDLED_CONFIG = Path(__file__).parent / "bundled_routing.json"
EMPTY_FLAGS = b'{"models": {}}'


def build_engine(prompt_router_arn: str | None = None) -> Callable[[bytes, str], Engine]:
    """An engine from one routing document alone (no learned scorers)."""
    config_engine = engine_builder(prompt_router_arn)

    def build(raw: bytes, version: str) -> Engine:
        return config_engine(parse_routing_config(raw), version)

    return build


def engine_builder(prompt_router_arn: str | None = None) -> Callable[[RoutingConfig, str], Engine]:
    """An engine from a routing configuration (the learned scorers already applied: router.engine_store)."""

    def build(config: RoutingConfig, version: str) -> Engine:
        return Engine(config, version, prompt_router_arn=prompt_router_arn)

    return build


def build_routing(raw: bytes, _version: str) -> RoutingConfig:
    return parse_routing_config(raw)


def build_learned(raw: bytes, _version: str) -> LearnedScorers:
    """An empty body (AppConfig serves no content while nothing is deployed to the profile) means no learned
    scorers, not a rejected document."""
    return parse_learned_scorers(raw if raw.strip() else EMPTY_LEARNED)


def build_flags(raw: bytes, _version: str) -> FailoverFlags:  # one flags document has no version-specific parts
    return parse_failover_flags(raw)


def report(event: ConfigEvent) -> None:
    """Configuration changes are rare and important: always one log line; a metric for the bad ones."""
    fields = {"store": event.store, "kind": event.kind, "detail": event.message, "config_version": event.version}
    if event.kind == "updated":
        obs.logger.info("configuration loaded", extra=fields)
        return
    if event.kind == "applied":
        obs.logger.info("learned scorers applied", extra=fields)
        return
    if event.kind == "ignored":  # a learned entry that no longer fits its route: the route serves as written
        obs.logger.warning("learned scorer ignored", extra=fields)
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
    env: Mapping[str, str] | None = None,
    spend_client=None,
    sqs_client=None,
) -> RouterService:
    """The service from the environment (`env`, default os.environ), read once as `RouterSettings`."""
    settings = RouterSettings.from_env(os.environ if env is None else env)
    return service_from_settings(
        settings, client_factory=client_factory, backend=backend, spend_client=spend_client, sqs_client=sqs_client
    )


def service_from_settings(
    settings: RouterSettings,
    *,
    client_factory: ClientFactory | None = None,
    backend: str = "bedrock",
    spend_client=None,
    sqs_client=None,
) -> RouterService:
    """`spend_client`: the DynamoDB client for the spend table (default: boto3's, when there is a spend table).
    `sqs_client`: the SQS client for the label queue (default: boto3's, when there is a label queue; without one
    label sampling is off)."""
    region = settings.region
    routing_docs: LastGoodStore[RoutingConfig]
    if settings.config_file:
        routing_docs = LastGoodStore(
            "routing", file_fetcher(settings.config_file), build_routing, source="file", on_event=report
        )
    else:
        assert settings.routing is not None  # RouterSettings requires the AppConfig ids without a file
        bundled = BUNDLED_CONFIG.read_bytes() if BUNDLED_CONFIG.exists() else None
        routing_docs = LastGoodStore(
            "routing",
            _appconfig(settings.routing, settings.config_max_age_s, region),
            build_routing,
            source="appconfig",
            fallback=bundled,
            on_event=report,
        )
    learned = learned_store(settings)
    routing = EngineStore(routing_docs, learned, engine_builder(settings.prompt_router_arn), on_event=report)
    flags = None
    if settings.flags_file:
        flags = LastGoodStore(
            "failover-flags",
            _optional_file(settings.flags_file),
            build_flags,
            source="file",
            fallback=EMPTY_FLAGS,
            on_event=report,
        )
    elif settings.flags is not None:
        flags = LastGoodStore(
            "failover-flags",
            _appconfig(settings.flags, settings.flags_max_age_s, region),
            build_flags,
            source="appconfig",
            fallback=EMPTY_FLAGS,
            on_event=report,
        )
    return RouterService(
        routing,
        BedrockConverse(client_factory or boto3_client_factory(region)),
        flags=flags,
        backend=backend,
        default_region=region,
        max_request_s=settings.max_request_s,
        budgets=budget_guard(settings, spend_client),
        sampler=sampler(settings, sqs_client),
    )


def learned_store(settings: RouterSettings) -> LastGoodStore[LearnedScorers] | None:
    """The learned-scorers profile (a local file, or AppConfig with the routing document's cache age); None when
    neither is set. Until a good one is fetched, and whenever a fetch fails before one was, no route has a learned
    scorer (the empty document); a bad one is rejected and the last good one kept."""
    if settings.learned_file:
        return LastGoodStore(
            "learned-scorers",
            _optional_file(settings.learned_file, EMPTY_LEARNED),
            build_learned,
            source="file",
            fallback=EMPTY_LEARNED,
            on_event=report,
        )
    if settings.learned is not None:
        return LastGoodStore(
            "learned-scorers",
            _appconfig(settings.learned, settings.config_max_age_s, settings.region),
            build_learned,
            source="appconfig",
            fallback=EMPTY_LEARNED,
            on_event=report,
        )
    return None


def budget_guard(settings: RouterSettings, spend_client=None) -> BudgetGuard:
    """Budgets are enforced when there is a spend table; without it a configuration's budgets are reported (one
    warning, and /v1/health) but not enforced."""
    store = None
    if settings.spend_table_name:
        client = spend_client if spend_client is not None else dynamodb_client(settings.region)
        store = DynamoSpendStore(settings.spend_table_name, client)
    cache_s = DEFAULT_CACHE_S if settings.budget_cache_s is None else settings.budget_cache_s
    return BudgetGuard(store, cache_s=cache_s, on_warning=lambda message: obs.logger.warning(message))


def sampler(settings: RouterSettings, sqs_client=None) -> Sampler:
    """Label sampling to the label queue; off without one. `sqs_client`: injected (default: boto3's, made at the
    first send). A fixed seed makes the draw repeatable (local runs)."""
    if not settings.label_queue_url:
        return Sampler(None)
    region = settings.region
    queue = SqsSampleQueue(settings.label_queue_url, sqs_client, client_factory=lambda: make_sqs_client(region))
    return Sampler(SampleSender(queue), seed=settings.label_sample_seed)


def _appconfig(ids: AppConfigIds, max_age_s: int, region: str | None) -> Callable[[], bytes]:
    return appconfig_fetcher(
        application=ids.application_id,
        environment=ids.environment_id,
        profile=ids.profile_id,
        max_age_s=max_age_s,
        client_factory=lambda: _appconfigdata_client(region),
    )


def _optional_file(path: str, empty: bytes = EMPTY_FLAGS) -> Callable[[], bytes]:
    """A flags (or learned-scorers) file that does not exist means none, not an error."""
    fetch = file_fetcher(path)

    def read() -> bytes:
        if not os.path.exists(path):
            return empty
        return fetch()

    return read


def _appconfigdata_client(region: str | None):
    from botocore.config import Config

    from aws_adapters import boto_session

    return boto_session.client(
        "appconfigdata",
        region_name=region,
        config=Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"}),
    )
