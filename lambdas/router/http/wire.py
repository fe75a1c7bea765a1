"""What an API module is to the app: a `WireFormat`. Each chat API (route_api, openai_api, anthropic_api) is one
module that implements it with module-level names; the app routes a path to a module and never looks inside the
bodies.

A new API is one new module implementing `WireFormat` and one entry in `router.http.app.CHAT_APIS`. What every
API renders the same way sits here too: `routing()`, the routing facts an answer carries, and `round_cost`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from router.chat import ChatRequest, StreamEvent
from router.failures import RouterFailure
from router.result import RouteResult, round_cost


class WireFormat(Protocol):
    API_NAME: str  # for the request's log line (`api`) and its trace segment
    REQUEST_ID_HEADER: str  # the response header its clients read the request id from (x-request-id is always sent)

    # The request and the result are positional-only: an API that does not need one names it `_request`.

    def parse(self, text: str, /, *, max_messages: int) -> ChatRequest:
        """The body as a request; a `RouterFailure` (INVALID_REQUEST, naming the field) if it is not one."""
        ...

    def render(self, request: ChatRequest, result: RouteResult, /, *, request_id: str, backend: str) -> dict:
        """A buffered answer (or a dry run's decision) as the JSON body."""
        ...

    def stream_frames(
        self,
        events: Iterator[StreamEvent],
        request: ChatRequest,
        result: RouteResult,
        /,
        *,
        request_id: str,
        backend: str,
    ) -> Iterator[bytes]:
        """A streamed answer as server-sent-event frames, its failure after the first byte included."""
        ...

    def dry_run_frames(
        self, request: ChatRequest, result: RouteResult, /, *, request_id: str, backend: str
    ) -> Iterator[bytes]:
        """A dry run a streaming client asked for: the decision as a stream; no model is called."""
        ...

    def error_body(self, failure: RouterFailure, request_id: str, /) -> dict:
        """A failure before the first byte, as the JSON body (the status comes from `status_of`)."""
        ...

    def status_of(self, failure: RouterFailure, /) -> int:
        """The HTTP status of a failure in this API (from router.http.errors, the one table)."""
        ...


def routing(result: RouteResult) -> dict:
    """The routing facts every answer carries (also in the log line)."""
    d = result.decision
    out: dict[str, Any] = {
        "route": d.route,
        "model": result.model,
        "model_id": result.answered_model_id or d.model_id,
        "mode": d.mode,
        "rule": d.rule,
        "reason": d.reason,
        "config_version": result.config_version,
        "tier": result.tier,
    }
    if d.is_prompt_router:
        out["prompt_router"] = d.model
    if d.scorer_version is not None:  # the weights that scored this request's complexity
        out["scorer_version"] = d.scorer_version
    if result.attempts and (len(result.attempts) > 1 or result.attempts[0].outcome != "ok"):
        out["fallback"] = True
        out["attempts"] = [a.as_dict() for a in result.attempts]
    if d.shadow is not None:
        out["shadow"] = d.shadow
    conversation = result.conversation()
    if conversation is not None:
        out["conversation"] = conversation
    if result.sampling is not None:  # the model takes fewer sampling settings than asked: which won
        out["sampling"] = result.sampling
    return out


def conversation_header(result: RouteResult) -> str | None:
    """`x-router-conversation` for a continuing conversation on a dynamic route: `stayed` on the model that began
    it, `moved` (the body's `x_router.conversation.why` and the log line say why), or `per-turn` (the route opted
    out of conversation affinity)."""
    conversation = result.conversation()
    if conversation is None:
        return None
    if not conversation.get("affinity"):
        return "per-turn"
    return "moved" if conversation.get("moved") else "stayed"


__all__ = ["WireFormat", "conversation_header", "round_cost", "routing"]
