"""Shared fixtures for the router's handler and end-to-end tests, and how the suite runs.

Everything here is generic (no test-module prefixes) and opt-in, except one autouse
fixture that makes every test offline: fake AWS credentials.

How the suite runs (`make test`, `make test-fast`):
- In parallel with pytest-xdist (`-n 2 --dist loadgroup`, see the Makefile). Tests that share an expensive
  fixture stay on one worker: the infrastructure tests (`infra`: each app is synthesized once per session) and
  each end-to-end module (its module-scoped server or label-loop run).
- `slow` marks a test that takes seconds on its own. `make test` and `make test-fast` run them, first, so the
  workers end together; `pytest -m "not slow"` leaves them out while you iterate.
- Hypothesis profiles: `dev` (the default: a new random draw each run, failures saved in .hypothesis/ and
  replayed first) and `ci` (`.ci/run` sets HYPOTHESIS_PROFILE=ci: the same draw on every run, no example
  database, and a reproduction blob with any failure). Neither has a deadline: on a shared two-core machine an
  example's time says nothing. A test's own `@settings` (max_examples, health checks) wins over the profile.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

# Read at import time by Powertools' Tracer and by router.observability, so set before anything imports them.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ModelRouter")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the items
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        tier = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else None
        if tier == "infra":
            item.add_marker(pytest.mark.xdist_group("infra"))
        elif tier == "e2e":
            item.add_marker(pytest.mark.xdist_group(f"e2e-{path.stem}"))
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: slow ones first


# Handler tests pin their own configuration (the shape of config/routing.json when they were written) so that
# tuning the bundled file does not change what they assert. The e2e tests use the bundled file itself.
ROUTING_CONFIG: dict = {
    "version": "2026-11-26.1",
    "default_route": "faq",
    "models": {
        "claude-haiku": {
            "model_id": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "price": {"input_per_million": 1.0, "output_per_million": 5.0},
            "max_output_tokens": 8192,
            "modalities": ["text", "image", "document"],
            "quality": 60,
            "fallbacks": ["nova-pro", "claude-sonnet"],
        },
        "claude-sonnet": {
            "model_id": "us.anthropic.claude-sonnet-4-6",
            "price": {"input_per_million": 3.0, "output_per_million": 15.0},
            "max_output_tokens": 8192,
            "modalities": ["text", "image", "document"],
            "quality": 80,
            "fallbacks": ["claude-haiku"],
        },
        "claude-opus": {
            "model_id": "us.anthropic.claude-opus-4-6-v1",
            "price": {"input_per_million": 5.0, "output_per_million": 25.0},
            "max_output_tokens": 8192,
            "modalities": ["text", "image", "document"],
            "quality": 95,
            "fallbacks": ["claude-sonnet"],
        },
        "nova-pro": {
            "model_id": "us.amazon.nova-pro-v1:0",
            "price": {"input_per_million": 0.8, "output_per_million": 3.2},
            "context_window": 300000,
            "max_output_tokens": 5000,
            "modalities": ["text", "image", "document"],
            "quality": 55,
            "fallbacks": ["claude-haiku"],
        },
    },
    "routes": {
        "faq": {"model": "claude-haiku", "max_tokens": 512},
        "tech_support": {"model": "claude-sonnet", "max_tokens": 2048},
        "creative": {"model": "claude-opus", "max_tokens": 4096, "temperature": 0.9},
        "analytics": {"model": "nova-pro", "max_tokens": 2048},
    },
    "aliases": {"default": "faq"},
    "tiers": {"standard": {"max_cost_per_request_usd": 0.5}},
    "default_tier": "standard",
}

OFFLINE_ENV = {
    "POWERTOOLS_SERVICE_NAME": "model-router",
    "POWERTOOLS_METRICS_NAMESPACE": "ModelRouter",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@functools.cache
def _aws_session():
    import boto3

    return boto3.session.Session(region_name="us-east-1")


def aws_client(service: str):
    """A boto3 client from one session for the whole run. mock_aws() resets boto3's default session, so each
    boto3.client() under it would load the service's models from disk again (about 0.2 s a client); moto
    intercepts these clients all the same, and each mock_aws() still starts from empty backends."""
    return _aws_session().client(service)


@pytest.fixture(autouse=True)
def offline_aws(monkeypatch):
    """Fake credentials so no test can use real ones, and the Powertools settings the router expects."""
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)


# --- the Lambda context (for the handler-based Lambdas) -----------------------------------------


class FakeLambdaContext:
    function_name = "model-router"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:model-router"
    log_group_name = "/aws/lambda/model-router"
    log_stream_name = "2026/01/01/[$LATEST]abc"

    def __init__(self, remaining_ms: int = 29_000):
        self.aws_request_id = str(uuid.uuid4())
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


# --- a scriptable Converse client ----------------------------------------------------------------


def converse_response(
    text: str = "Hello from the fake model.",
    *,
    input_tokens: int = 100,
    output_tokens: int = 20,
    stop_reason: str = "end_turn",
    content: list | None = None,
    latency_ms: int = 42,
    invoked_model_id: str | None = None,
) -> dict:
    """A Converse response in the service's shape."""
    response = {
        "output": {"message": {"role": "assistant", "content": content if content is not None else [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": latency_ms},
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    if invoked_model_id is not None:
        response["trace"] = {"promptRouter": {"invokedModelId": invoked_model_id}}
    return response


def converse_error(code: str, message: str = "", status: int = 400):
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": code, "Message": message or f"{code} from the fake"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Converse",
    )


def response_events(response: dict, *, chunk: int = 4) -> list[dict]:
    """The ConverseStream events Bedrock would send for a Converse response: text in small deltas, each tool call
    as a start and its input JSON in two fragments, then the stop and the metadata."""
    events: list[dict] = [{"messageStart": {"role": "assistant"}}]
    for index, block in enumerate(response["output"]["message"]["content"]):
        if "text" in block:
            text = block["text"]
            for i in range(0, len(text), chunk):
                events.append(
                    {"contentBlockDelta": {"contentBlockIndex": index, "delta": {"text": text[i : i + chunk]}}}
                )
        elif "toolUse" in block:
            use = block["toolUse"]
            events.append(
                {
                    "contentBlockStart": {
                        "contentBlockIndex": index,
                        "start": {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}},
                    }
                }
            )
            raw = json.dumps(use.get("input", {}))
            half = len(raw) // 2
            for part in (raw[:half], raw[half:]):
                events.append(
                    {"contentBlockDelta": {"contentBlockIndex": index, "delta": {"toolUse": {"input": part}}}}
                )
        events.append({"contentBlockStop": {"contentBlockIndex": index}})
    events.append({"messageStop": {"stopReason": response.get("stopReason", "end_turn")}})
    metadata = {"usage": response["usage"], "metrics": response.get("metrics", {"latencyMs": 1})}
    if "trace" in response:
        metadata["trace"] = response["trace"]
    events.append({"metadata": metadata})
    return events


class Pause:
    """An item of a scripted event list: the fake stream waits this long (a slow model) before the next event."""

    def __init__(self, seconds: float):
        self.seconds = seconds


class FakeEventStream:
    """Iterable like botocore's EventStream; `close()` is recorded (a disconnected client must stop the model)."""

    def __init__(self, events: list):
        self._events = events
        self.closed = False
        self.sent = 0

    def __iter__(self):
        for item in self._events:
            if self.closed:
                return
            if isinstance(item, Pause):
                time.sleep(item.seconds)
                continue
            if isinstance(item, BaseException):
                raise item
            self.sent += 1
            yield copy.deepcopy(item)

    def close(self) -> None:
        self.closed = True


class FakeBedrock:
    """Stands in for a `bedrock-runtime` client: records every Converse request, answers as scripted.

    `script(model_id, *outcomes)` queues responses (dicts, see `response(...)`) or exceptions (see
    `error(code)`) for one model id; the last outcome repeats. Unscripted models answer with `response()`.
    """

    response = staticmethod(converse_response)
    error = staticmethod(converse_error)

    def __init__(self):
        self.requests: list[dict] = []
        self.streams: list[FakeEventStream] = []
        self._scripts: dict[str, list] = {}
        self.counts: dict[str, int | BaseException] = {}  # CountTokens by model id; another id is refused
        self.count_requests: list[dict] = []

    def script(self, model_id: str, *outcomes) -> FakeBedrock:
        self._scripts[model_id] = list(outcomes)
        return self

    def fail(self, model_id: str, code: str, message: str = "", status: int = 400) -> FakeBedrock:
        return self.script(model_id, converse_error(code, message, status))

    def converse(self, **request) -> dict:
        self.requests.append(copy.deepcopy(request))
        queue = self._scripts.get(request["modelId"])
        outcome = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else converse_response()
        if isinstance(outcome, BaseException):
            raise outcome
        return copy.deepcopy(outcome)

    def converse_stream(self, **request) -> dict:
        """ConverseStream over the same script: a response dict becomes its events; a list is taken as the events
        themselves (an exception in it is raised at that point of the stream, as botocore raises one)."""
        self.requests.append(copy.deepcopy(request))
        queue = self._scripts.get(request["modelId"])
        outcome = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else converse_response()
        if isinstance(outcome, BaseException):
            raise outcome
        events = list(outcome) if isinstance(outcome, list) else response_events(copy.deepcopy(outcome))
        stream = FakeEventStream(events)
        self.streams.append(stream)
        return {"stream": stream, "ResponseMetadata": {"HTTPStatusCode": 200}}

    def count_tokens(self, **request) -> dict:
        self.count_requests.append(copy.deepcopy(request))
        outcome = self.counts.get(request["modelId"])
        if outcome is None:
            outcome = converse_error("ValidationException", "The provided model doesn't support counting tokens")
        if isinstance(outcome, BaseException):
            raise outcome
        return {"inputTokens": outcome}

    @property
    def model_ids(self) -> list[str]:
        return [r["modelId"] for r in self.requests]


@pytest.fixture
def fake_bedrock() -> FakeBedrock:
    return FakeBedrock()


# --- the router service, wired over a config and the fake client -----------------------------------


@pytest.fixture
def routing_config() -> dict:
    """A fresh copy of ROUTING_CONFIG (four routes, four models, alias default -> faq), free to edit."""
    return copy.deepcopy(ROUTING_CONFIG)


@pytest.fixture
def web_adapter():
    """Requests to the router's app as the Lambda Web Adapter sends them behind API Gateway (tests.web_adapter):
    `web_adapter.post(path, body, api_key_id=..., ...)` -> httpx.Response. It serves the service `router_service`
    built last."""
    from tests.web_adapter import WebAdapter

    adapter = WebAdapter()
    yield adapter
    adapter.close()


@pytest.fixture
def router_service(tmp_path, fake_bedrock, routing_config, web_adapter):
    """`router_service(config=None)`: a RouterService over a config (dict or file path; default:
    `routing_config`) and `fake_bedrock`, served by the app `web_adapter` sends to."""
    from router import wiring

    built = []

    def build(config: dict | str | Path | None = None, *, env: dict | None = None):
        if config is None:
            config = routing_config
        if isinstance(config, dict):
            path = tmp_path / f"routing-{len(built)}.json"
            path.write_text(json.dumps(config))
        else:
            path = Path(config)
        service = wiring.service_from_env(
            env={"AWS_REGION": "us-east-1", "ROUTER_CONFIG_FILE": str(path), **(env or {})},
            client_factory=lambda region, timeout_s: fake_bedrock,
        )
        web_adapter.serve(service)
        built.append(service)
        return service

    return build


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the time of the write (capsys swaps it per test phase)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def captured_stdout(capsys):
    """capsys, with the router's Logger writing to the captured stdout (the Logger binds its stream at import)."""
    from router.observability import logger

    handler = logger.registered_handler
    previous = handler.stream
    handler.stream = _CurrentStdout()
    yield capsys
    handler.stream = previous


def json_lines(text: str) -> list[dict]:
    """The JSON objects among the lines of captured output (log lines and EMF metrics)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


@pytest.fixture
def parse_json_lines() -> Callable[[str], list[dict]]:
    return json_lines
