"""A streamed answer after its first content: the model's events passed on, its end settled, its failure reported.

`RouterService.open_stream` fails over until a model has sent its first content; from then on the answer belongs
to that model and this object. `events()` yields the rest and ends with `Finished` (priced at the exact usage) or,
if the model fails or runs past the request's deadline, with `StreamFailed`: no other model's output follows.
`close()` stops the model when the response ends, normally or because the client left; a stream cut short is
billed an estimate of what was generated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from aws_adapters.bedrock import ModelCallError, ModelStream
from aws_adapters.conversation import ModelReply, ReasoningDelta, TextDelta, ToolCallDelta
from router.accounting import Ledger, estimated_cost
from router.breakers import Breakers
from router.chat import ChatRequest, Finished, StreamEvent, StreamFailed
from router.failures import RouterFailure
from router.result import Attempt, RouteResult
from router.sampling import Sampler
from routing_engine.engine import Engine


class AnswerStream:
    def __init__(
        self,
        *,
        engine: Engine,
        request: ChatRequest,
        result: RouteResult,
        stream: ModelStream,
        is_router: bool,
        started: float,
        deadline: float,
        clock: Callable[[], float],
        breakers: Breakers,
        ledger: Ledger,
        sampler: Sampler,
        request_id: str,
    ):
        self.engine = engine
        self.request = request
        self.result = result
        self._stream = stream
        self._is_router = is_router
        self._started = started
        self._deadline = deadline
        self._clock = clock
        self._breakers = breakers
        self._ledger = ledger
        self._sampler = sampler
        self._request_id = request_id
        self.failure: RouterFailure | None = None
        self._out_chars = 0  # text and tool input sent so far: what a stream cut short is billed for, roughly
        self._client_closed = False
        # Label sampling draws a stream at its start: only a drawn stream keeps its answer's text for the sample.
        self.drawn = sampler.predraw(engine, result)
        self._text: list[str] = []

    def events(self) -> Iterator[StreamEvent]:
        clock = self._clock
        end: ModelReply | None = None
        deadline = self._stream.watchdog(self._deadline - clock())
        try:
            for event in self._stream.events():
                if clock() > self._deadline:
                    self._stream.expire()
                    break
                if isinstance(event, TextDelta):
                    self._out_chars += len(event.text)
                    if self.drawn:
                        self._text.append(event.text)
                    yield event
                elif isinstance(event, ToolCallDelta):
                    self._out_chars += len(event.fragment)
                    yield event
                elif isinstance(event, ModelReply):
                    end = event  # the stream's summary: stop reason and usage
                else:  # a tool call's start, reasoning
                    if isinstance(event, ReasoningDelta):
                        self._out_chars += len(event.text)
                    yield event
            if self._stream.expired and not self._client_closed:
                raise ModelCallError(
                    "DeadlineExceeded",
                    f"the stream ran past the request's deadline ({self._deadline - self._started:.0f} s)",
                    latency_ms=self._stream.elapsed_ms(),
                )
        except ModelCallError as exc:
            yield StreamFailed(self._failed(exc))
            return
        finally:
            deadline.cancel()
            self._stream.close()
        if self._client_closed or end is None:
            return  # the client left mid-answer: close() billed an estimate; there is no end to report
        yield self._finished(end)

    def close(self, *, completed: bool = False) -> None:
        """Stop the model's stream. `completed`: the response's last byte went out (not a client that left); then
        a whole answer is offered to label sampling (`result.label_sample`)."""
        self._client_closed = True  # from here on events() bills nothing itself: only the estimate below counts
        self._stream.close()
        if not self.result.spend_recorded and self._out_chars:
            # The client left before the end: Bedrock bills what was generated, so count an estimate of it, now,
            # while the invocation is still running (a write left to a thread could be frozen with the Lambda
            # environment); an instance serves one request at a time there, and locally the store is in memory.
            self._ledger.account(self.result, estimated_cost(self.engine, self.result, self._out_chars))
        if completed and self.failure is None and self.result.reply is not None:
            self.result.label_sample = self._sampler.consider(
                self.engine,
                self.request,
                self.result,
                request_id=self._request_id,
                answer_text="".join(self._text),
                drawn=self.drawn,
            )

    def _failed(self, exc: ModelCallError) -> RouterFailure:
        """The model failed after the answer had started: count it against the model, bill what was generated."""
        result = self.result
        key = result.answered_by or result.decision.model
        result.attempts.append(Attempt.failed(key, result.answered_model_id or "", exc))
        self._breakers.failed(key, exc)
        result.latency_ms = (self._clock() - self._started) * 1000
        self.failure = RouterFailure(
            exc.kind,
            exc.code,
            f"{exc.hint} after the answer had started ({key}): {exc.message}",
            details={"attempts": [a.as_dict() for a in result.attempts]},
        )
        if self._out_chars:  # what was generated before the failure is billed
            self._ledger.account(result, estimated_cost(self.engine, result, self._out_chars))
        return self.failure

    def _finished(self, end: ModelReply) -> Finished:
        """The answer is complete: name the model a prompt router invoked, price it at the exact usage."""
        result = self.result
        if self._is_router and end.invoked_model_id:
            invoked = end.invoked_model_id
            result.answered_by = self.engine.model_key_for(invoked) or result.answered_by
            result.answered_model_id = invoked
            result.attempts[-1].model = result.answered_by or result.attempts[-1].model
            result.attempts[-1].model_id = invoked
        self._ledger.settle(self.engine, result, end)
        result.latency_ms = (self._clock() - self._started) * 1000
        result.reply = end
        return Finished(
            end.stop_reason,
            end.input_tokens,
            end.output_tokens,
            result.cost_usd,
            result.ttft_ms or 0.0,
            result.latency_ms,
            end.stop_sequence,
            end.cache_read_tokens,
            end.cache_write_tokens,
        )
