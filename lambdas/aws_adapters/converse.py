"""The Converse wire, both ways: a `ModelCall` into a Converse request, a Converse response into a `ModelReply`,
ConverseStream events into `ModelEvent`s. The only module that knows Converse's key names.

Structured output (a JSON answer) is one forced tool whose input is the answer; Converse has no "no tool" choice,
so a caller's "none" leaves the tools out, or, when the history holds tool calls and they must stay, asks in the
system prompt for a text answer.

Extended thinking and top_k are not in Converse's inferenceConfig: they go in `additionalModelRequestFields`, in
the model provider's own names (Anthropic's `thinking`, `output_config.effort` and `top_k`; Nova's
`inferenceConfig.topK`). Reasoning blocks travel both ways as `reasoningContent`; earlier turns' reasoning is sent
back only when this call thinks too.

Prompt caching: each cache breakpoint in the call (`CachePoint` in a turn or in `system_blocks`, `ToolSpec.cache`)
becomes a Converse `cachePoint` block where it stands, with `ttl` only for "1h" (5 minutes is the default). The
router has already kept only the points the model can take (router.caching), so every one here is placed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aws_adapters.conversation import (
    CachePoint,
    Content,
    Document,
    Image,
    ModelCall,
    ModelEvent,
    ModelReply,
    Reasoning,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    Text,
    TextDelta,
    Thinking,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolResult,
    ToolUse,
)
from routing_engine.config.catalog import accepted_sampling

NO_TOOLS_NOTE = "Do not call any tool in this answer; reply in text."
# InferenceConfiguration.stopSequences: "max": 2500 in the bedrock-runtime service model (botocore 1.43); the older
# API reference page said 4. Both chat APIs refuse more (router.http.parsing.check_request).
MAX_STOP_SEQUENCES = 2500
STRUCTURED_DESCRIPTION = "Reply by calling this tool: its input is your answer."


def request(call: ModelCall) -> dict:
    """The Converse (and ConverseStream) request for `call`."""
    messages: list[dict] = []
    thinks = call.thinking is not None
    for message in call.messages:  # loops, not comprehensions: this runs for every model call
        if isinstance(message, dict):
            messages.append(message)
            continue
        content = []
        for block in message.content:
            if type(block) is Text:
                content.append({"text": block.text})
            elif isinstance(block, (Reasoning, RedactedReasoning)):
                if thinks:  # a call without thinking gets no reasoning blocks (a model may refuse them)
                    content.append(_reasoning(block))
            elif type(block) is CachePoint:
                if content:  # a breakpoint ends a prefix: none before the first block
                    content.append(_cache_point(block))
            else:
                content.append(_block(block))
        if not content:  # nothing but reasoning, in a call that does not think: sent as it came
            content = [_reasoning(b) for b in message.content if isinstance(b, (Reasoning, RedactedReasoning))]
        messages.append({"role": message.role, "content": content})
    body: dict = {"modelId": call.model_id, "messages": messages}
    system = call.system
    tool_config = _tool_config(call, messages) if call.tools or call.structured is not None else None
    if call.no_tools and tool_config is not None:
        system = f"{system}\n\n{NO_TOOLS_NOTE}" if system else NO_TOOLS_NOTE
    if call.system_blocks:
        body["system"] = _system_blocks(call.system_blocks, system if system != call.system else None)
    elif system:
        body["system"] = [{"text": system}]
    inference: dict = {"maxTokens": call.max_tokens}
    sampling = accepted_sampling(call.sampling, call.temperature, call.top_p)  # never what the model refuses
    if sampling.temperature is not None:
        inference["temperature"] = sampling.temperature
    if sampling.top_p is not None:
        inference["topP"] = sampling.top_p
    if call.stop:
        inference["stopSequences"] = list(call.stop)
    body["inferenceConfig"] = inference
    if tool_config:
        body["toolConfig"] = tool_config
    if call.thinking is not None or call.top_k is not None:
        extra = _additional_fields(call)
        if extra:
            body["additionalModelRequestFields"] = extra
    return body


def _cache_point(point: CachePoint) -> dict:
    body = {"type": "default"}
    if point.ttl == "1h":
        body["ttl"] = "1h"
    return {"cachePoint": body}


def _system_blocks(blocks: tuple[Text | CachePoint, ...], changed: str | None) -> list[dict]:
    """The system prompt as its blocks with their cache points; `changed`: the system text with the router's
    no-tools note added, whose note goes after the blocks (after any cache point, which it does not invalidate)."""
    out: list[dict] = []
    for block in blocks:
        if isinstance(block, CachePoint):
            if out:
                out.append(_cache_point(block))
        elif block.text:
            out.append({"text": block.text})
    if changed is not None:
        out.append({"text": NO_TOOLS_NOTE})
    return out


def _additional_fields(call: ModelCall) -> dict:
    """Thinking and top_k in the model provider's own request fields (Converse has no place for them)."""
    extra: dict[str, Any] = {}
    if call.thinking is not None:
        extra.update(_thinking(call.thinking))
    if call.top_k is not None:
        base = call.model_id.rsplit("/", 1)[-1]
        if ".anthropic." in f".{base}":
            extra["top_k"] = call.top_k
        elif ".amazon.nova" in f".{base}":
            extra["inferenceConfig"] = {"topK": call.top_k}
        # other providers: no top_k field this adapter knows of; the caller's value is not sent
    return extra


