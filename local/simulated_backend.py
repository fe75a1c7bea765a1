"""A simulated Bedrock Converse client for local mode and tests. Nothing here calls a real model.

It answers like Converse does (same response shape, same error codes), so the
router's real Bedrock adapter, error mapping and fallback code all run locally.
Every answer says it is simulated. Latency comes from each model's
`simulated_latency_ms` in the routing configuration (times LOCAL_LATENCY_SCALE).

Fault injection (LOCAL_FAULTS), comma-separated, each key a model alias or a model id:
    claude-haiku=ThrottlingException:1.0     that error on every call (rate 0..1)
    claude-sonnet=latency:3000               3,000 ms added to every call
    claude-sonnet=latency:3000:0.5           ... to half of the calls
    nova-pro=Timeout                         a read timeout (rate defaults to 1.0)
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError, ReadTimeoutError

from router.adapters.bedrock import ERROR_CLASSES
from routing_engine.complexity import complexity_score
from routing_engine.config import RoutingConfig

SIMULATED_TAG = "[SIMULATED]"
ERROR_STATUS = {
    "ValidationException": 400, "AccessDeniedException": 403, "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408, "ModelErrorException": 424, "ModelNotReadyException": 429,
    "ThrottlingException": 429, "ServiceQuotaExceededException": 429, "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
KNOWN_FAULTS = set(ERROR_CLASSES) | {"Timeout", "latency"}


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # an error class, "Timeout" or "latency"
    rate: float = 1.0
    latency_ms: float = 0.0


def parse_faults(spec: str | None) -> dict[str, list[Fault]]:
    """Parse LOCAL_FAULTS; raise FaultSpecError naming the bad entry."""
    faults: dict[str, list[Fault]] = {}
    for entry in (spec or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise FaultSpecError(f"LOCAL_FAULTS entry '{entry}' is not KEY=FAULT[:RATE]")
        parts = value.strip().split(":")
        kind = parts[0]
        if kind not in KNOWN_FAULTS:
            raise FaultSpecError(
                f"LOCAL_FAULTS entry '{entry}': unknown fault '{kind}' (known: {', '.join(sorted(KNOWN_FAULTS))})"
            )
        try:
            if kind == "latency":
                if len(parts) < 2:
                    raise ValueError
                fault = Fault("latency", float(parts[2]) if len(parts) > 2 else 1.0, float(parts[1]))
            else:
                fault = Fault(kind, float(parts[1]) if len(parts) > 1 else 1.0)
        except ValueError:
            raise FaultSpecError(f"LOCAL_FAULTS entry '{entry}': numbers expected after '{kind}:'") from None
        if not 0.0 <= fault.rate <= 1.0 or fault.latency_ms < 0:
            raise FaultSpecError(f"LOCAL_FAULTS entry '{entry}': rate must be within [0, 1] and latency >= 0")
        faults.setdefault(key.strip(), []).append(fault)
    return faults


class SimulatedBedrock:
    """Stands in for a boto3 `bedrock-runtime` client: only `converse` is implemented."""

    def __init__(
        self,
        config: Callable[[], RoutingConfig],
        *,
        faults: dict[str, list[Fault]] | None = None,
        latency_scale: float = 1.0,
        read_timeout_s: float | None = None,
        seed: int = 7,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._config = config
        self.faults = faults or {}
        self.latency_scale = latency_scale
        self.read_timeout_s = read_timeout_s
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._sleep = sleep
        self.calls: list[str] = []  # model keys called, in order (tests and demos read it)

    def with_timeout(self, read_timeout_s: float) -> SimulatedBedrock:
        clone = SimulatedBedrock(self._config, faults=self.faults, latency_scale=self.latency_scale,
                                 read_timeout_s=read_timeout_s, sleep=self._sleep)
        clone._random, clone._lock, clone.calls = self._random, self._lock, self.calls
        return clone

    def _roll(self, rate: float) -> bool:
        if rate >= 1.0:
            return True
        with self._lock:
            return self._random.random() < rate

    def _lookup(self, model_id: str):
        config = self._config()
        for key, spec in config.models.items():
            if spec.model_id == model_id:
                return key, spec, None
        for key, router in config.prompt_routers.items():
            if router.arn == model_id or (router.arn is None and ":prompt-router/" in model_id):
                return key, None, router
        raise ClientError(
            {"Error": {"Code": "ResourceNotFoundException", "Message": f"simulated backend: no model {model_id}"},
             "ResponseMetadata": {"HTTPStatusCode": 404}},
            "Converse",
        )

    def converse(self, **request) -> dict:
        model_id = request["modelId"]
        key, spec, router = self._lookup(model_id)
        text_in = _user_text(request.get("messages", []))
        trace = None
        if router is not None:
            # Like Intelligent Prompt Routing: the stronger model for harder prompts.
            config = self._config()
            members = sorted(router.models, key=lambda m: config.models[m].quality)
            key = members[-1] if complexity_score(text_in) >= 0.5 else members[0]
            spec = config.models[key]
            trace = {"promptRouter": {"invokedModelId": spec.model_id}}
        self.calls.append(key)
        latency_ms = spec.simulated_latency_ms * self.latency_scale
        for name in (key, spec.model_id):
            for fault in self.faults.get(name, ()):
                if fault.kind == "latency" and self._roll(fault.rate):
                    latency_ms += fault.latency_ms
        if self.read_timeout_s is not None and latency_ms / 1000 > self.read_timeout_s:
            self._sleep(self.read_timeout_s)
            raise ReadTimeoutError(endpoint_url=f"simulated://{key}")
        for name in (key, spec.model_id):
            for fault in self.faults.get(name, ()):
                if fault.kind != "latency" and self._roll(fault.rate):
                    self._sleep(min(latency_ms, 50 * self.latency_scale) / 1000)
                    if fault.kind == "Timeout":
                        raise ReadTimeoutError(endpoint_url=f"simulated://{key}")
                    raise ClientError(
                        {"Error": {"Code": fault.kind, "Message": f"simulated {fault.kind} injected by LOCAL_FAULTS"},
                         "ResponseMetadata": {"HTTPStatusCode": ERROR_STATUS.get(fault.kind, 500)}},
                        "Converse",
                    )
        if latency_ms > 0:
            self._sleep(latency_ms / 1000)
        max_tokens = request.get("inferenceConfig", {}).get("maxTokens", 1024)
        digest = hashlib.sha256(f"{key}\n{text_in}".encode()).hexdigest()
        words = text_in.split()
        answer = (
            f"{SIMULATED_TAG} This is a simulated answer from {spec.display_name or key} ({spec.model_id}); "
            f"no model was called. Your message had {len(words)} words"
            + (f", starting with \"{' '.join(words[:6])}\"" if words else "")
            + f". Fingerprint {digest[:8]}."
        )
        output_tokens = min(max_tokens, math.ceil(len(answer) / 4))
        input_chars = len(text_in) + sum(len(s.get("text", "")) for s in request.get("system", []))
        input_tokens = max(1, math.ceil(input_chars / 4))
        response = {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                      "totalTokens": input_tokens + output_tokens},
            "metrics": {"latencyMs": int(latency_ms)},
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }
        if trace is not None:
            response["trace"] = trace
        return response


def _user_text(messages: list) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            texts = [b["text"] for b in message.get("content", []) if "text" in b]
            if texts:
                return "\n".join(texts)
    return ""


def simulated_client_factory(backend: SimulatedBedrock):
    """A BedrockConverse client factory: one simulated client per timeout, sharing faults and the call log."""

    def make(region: str | None, timeout_s: float):
        return backend.with_timeout(timeout_s)

    return make
