"""Bedrock Converse behind a small seam: one client per region, errors sorted into retryable or not."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

# Converse error code -> (retry on another model?, HTTP status for the caller, machine-readable code, hint)
ERROR_CLASSES: dict[str, tuple[bool, int, str, str]] = {
    "ValidationException": (False, 400, "model_validation_error", "the model rejected the request as invalid"),
    "AccessDeniedException": (
        False,
        502,
        "model_access_denied",
        "the router may not call this model: enable model access in the Bedrock console for this account and "
        "region, and check that the router's IAM role allows bedrock:InvokeModel on it",
    ),
    "ResourceNotFoundException": (True, 502, "model_not_found", "the model id is unknown in this region"),
    "ThrottlingException": (True, 429, "model_throttled", "the model is throttling requests; retry later"),
    "ServiceQuotaExceededException": (True, 429, "model_quota_exceeded", "a Bedrock quota is exhausted"),
    "ModelNotReadyException": (True, 503, "model_not_ready", "the model is not ready to serve; retry later"),
    "ModelTimeoutException": (True, 504, "model_timeout", "the model took too long to answer"),
    "ModelErrorException": (True, 502, "model_error", "the model failed while processing the request"),
    "InternalServerException": (True, 502, "model_internal_error", "Bedrock had an internal error"),
    "ServiceUnavailableException": (True, 503, "model_unavailable", "Bedrock is unavailable"),
}
TIMEOUT_CLASS = (True, 504, "model_timeout", "no answer from Bedrock within the time left for this request")
UNKNOWN_CLASS = (True, 502, "model_error", "Bedrock returned an unexpected error")


def classify(error_class: str) -> tuple[bool, int, str, str]:
    """(retry on another model?, HTTP status, error code, hint) for a Converse error code or "Timeout"."""
    if error_class == "Timeout":
        return TIMEOUT_CLASS
    return ERROR_CLASSES.get(error_class, UNKNOWN_CLASS)


class ModelCallError(Exception):
    def __init__(self, error_class: str, message: str, *, latency_ms: float):
        retryable, status, code, hint = classify(error_class)
        super().__init__(message)
        self.error_class = error_class
        self.retryable = retryable
        self.status = status
        self.code = code
        self.hint = hint
        self.message = message
        self.latency_ms = latency_ms


@dataclass(frozen=True, slots=True)
class ModelCall:
    model_id: str
    region: str | None
    messages: list
    system: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tool_config: dict | None = None


@dataclass(frozen=True, slots=True)
class ModelReply:
    text: str
    content: list
    stop_reason: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    invoked_model_id: str | None  # set by prompt routers: the model that actually answered


ClientFactory = Callable[[str | None, float], object]


class BedrockConverse:
    """Calls Converse with a per-attempt timeout; clients are cached per (region, timeout in whole seconds)."""

    def __init__(self, client_factory: ClientFactory, clock: Callable[[], float] = time.perf_counter):
        self._factory = client_factory
        self._clients: dict[tuple[str | None, int], object] = {}
        self._clock = clock

    def client(self, region: str | None, timeout_s: float):
        key = (region, max(1, math.ceil(timeout_s)))
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._factory(region, key[1])
        return client

    def converse(self, call: ModelCall, timeout_s: float) -> ModelReply:
        request: dict = {"modelId": call.model_id, "messages": call.messages}
        if call.system:
            request["system"] = [{"text": call.system}]
        inference: dict = {"maxTokens": call.max_tokens}
        if call.temperature is not None:
            inference["temperature"] = call.temperature
        if call.top_p is not None:
            inference["topP"] = call.top_p
        if call.stop:
            inference["stopSequences"] = list(call.stop)
        request["inferenceConfig"] = inference
        if call.tool_config:
            request["toolConfig"] = call.tool_config
        # botocore is imported here, not at module import: the handler module stays light and the SDK
        # loads with the first client (its exceptions are cached in sys.modules from then on).
        from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, ParamValidationError
        from botocore.exceptions import ReadTimeoutError

        client = self.client(call.region, timeout_s)
        started = self._clock()
        try:
            response = client.converse(**request)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise ModelCallError(
                err.get("Code", "Unknown"), err.get("Message", str(exc)), latency_ms=(self._clock() - started) * 1000
            ) from exc
        except (ReadTimeoutError, BotoConnectionError) as exc:
            raise ModelCallError("Timeout", str(exc), latency_ms=(self._clock() - started) * 1000) from exc
        except (ParamValidationError, UnicodeEncodeError) as exc:  # refused before it was sent: the request is bad
            raise ModelCallError("ValidationException", str(exc)[:500],
                                 latency_ms=(self._clock() - started) * 1000) from exc
        elapsed = (self._clock() - started) * 1000
        return parse_converse_response(response, elapsed)


def parse_converse_response(response: dict, elapsed_ms: float) -> ModelReply:
    content = response.get("output", {}).get("message", {}).get("content", [])
    text = "".join(block.get("text", "") for block in content if "text" in block)
    usage = response.get("usage", {})
    invoked = response.get("trace", {}).get("promptRouter", {}).get("invokedModelId")
    return ModelReply(
        text=text,
        content=content,
        stop_reason=response.get("stopReason", "end_turn"),
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        latency_ms=float(response.get("metrics", {}).get("latencyMs", elapsed_ms)),
        invoked_model_id=invoked,
    )


def boto3_client_factory(default_region: str | None = None) -> ClientFactory:
    """Real clients: no SDK retries (the router fails over to another model instead, inside one deadline; botocore
    would otherwise repeat a read timeout, tripling a hanging call) and tight timeouts."""
    import boto3
    from botocore.config import Config

    def make(region: str | None, timeout_s: float):
        config = Config(
            connect_timeout=2,
            read_timeout=timeout_s,
            retries={"total_max_attempts": 1, "mode": "standard"},
            user_agent_extra="model-router",
        )
        return boto3.client("bedrock-runtime", region_name=region or default_region, config=config)

    return make