def _thinking(thinking: Thinking) -> dict:
    """Anthropic's thinking parameters, as Bedrock takes them for Claude through additionalModelRequestFields."""
    if thinking.mode == "adaptive":
        fields: dict[str, Any] = {"thinking": {"type": "adaptive"}}
        if thinking.effort:
            fields["output_config"] = {"effort": thinking.effort}
        return fields
    return {"thinking": {"type": "enabled", "budget_tokens": thinking.budget_tokens}}


def _reasoning(block: Reasoning | RedactedReasoning) -> dict:
    if isinstance(block, RedactedReasoning):
        return {"reasoningContent": {"redactedContent": block.data}}
    text: dict[str, Any] = {"text": block.text}
    if block.signature:
        text["signature"] = block.signature
    return {"reasoningContent": {"reasoningText": text}}


def _block(block: Content) -> dict:
    if isinstance(block, Text):
        return {"text": block.text}
    if isinstance(block, ToolUse):
        return {"toolUse": {"toolUseId": block.call_id, "name": block.name, "input": block.input}}
    if isinstance(block, ToolResult):
        content: list[dict] = [{"text": block.text}] if block.text or not block.attachments else []
        content.extend(_block(item) for item in block.attachments)
        if not content or (block.error and not block.text and not block.attachments):
            content = [{"text": "(empty)"}]  # Converse refuses an empty text block, and an empty error result
        result: dict[str, Any] = {"toolUseId": block.call_id, "content": content}
        if block.error:
            result["status"] = "error"
        return {"toolResult": result}
    if isinstance(block, Image):
        return {"image": {"format": block.format, "source": {"bytes": block.data}}}
    if isinstance(block, Document):
        return {"document": {"format": block.format, "name": block.name, "source": {"bytes": block.data}}}
    raise TypeError(f"no Converse block for {type(block).__name__}")  # reasoning and breakpoints: request()


def count_request(call: ModelCall) -> dict:
    """The CountTokens request for `call`: the Converse request's input, counted for `call.model_id` (a foundation
    model id: CountTokens takes no inference profile)."""
    body = request(call)
    keys = ("messages", "system", "toolConfig", "additionalModelRequestFields")
    return {"modelId": call.model_id, "input": {"converse": {k: body[k] for k in keys if k in body}}}


def _tool_config(call: ModelCall, messages: list[dict]) -> dict | None:
    tools: list[dict] = []
    for tool in call.tools:
        spec: dict = {"name": tool.name, "inputSchema": {"json": tool.schema}}
        if tool.description:
            spec["description"] = tool.description
        tools.append({"toolSpec": spec})
        if tool.cache is not None:
            tools.append(_cache_point(tool.cache))
    structured = call.structured
    if structured is not None:
        spec = {"name": structured.name, "inputSchema": {"json": structured.schema}}
        spec["description"] = structured.description or STRUCTURED_DESCRIPTION
        tools.append({"toolSpec": spec})
    if not tools:
        return None
    if call.no_tools and not _has_tool_blocks(messages):
        return None  # Converse has no "none": leave the tools out (they may stay only when the history needs them)
    config: dict = {"tools": tools}
    if structured is not None:
        config["toolChoice"] = {"tool": {"name": structured.name}} if not call.tools else {"any": {}}
    elif call.tool_choice is not None and not call.no_tools:
        config["toolChoice"] = _choice(call.tool_choice)
    return config


def _choice(choice: ToolChoice) -> dict:
    if choice.mode == "named":
        return {"tool": {"name": choice.name}}
    return {"any": {}} if choice.mode == "required" else {"auto": {}}


def _has_tool_blocks(messages: list[dict]) -> bool:
    return any("toolUse" in block or "toolResult" in block for m in messages for block in m["content"])


