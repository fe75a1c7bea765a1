"""The labeller's adapters, built from the environment: the labels table and Bedrock (through the Converse
adapter it shares with the router, aws_adapters.bedrock). Clients are injected; boto3's by default."""

from __future__ import annotations

from collections.abc import Callable

from aws_adapters.bedrock import BedrockConverse, ModelCall, ModelCallError
from labeller.labelling import Converse, ModelRejected
from labeller.settings import CALL_ATTEMPTS, CALL_TIMEOUT_S, CONNECT_TIMEOUT_S, LabellerSettings, region_from_env
from labeller.store import LabelStore, dynamodb_client

# Errors that no retry clears: the request is invalid for the model (ValidationException: too long for its
# context, say), the labeller may not call it (AccessDeniedException: a judge added to the catalog after the
# labeller's IAM policy was deployed, or model access not enabled) or it does not exist in the region
# (ResourceNotFoundException). The router fails over on the last two (another model may serve the caller); the
# labeller has no other model to ask, and a redelivery would only buy the other model's answer again.
FINAL_ERROR_CLASSES = frozenset({"ValidationException", "AccessDeniedException", "ResourceNotFoundException"})


def is_final(exc: ModelCallError) -> bool:
    """A failure that retrying the sample cannot fix: those above, and any the router's adapter does not retry."""
    return exc.error_class in FINAL_ERROR_CLASSES or not exc.retryable


def bedrock_converse(
    invoker: BedrockConverse, *, default_region: str | None = None, timeout_s: float = CALL_TIMEOUT_S
) -> Converse:
    """The labelling logic's `converse` callable over the router's BedrockConverse. A failure no retry can fix
    (`is_final`: refused as invalid, access denied, unknown model) is ModelRejected, which is not retried; every
    other failure (throttling, timeouts, 5xx) raises as it is, so the batch item is retried and finally
    dead-lettered. `inference`: the caller's stop sequences, temperature and top_p, when the sample has them."""

    def converse(
        model_key: str,
        model_id: str,
        region: str | None,
        system: str | None,
        messages: list,
        max_tokens: int,
        /,
        *,
        inference: dict | None = None,
    ) -> tuple[str, int, int]:
        settings = inference or {}
        call = ModelCall(
            model_id=model_id,
            region=region or default_region,
            messages=messages,
            system=system,
            max_tokens=max_tokens,
            temperature=settings.get("temperature"),
            top_p=settings.get("top_p"),
            stop=tuple(settings.get("stop") or ()),
            sampling=settings.get("sampling") or "temperature_and_top_p",
        )
        try:
            reply = invoker.converse(call, timeout_s)
        except ModelCallError as exc:
            if is_final(exc):
                raise ModelRejected(
                    f"{model_key} refused the request: {exc.error_class}: {exc.message}"[:300], exc.error_class
                ) from exc
            raise
        return reply.text, reply.input_tokens, reply.output_tokens

    return converse


def bedrock_client_factory(default_region: str | None = None) -> Callable[[str | None, float], object]:
    """bedrock-runtime clients with standard retries (unlike the router, which fails over instead: here a
    throttled call may as well wait and try again)."""

    def make(region: str | None, timeout_s: float):
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=timeout_s,
            user_agent_extra="model-router-labeller",
            retries={"total_max_attempts": CALL_ATTEMPTS, "mode": "standard"},
        )
        return boto3.client("bedrock-runtime", region_name=region or default_region, config=config)

    return make


def store_from_env(env: dict, client=None) -> LabelStore:
    settings = LabellerSettings.from_env(env)
    return LabelStore(settings.table_name, client if client is not None else dynamodb_client(settings.region))


def converse_from_env(env: dict, client_factory=None) -> Converse:
    region = region_from_env(env)
    return bedrock_converse(BedrockConverse(client_factory or bedrock_client_factory(region)), default_region=region)
