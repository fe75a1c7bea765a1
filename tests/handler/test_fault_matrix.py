"""The fault matrix: every Converse error class, whether it is retried on another model, and the status returned."""

from __future__ import annotations

import pytest
from botocore.exceptions import ReadTimeoutError

PRIMARY, FALLBACK = "us.anthropic.primary-v1:0", "us.amazon.fallback-v1:0"
PRICE = {"input_per_million": 1.0, "output_per_million": 2.0}

# error class -> (retried on the next model?, status when it is the only model, error code)
MATRIX = {
    "ValidationException": (False, 400, "model_validation_error"),
    "AccessDeniedException": (True, 502, "model_access_denied"),  # falls back: see docs/decisions.md
    "ResourceNotFoundException": (True, 502, "bedrock_model_not_found"),
    "ThrottlingException": (True, 429, "model_throttled"),
    "ServiceQuotaExceededException": (True, 429, "model_quota_exceeded"),
    "ModelNotReadyException": (True, 503, "model_not_ready"),
    "ModelTimeoutException": (True, 504, "model_timeout"),
    "ModelErrorException": (True, 502, "model_error"),
    "InternalServerException": (True, 502, "model_internal_error"),
    "ServiceUnavailableException": (True, 503, "model_unavailable"),
    "Timeout": (True, 504, "model_timeout"),  # no answer within the time left (botocore read timeout)
}


def config(with_fallback: bool) -> dict:
    models = {"primary": {"model_id": PRIMARY, "price": PRICE}}
    if with_fallback:
        models["primary"]["fallbacks"] = ["fallback"]
        models["fallback"] = {"model_id": FALLBACK, "price": PRICE}
    return {"default_route": "faq", "models": models, "routes": {"faq": {"model": "primary"}}}


def error_for(name: str):
    from tests.conftest import converse_error

    if name == "Timeout":
        return ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")
    return converse_error(name)


def ask(web_adapter):
    result = web_adapter.post("/v1/route", {"task": "faq", "prompt": "hello"})
    return result.status_code, result.json()


@pytest.mark.parametrize("error_class", sorted(MATRIX))
def test_only_model_failing_returns_the_mapped_status(error_class, router_service, fake_bedrock, web_adapter):
    retried, status, code = MATRIX[error_class]
    router_service(config(with_fallback=False))
    fake_bedrock.script(PRIMARY, error_for(error_class))
    got_status, body = ask(web_adapter)
    assert (got_status, body["error"]["code"]) == (status, code)
    assert body["error"]["details"]["attempts"][0]["error"] == error_class


@pytest.mark.parametrize("error_class", sorted(MATRIX))
def test_retryable_errors_fail_over_and_others_fail_fast(error_class, router_service, fake_bedrock, web_adapter):
    retried, status, code = MATRIX[error_class]
    router_service(config(with_fallback=True))
    fake_bedrock.script(PRIMARY, error_for(error_class))
    got_status, body = ask(web_adapter)
    if retried:
        assert got_status == 200
        assert body["routing"]["model"] == "fallback"
        assert body["routing"]["attempts"][0] == {
            **body["routing"]["attempts"][0],
            "model": "primary",
            "outcome": "error",
            "error": error_class,
        }
        assert fake_bedrock.model_ids == [PRIMARY, FALLBACK]
    else:
        assert (got_status, body["error"]["code"]) == (status, code)
        assert fake_bedrock.model_ids == [PRIMARY]  # no point asking another model to accept a bad request


def test_every_model_failing_is_a_503_naming_each_attempt(router_service, fake_bedrock, web_adapter):
    router_service(config(with_fallback=True))
    fake_bedrock.script(PRIMARY, error_for("ThrottlingException"))
    fake_bedrock.script(FALLBACK, error_for("ServiceUnavailableException"))
    status, body = ask(web_adapter)
    assert (status, body["error"]["code"]) == (503, "all_models_failed")
    assert [(a["model"], a["error"]) for a in body["error"]["details"]["attempts"]] == [
        ("primary", "ThrottlingException"),
        ("fallback", "ServiceUnavailableException"),
    ]
    assert "primary: ThrottlingException" in body["error"]["message"]