def reply(response: dict, elapsed_ms: float) -> ModelReply:
    """A Converse response as a `ModelReply` (Bedrock's own latency when it gives one, else the call's)."""
    content = response.get("output", {}).get("message", {}).get("content", [])
    texts: list[str] = []
    calls: list[ToolUse] = []
    reasoning: list[Reasoning | RedactedReasoning] = []
    text_only = True
    for block in content:
        if "text" in block:
            texts.append(block["text"])
            continue
        text_only = False
        use = block.get("toolUse")
        if use is not None:
            calls.append(ToolUse(use["toolUseId"], use["name"], use.get("input", {})))
        elif "reasoningContent" in block:
            reasoning.append(_reasoning_block(block["reasoningContent"]))
    usage = response.get("usage", {})
    extra = response.get("additionalModelResponseFields")
    return ModelReply(
        text="".join(texts),
        tool_calls=tuple(calls),
        stop_reason=response.get("stopReason", "end_turn"),
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        latency_ms=float(response.get("metrics", {}).get("latencyMs", elapsed_ms)),
        invoked_model_id=_invoked(response),
        text_only=text_only,
        reasoning=tuple(reasoning),
        stop_sequence=_stop_sequence(extra),
        cache_read_tokens=int(usage.get("cacheReadInputTokens", 0)),
        cache_write_tokens=int(usage.get("cacheWriteInputTokens", 0)),
        cache_write_1h_tokens=_written_1h(usage),
    )


def _written_1h(usage: dict) -> int:
    """Tokens written to the cache with a 1-hour TTL (Converse `usage.cacheDetails`, by TTL)."""
    details = usage.get("cacheDetails")
    if not details:
        return 0
    return sum(int(d.get("inputTokens", 0)) for d in details if isinstance(d, dict) and d.get("ttl") == "1h")


def _reasoning_block(body: dict) -> Reasoning | RedactedReasoning:
    if "redactedContent" in body:
        return RedactedReasoning(body["redactedContent"])
    text = body.get("reasoningText", {})
    return Reasoning(text.get("text", ""), text.get("signature"))


def _stop_sequence(extra: Any) -> str | None:
    """The stop sequence that ended the answer, where the model reports it (Claude: `stop_sequence`)."""
    value = extra.get("stop_sequence") if isinstance(extra, dict) else None
    return value if isinstance(value, str) else None


def _invoked(body: dict) -> str | None:
    """The model a prompt router invoked (bill and measure by that one), if a prompt router answered."""
    return body.get("trace", {}).get("promptRouter", {}).get("invokedModelId")


def read_opening(events: Iterator[dict], head: list[dict]) -> None:
    """Read ConverseStream events into `head` up to the first one past the stream's opening (`messageStart`):
    the answer has begun."""
    for event in events:
        head.append(event)
        if "messageStart" not in event:
            return


def decode(events: Iterator[dict], structured: str | None, closed: Callable[[], bool]) -> Iterator[ModelEvent]:
    """ConverseStream events as `ModelEvent`s: text and tool-call deltas as they come, then one `ModelReply` with
    the stop reason, usage and (for a prompt router) the invoked model. `structured`: the structured-output tool's
    name, whose call is flagged (it is the answer's content) and takes no tool-call index. `closed`: whether the
    reader closed the stream (a client that left, a watchdog): then it ends without a summary."""
    tools: dict[int, tuple[int, bool]] = {}  # content block index -> (tool call index, is the structured tool)
    usage: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    stop_reason = "end_turn"
    stop_sequence: str | None = None
    invoked: str | None = None
    for event in events:
        if "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta = body.get("delta", {})
            if "text" in delta:
                if delta["text"]:
                    yield TextDelta(delta["text"])
            elif "toolUse" in delta:
                index, is_structured = tools.get(body.get("contentBlockIndex", 0), (0, False))
                yield ToolCallDelta(index, delta["toolUse"].get("input", ""), is_structured)
            elif "reasoningContent" in delta:
                reasoning = delta["reasoningContent"]
                if reasoning.get("text"):
                    yield ReasoningDelta(reasoning["text"])
                elif reasoning.get("signature"):
                    yield ReasoningSignature(reasoning["signature"])
                elif "redactedContent" in reasoning:
                    yield RedactedReasoning(reasoning["redactedContent"])
        elif "contentBlockStart" in event:
            body = event["contentBlockStart"]
            tool = body.get("start", {}).get("toolUse")
            if tool is not None:
                is_structured = tool.get("name") == structured
                index = sum(1 for _, s in tools.values() if not s) if not is_structured else 0
                tools[body.get("contentBlockIndex", 0)] = (index, is_structured)
                yield ToolCallStart(index, tool.get("toolUseId", ""), tool.get("name", ""), is_structured)
        elif "messageStop" in event:
            stop_reason = event["messageStop"].get("stopReason", "end_turn")
            stop_sequence = _stop_sequence(event["messageStop"].get("additionalModelResponseFields"))
        elif "metadata" in event:
            meta = event["metadata"]
            usage = meta.get("usage", {})
            metrics = meta.get("metrics", {})
            invoked = _invoked(meta)
    if closed():
        return
    yield ModelReply(
        text="",
        tool_calls=(),
        stop_reason=stop_reason,
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        latency_ms=float(metrics.get("latencyMs", 0.0)),
        invoked_model_id=invoked,
        stop_sequence=stop_sequence,
        cache_read_tokens=int(usage.get("cacheReadInputTokens", 0)),
        cache_write_tokens=int(usage.get("cacheWriteInputTokens", 0)),
        cache_write_1h_tokens=_written_1h(usage),
    )
