"""The Converse wire, both ways: a `ModelCall` into a Converse request, a Converse response into a `ModelReply`,
ConverseStream events into `ModelEvent`s. The only module that knows Converse's key names.

Structured output (a JSON answer) is one forced tool whose input is the answer; Converse has no "no tool" choice,
so a caller's "none" leaves the tools out, or, when the history holds tool calls and they must stay, asks in the
system prompt for a text answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aws_adapters.conversation import (
    Content,
    Image,
    ModelCall,
    ModelEvent,
    ModelReply,
    Text,
    TextDelta,
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
    for message in call.messages:  # loops, not comprehensions: this runs for every model call
        if isinstance(message, dict):
            messages.append(message)
            continue
        content = []
        for block in message.content:
            content.append({"text": block.text} if type(block) is Text else _block(block))
        messages.append({"role": message.role, "content": content})
    body: dict = {"modelId": call.model_id, "messages": messages}
    system = call.system
    tool_config = _tool_config(call, messages) if call.tools or call.structured is not None else None
    if call.no_tools and tool_config is not None:
        system = f"{system}\n\n{NO_TOOLS_NOTE}" if system else NO_TOOLS_NOTE
    if system:
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
    return body


def _block(block: Content) -> dict:
    if isinstance(block, Text):
        return {"text": block.text}
    if isinstance(block, ToolUse):
        return {"toolUse": {"toolUseId": block.call_id, "name": block.name, "input": block.input}}
    if isinstance(block, ToolResult):  # Converse refuses an empty text block
        return {"toolResult": {"toolUseId": block.call_id, "content": [{"text": block.text or "(empty)"}]}}
    if isinstance(block, Image):
        return {"image": {"format": block.format, "source": {"bytes": block.data}}}
    return {"document": {"format": block.format, "name": block.name, "source": {"bytes": block.data}}}


def _tool_config(call: ModelCall, messages: list[dict]) -> dict | None:
    tools: list[dict] = [
        {
            "toolSpec": {
                "name": tool.name,
                **({"description": tool.description} if tool.description else {}),
                "inputSchema": {"json": tool.schema},
            }
        }
        for tool in call.tools
    ]
    structured = call.structured
    if structured is not None:
        spec: dict = {"name": structured.name, "inputSchema": {"json": structured.schema}}
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
    text_only = True
    for block in content:
        if "text" in block:
            texts.append(block["text"])
            continue
        text_only = False
        use = block.get("toolUse")
        if use is not None:
            calls.append(ToolUse(use["toolUseId"], use["name"], use.get("input", {})))
    usage = response.get("usage", {})
    return ModelReply(
        text="".join(texts),
        tool_calls=tuple(calls),
        stop_reason=response.get("stopReason", "end_turn"),
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        latency_ms=float(response.get("metrics", {}).get("latencyMs", elapsed_ms)),
        invoked_model_id=_invoked(response),
        text_only=text_only,
    )


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
    )
