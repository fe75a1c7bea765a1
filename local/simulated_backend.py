"""A simulated Bedrock Converse client for local mode and tests. Nothing here calls a real model.

`SimulatedBedrock` stands in for a boto3 `bedrock-runtime` client: `converse` and `converse_stream` take the
same requests and answer in the same shapes (events, stop reasons, error codes), so the router's real Bedrock
adapter, error mapping, fallback and streaming code all run locally. Every text answer starts with
"[SIMULATED]" and says that no model was called.

What the simulated model does (deterministic: the same model and input give the same answer):
- Text answers: a short fixed sentence naming the model and quoting the start of the last user message, with a
  fingerprint (a hash of model and input). A prompt that asks for "N words" (the first "<number> words" in the
  last user message, e.g. "write 300 words about owls") gets an answer of N words (at least the fixed sentence,
  at most 20,000 words), so long answers and `max_tokens` cuts can be tried.
- Tokens: a token is a run of up to 6 non-blank characters with the blanks before it (`\\s*\\S{1,6}`).
  `outputTokens` counts them; streams send one token per `contentBlockDelta`. Input tokens: characters / 4.
- `inferenceConfig.maxTokens` cuts a text answer after that many tokens (stopReason "max_tokens");
  `stopSequences` cut it just before the first occurrence of any of them (stopReason "stop_sequence", and
  `additionalModelResponseFields.stop_sequence` names it). Whichever comes first wins. Tool calls are not cut.
- Tool calls, when `toolConfig.tools` is offered:
    * toolChoice {"tool": {"name": N}}: always a call to N;
    * toolChoice {"any": {}}: a call to the tool the last user message names, else to the first tool;
    * toolChoice {"auto": {}} or none: a call when the last user message names a tool (its name,
      case-insensitive, as a whole word; the earliest mentioned wins) and does not carry a toolResult;
      otherwise a text answer;
    * a last user turn with toolResult blocks (and no forced choice) gets a text answer quoting each result.
  A call is one toolUse block (no text before it), stopReason "tool_use", whose input is a small valid instance
  of the tool's inputSchema (see `example_from_schema`); a string or number property `p` takes its value from
  the prompt when it says `p=value` or `p: value`. Streams send the input JSON in several fragments.
  A model whose catalog entry has `supports_tools: false` refuses a toolConfig with ValidationException.
- Prompt routers (a modelId that is a prompt-router ARN) answer with the strongest member for prompts of
  complexity >= 0.5, the weakest otherwise, and report it in trace.promptRouter.invokedModelId (as an ARN, like
  the service: inference-profile/... for a us./eu./... id, foundation-model/... otherwise).

- Extended thinking (`additionalModelRequestFields.thinking`, type "enabled" or "adaptive", for a model whose
  catalog entry lists `thinking`): the answer starts with a reasoning block (`reasoningContent.reasoningText`,
  "[SIMULATED] reasoning ...") signed with a signature derived from the model and the text; streams send its text
  in pieces, then the signature. A request with thinking for a model without it, or with `budget_tokens` below
  1,024 or not below maxTokens, or with a forced tool choice, is refused (ValidationException), as Claude refuses it. A reasoning block sent back
  with a signature this backend did not issue for that text is refused too ("invalid signature"), so a client that
  alters a signature is caught; with thinking on, the assistant turn whose tool calls are being answered must open
  with its reasoning block, so one that drops it is caught too. Reasoning tokens count as output tokens.
- CountTokens (`count_tokens`): the same input-token count Converse reports for that input, for a foundation-model
  id (a `us.`/`eu.`/`global.` profile id is refused, as is a Nova model: "doesn't support counting tokens").

- Prompt caching (`cachePoint` blocks in toolConfig.tools, system and messages): a model whose catalog entry has no
  `prompt_caching`, a cache point in a field it does not cache, more points than it takes, or a TTL it does not
  take is refused (ValidationException), so a router that misplaces one is caught. With cache points the model
  counts the whole prompt (tools, system and every message, 4 characters a token). The prefix up to each point
  whose tokens reach the model's `min_tokens` is written to a per-process cache (keyed by model and the prefix's
  hash; at most CACHE_ENTRIES entries, the oldest evicted) for its TTL (5 minutes, or 1 hour); a later call whose
  prompt starts with a cached prefix ending at a block boundary at most CACHE_LOOKBACK blocks before one of its
  points reads it (the hit renews the TTL). Usage reports `cacheReadInputTokens`, `cacheWriteInputTokens` (and
  `cacheDetails` by TTL), and `inputTokens` the rest, as Converse does.

- Judge requests (a system prompt starting "You are an impartial judge", as the labeller sends) are answered by
  the simulated judge (local/simulated_judge.py: database questions need the strong model), whichever model is
  asked, ending with a `VERDICT: A|B|TIE` line.

Pace: each model's simulated latency (L: local/latency.py, from config/local-latency.json; times
LOCAL_LATENCY_SCALE, 0 = no sleeping at all) is the time of a typical answer: the first token after L/2, then one token every L/100. A non-streamed answer takes
max(L, L/2 + tokens x L/100), so long answers get slow. An attempt whose wait exceeds the client's read timeout
raises botocore's ReadTimeoutError after that timeout (from `converse`, or from the stream's iterator).

Fault injection (LOCAL_FAULTS), comma-separated KEY=FAULT[:ARGS]. KEY is a model's catalog key, its model id,
an alias of a model, or a prompt-router key (or ARN): faults on a prompt router apply to every call through it.
    claude-haiku=ThrottlingException:1.0     that error on every call (rate 0..1; any Converse error code)
    nova-pro=Timeout                         a read timeout (rate defaults to 1.0)
    claude-sonnet=latency:3000               3,000 ms more for the whole answer (L grows by 3,000 ms)
    claude-sonnet=latency:3000:0.5           ... on half of the calls
    claude-opus=first_token_latency:5000     5,000 ms more before the first token only (:RATE as above)
    claude-opus=stream_error:0.5             streams fail after their first tokens with botocore's
                                             EventStreamError (modelStreamErrorException), on half of them
Error faults (and Timeout) are raised by the call itself, `converse_stream` included, before any event; a read
timeout caused by a slow first token or pace is raised by the stream's iterator. Fault latencies are not scaled. `parse_faults(spec, known=config)` (or `validate_fault_keys`) refuses a key that
names no model, listing the known keys.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import random
import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from botocore.exceptions import ClientError, EventStreamError, ReadTimeoutError

from aws_adapters.bedrock import ERROR_CLASSES
from local import simulated_judge
from local.latency import SimulatedLatency
from router.http.json_schema import schema_problem
from routing_engine.complexity import complexity_score
from routing_engine.config import RoutingConfig
from routing_engine.config.geography import base_model_id

SIMULATED_TAG = "[SIMULATED]"
ERROR_STATUS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelNotReadyException": 429,
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
LATENCY_FAULTS = {"latency", "first_token_latency"}
KNOWN_FAULTS = set(ERROR_CLASSES) | {"Timeout", "stream_error"} | LATENCY_FAULTS
STREAM_ERROR_CODE = "modelStreamErrorException"
MAX_WORDS = 20_000
MAX_TOOL_INPUT_CHARS = MAX_WORDS * 6  # the most a tool call's input may be, as JSON text
DEFAULT_MAX_TOKENS = 1024
KEEP_LAST = 256  # requests and streams kept for tests to inspect
CACHE_ENTRIES = 4096  # cached prefixes kept per process (oldest evicted)
CACHE_LOOKBACK = 20  # block boundaries before a cache point searched for a cached prefix (as Bedrock does)
CACHE_TTL_S = {"5m": 300.0, "1h": 3600.0}
TOKEN_PATTERN = re.compile(r"\s*\S{1,6}|\s+")
WORDS_ASKED = re.compile(r"\b(\d{1,6})\s+words\b", re.IGNORECASE)
HINT_PATTERN = re.compile(
    r"(?<![\w.-])([A-Za-z_][\w.-]*)\s*[:=]\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s,;=\"']+)(?=[\s,;]|$))"
)
FILLER = (
    "the simulated model keeps writing so that long answers streaming and token limits can be tried "
    "locally without calling any real model and every word here is placeholder text"
).split()


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # an error class, "Timeout", "stream_error", "latency" or "first_token_latency"
    rate: float = 1.0
    latency_ms: float = 0.0


def parse_faults(spec: str | None, *, known: RoutingConfig | Iterable[str] | None = None) -> dict[str, list[Fault]]:
    """Parse LOCAL_FAULTS; raise FaultSpecError naming the bad entry.

    With `known` (a routing configuration, or the accepted keys), a key that names no model is refused too."""
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
        max_parts = 3 if kind in LATENCY_FAULTS else 2
        if len(parts) > max_parts:
            raise FaultSpecError(f"LOCAL_FAULTS entry '{entry}': too many ':' fields for '{kind}'")
        try:
            if kind in LATENCY_FAULTS:
                if len(parts) < 2:
                    raise ValueError
                fault = Fault(kind, float(parts[2]) if len(parts) > 2 else 1.0, float(parts[1]))
            else:
                fault = Fault(kind, float(parts[1]) if len(parts) > 1 else 1.0)
        except ValueError:
            raise FaultSpecError(f"LOCAL_FAULTS entry '{entry}': numbers expected after '{kind}:'") from None
        if not 0.0 <= fault.rate <= 1.0 or not 0 <= fault.latency_ms < math.inf:
            raise FaultSpecError(f"LOCAL_FAULTS entry '{entry}': rate must be within [0, 1] and latency >= 0")
        faults.setdefault(key.strip(), []).append(fault)
    if known is not None:
        validate_fault_keys(faults, known)
    return faults


def fault_keys(config: RoutingConfig) -> set[str]:
    """Every name a LOCAL_FAULTS key may use: model keys and ids, model aliases, prompt-router keys and ARNs."""
    keys: set[str] = set()
    for key, spec in config.models.items():
        keys.update((key, spec.model_id))
    keys.update(alias for alias, target in config.aliases.items() if target in config.models)
    for key, router in config.prompt_routers.items():
        keys.add(key)
        if router.arn:
            keys.add(router.arn)
    return keys


def validate_fault_keys(faults: dict[str, list[Fault]], known: RoutingConfig | Iterable[str]) -> None:
    """Refuse (FaultSpecError) a LOCAL_FAULTS key that names no model, so a typo cannot silently inject nothing."""
    if isinstance(known, RoutingConfig):
        config, names = known, fault_keys(known)
    else:
        config, names = None, set(known)
    bad = sorted(key for key in faults if key not in names)
    if not bad:
        return
    hints = []
    if config is not None:
        for key in bad:
            target = config.aliases.get(key, key)
            if target in config.routes:
                hints.append(f"'{key}' is a route: use its model '{config.routes[target].model}'")
        groups = [
            ("models", sorted(config.models)),
            ("model ids", sorted(spec.model_id for spec in config.models.values())),
        ]
        aliases = sorted(a for a, t in config.aliases.items() if t in config.models)
        if aliases:
            groups.append(("model aliases", aliases))
        if config.prompt_routers:
            groups.append(("prompt routers", sorted(config.prompt_routers)))
        listing = "; ".join(f"{label}: {', '.join(values)}" for label, values in groups)
    else:
        listing = ", ".join(sorted(names))
    raise FaultSpecError(
        f"LOCAL_FAULTS names no model for {', '.join(repr(k) for k in bad)}"
        + (f" ({'; '.join(hints)})" if hints else "")
        + f". Known keys: {listing}"
    )


# --- the answer ----------------------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    """The simulated tokens of a text; they join back to the text exactly."""
    return TOKEN_PATTERN.findall(text)


@dataclass(slots=True)
class _Answer:
    content: list  # Converse content blocks: one {"text"} or one {"toolUse"} (after the reasoning block, if any)
    pieces: list[str]  # the streamed fragments (text tokens or tool-input JSON fragments)
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int
    reasoning: list[str] = field(default_factory=list)  # the reasoning block's streamed pieces (thinking only)
    signature: str | None = None
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0

    def usage(self) -> dict:
        usage: dict = {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.cache_read + self.cache_write + self.output_tokens,
        }
        if self.cache_read or self.cache_write:
            usage["cacheReadInputTokens"] = self.cache_read
            usage["cacheWriteInputTokens"] = self.cache_write
            details = []
            if self.cache_write_1h:
                details.append({"ttl": "1h", "inputTokens": self.cache_write_1h})
            if self.cache_write - self.cache_write_1h:
                details.append({"ttl": "5m", "inputTokens": self.cache_write - self.cache_write_1h})
            usage["cacheDetails"] = details
        return usage


def _signature(key: str, text: str) -> str:
    """The simulated model's signature of its reasoning `text`: only what it wrote verifies."""
    return "SIMSIG" + hashlib.sha256(f"simulated-signature\n{key}\n{text}".encode()).hexdigest()[:40]


def _check_reasoning(key: str, messages: list, operation: str) -> None:
    """Refuse a reasoning block whose signature this model did not issue for its text (as Claude refuses one)."""
    for message in messages:
        for block in message.get("content", []):
            text = (block.get("reasoningContent") or {}).get("reasoningText")
            if isinstance(text, dict) and text.get("signature") != _signature(key, text.get("text", "")):
                raise _validation("messages: invalid signature in a reasoning (thinking) block", operation)


def _check_tool_turn(messages: list, operation: str) -> None:
    """With thinking on, the assistant turn that called the tools now being answered must open with its reasoning
    block, as Claude requires: a client that dropped it is refused."""
    if len(messages) < 2 or not any("toolResult" in b for b in messages[-1].get("content", [])):
        return
    content = messages[-2].get("content", []) if messages[-2].get("role") == "assistant" else []
    if content and "reasoningContent" not in content[0]:
        raise _validation(
            "messages: with thinking enabled, an assistant turn with tool calls must start with its thinking block",
            operation,
        )


def _thinking(spec, request: dict, operation: str) -> bool:
    """Whether the request asks `spec`'s model to think; a request it cannot take is refused as Claude does."""
    extra = request.get("additionalModelRequestFields") or {}
    thinking = extra.get("thinking") if isinstance(extra, dict) else None
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return False
    kinds = getattr(spec, "thinking", ())
    if thinking["type"] not in kinds:
        raise _validation(
            f"simulated backend: {spec.model_id} does not take thinking type {thinking['type']}", operation
        )
    choice = (request.get("toolConfig") or {}).get("toolChoice") or {}
    if "any" in choice or "tool" in choice:
        raise _validation("Thinking may not be enabled when tool_choice forces tool use.", operation)
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        max_tokens = (request.get("inferenceConfig") or {}).get("maxTokens", DEFAULT_MAX_TOKENS)
        if not isinstance(budget, int) or budget < 1024 or budget >= max_tokens:
            raise _validation("thinking.budget_tokens: at least 1024 and less than max_tokens", operation)
    return True


def _bytes_digest(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "bytes:" + hashlib.sha256(value).hexdigest()
    return str(value)


def _prefix_blocks(request: dict) -> tuple[list[str], list[int], list[tuple[int, str, str | None]]]:
    """The prompt in prefix order (tools, system, messages) as (the running hash after each block, the running
    token count after each block, the cache points: (blocks before it, field, ttl))."""
    hashes: list[str] = []
    tokens: list[int] = []
    points: list[tuple[int, str, str | None]] = []
    running, chars = hashlib.sha256(), 0
    items = [("tools", None, b) for b in (request.get("toolConfig") or {}).get("tools") or ()]
    items += [("system", None, b) for b in request.get("system") or ()]
    items += [("messages", m.get("role"), b) for m in request.get("messages") or () for b in m.get("content") or ()]
    for field_name, role, block in items:
        if "cachePoint" in block:
            points.append((len(hashes), field_name, block["cachePoint"].get("ttl")))
            continue
        text = json.dumps([field_name, role, block], sort_keys=True, default=_bytes_digest)
        running.update(text.encode())
        chars += len(block["text"]) if "text" in block else len(text)
        hashes.append(running.hexdigest())
        tokens.append(max(1, math.ceil(chars / 4)))
    return hashes, tokens, points


def _has_cache_points(request: dict) -> bool:
    blocks = list((request.get("toolConfig") or {}).get("tools") or ()) + list(request.get("system") or ())
    blocks += [b for m in request.get("messages") or () for b in m.get("content") or ()]
    return any("cachePoint" in b for b in blocks)


def _check_cache_points(spec, points: list[tuple[int, str, str | None]], operation: str) -> None:
    caching = getattr(spec, "prompt_caching", None)
    if caching is None:
        raise _validation(f"simulated backend: {spec.model_id} does not support prompt caching (cachePoint)", operation)
    for _, field_name, ttl in points:
        if field_name not in caching.fields:
            raise _validation(f"simulated backend: {spec.model_id} cannot cache {field_name}", operation)
        if ttl is not None and ttl not in caching.ttls:
            raise _validation(f"simulated backend: {spec.model_id} does not take cache TTL {ttl}", operation)
    if len(points) > caching.max_points:
        raise _validation(
            f"simulated backend: at most {caching.max_points} cache points per request, not {len(points)}", operation
        )


class PromptCache:
    """The simulated prompt cache of one process: (model, prefix hash) -> (tokens, expiry), bounded."""

    def __init__(self, clock: Callable[[], float], max_entries: int = CACHE_ENTRIES):
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def use(self, key: str, spec, request: dict, answer: _Answer, operation: str) -> None:
        """Read the longest cached prefix of `request` and write the prefixes up to its points, into `answer`."""
        hashes, tokens, points = _prefix_blocks(request)
        _check_cache_points(spec, points, operation)
        total = tokens[-1] if tokens else 0
        now = self._clock()
        read = 0
        write = write_1h = 0
        with self._lock:
            best = 0  # blocks in the longest cached prefix found
            for at, _, _ in points:
                for boundary in range(at, max(0, at - CACHE_LOOKBACK), -1):
                    if boundary <= best:
                        break
                    entry = (key, hashes[boundary - 1])
                    expiry = self._entries.get(entry)
                    if expiry is not None and expiry > now:
                        best = boundary
                        break
            if best:
                read = tokens[best - 1]
                ttl_s = self._entries[(key, hashes[best - 1])] - now
                self._entries[(key, hashes[best - 1])] = now + max(ttl_s, CACHE_TTL_S["5m"])
                self._entries.move_to_end((key, hashes[best - 1]))
            written = read
            for at, _, ttl in points:
                if at == 0 or tokens[at - 1] < spec.prompt_caching.min_tokens:
                    continue  # below the minimum: answered, not cached
                entry = (key, hashes[at - 1])
                if at > best:
                    self._entries[entry] = now + CACHE_TTL_S[ttl or "5m"]
                    self._entries.move_to_end(entry)
                    if tokens[at - 1] > written:
                        if ttl == "1h":
                            write_1h += tokens[at - 1] - written
                        written = tokens[at - 1]
            write = written - read
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        answer.cache_read, answer.cache_write, answer.cache_write_1h = read, write, write_1h
        answer.input_tokens = max(0, total - read - write)


def _input_tokens(request: dict) -> int:
    """What the simulated model counts as a request's input: its last user text and its system text, 4 a token."""
    input_chars = len(_user_text(request.get("messages", []))) + sum(
        len(s.get("text", "")) for s in request.get("system", [])
    )
    return max(1, math.ceil(input_chars / 4))


def _last_user_message(messages: list) -> dict:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message
    return {}


def _user_text(messages: list) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            texts = [b["text"] for b in message.get("content", []) if "text" in b]
            if texts:
                return "\n".join(texts)
    return ""


def _tool_names_by_id(messages: list) -> dict[str, str]:
    names = {}
    for message in messages:
        for block in message.get("content", []):
            use = block.get("toolUse")
            if isinstance(use, dict) and "toolUseId" in use:
                names[use["toolUseId"]] = use.get("name", "?")
    return names


def _render_tool_result(result: dict) -> str:
    parts = []
    for item in result.get("content", []):
        if "text" in item:
            parts.append(str(item["text"]))
        elif "json" in item:
            parts.append(json.dumps(item["json"], sort_keys=True))
        else:
            parts.append(f"<{next(iter(item), 'content')}>")
    text = " ".join(parts).strip() or "(empty)"
    return text if len(text) <= 200 else text[:197] + "..."


def _named_tools(text: str, tools: list[dict]) -> list[str]:
    """Tool names the text mentions as whole words (case-insensitive), earliest mention first."""
    found = []
    for tool in tools:
        name = tool.get("toolSpec", {}).get("name")
        if not name:
            continue
        match = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE)
        if match:
            found.append((match.start(), name))
    return [name for _, name in sorted(found)]


def _pick_tool(request: dict, last_user: dict, operation: str) -> dict | None:
    """The toolSpec to call, or None for a text answer (rules in the module docstring)."""
    tool_config = request.get("toolConfig") or {}
    tools = [t for t in tool_config.get("tools", []) if "toolSpec" in t]
    if not tools:
        return None
    by_name = {t["toolSpec"]["name"]: t["toolSpec"] for t in tools}
    choice = tool_config.get("toolChoice") or {"auto": {}}
    last_text = "\n".join(b["text"] for b in last_user.get("content", []) if "text" in b)
    named = _named_tools(last_text, tools)
    if "tool" in choice:
        name = choice["tool"].get("name")
        if name not in by_name:
            raise _validation(f"toolChoice names '{name}', which is not among the tools offered", operation)
        return by_name[name]
    if "any" in choice:
        return by_name[named[0]] if named else tools[0]["toolSpec"]
    if any("toolResult" in b for b in last_user.get("content", [])):
        return None
    return by_name[named[0]] if named else None


def _validation(message: str, operation: str = "Converse") -> ClientError:
    return ClientError(
        {"Error": {"Code": "ValidationException", "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        operation,
    )


def _check_sampling(spec, inference: dict, operation: str) -> None:
    """Refuse what the model's catalog `sampling` rule says it refuses, with the service's words (Bedrock user
    guide, Anthropic Claude Messages API: Sonnet 4.5 and Haiku 4.5 take "either the `temperature` or `top_p`
    parameter, but not both"; Opus 4.7 and later take neither)."""
    rule = getattr(spec, "sampling", "temperature_and_top_p")
    if rule == "temperature_or_top_p" and "temperature" in inference and "topP" in inference:
        raise _validation(
            "The model returned the following errors: `temperature` and `top_p` cannot both be specified for this "
            "model. Please use only one.",
            operation,
        )
    if rule == "none" and ("temperature" in inference or "topP" in inference):
        name = "temperature" if "temperature" in inference else "top_p"
        raise _validation(f"The model returned the following errors: `{name}` is deprecated for this model.", operation)


def _check_tool_schemas(tool_config: dict | None, operation: str) -> None:
    """Refuse a tool whose input schema is not a JSON Schema (as Claude on Bedrock does), before the example
    generator reads it."""
    for i, tool in enumerate((tool_config or {}).get("tools") or ()):
        schema = ((tool.get("toolSpec") or {}).get("inputSchema") or {}).get("json")
        problem = schema_problem(schema) if schema is not None else None
        if problem is None and schema is not None:
            try:
                json.dumps(schema, allow_nan=False)
            except ValueError:
                problem = "a number in it is not finite"
        if problem is not None:
            raise _validation(
                f"tools.{i}.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft 2020-12 "
                f"({problem})",
                operation,
            )


def _tool_use_id(digest: str) -> str:
    raw = base64.urlsafe_b64encode(bytes.fromhex(digest[:32])).decode().rstrip("=")
    return "tooluse_SIM" + raw.replace("-", "x").replace("_", "y")[:19]


def _split_json(text: str) -> list[str]:
    pieces = tokenize(text)
    if len(pieces) == 1 and len(text) > 1:  # e.g. "{}": still more than one fragment
        pieces = [text[: len(text) // 2], text[len(text) // 2 :]]
    return pieces


def _text_answer(key: str, spec, text_in: str, digest: str, tool_results: list[str]) -> str:
    words = text_in.split()
    answer = (
        f"{SIMULATED_TAG} This is a simulated answer from {spec.display_name or key} ({spec.model_id}); "
        f"no model was called. "
    )
    if tool_results:
        answer += " ".join(tool_results) + " "
    answer += (
        f"Your message had {len(words)} word{'' if len(words) == 1 else 's'}"
        + (f', starting with "{" ".join(words[:6])}"' if words else "")
        + f". Fingerprint {digest[:8]}."
    )
    asked = WORDS_ASKED.search(text_in)
    if asked:
        wanted = max(1, min(MAX_WORDS, int(asked.group(1))))
        have = len(answer.split())
        start = int(digest[8:12], 16) % len(FILLER)
        if wanted > have:
            extra = [FILLER[(start + i) % len(FILLER)] for i in range(wanted - have)]
            answer += " " + " ".join(extra).capitalize() + "."
        elif wanted < have:  # fewer words than the fixed sentence: the tag, then as many words as asked for
            short = [SIMULATED_TAG, "No", "model", "was", "called."]
            short += [FILLER[(start + i) % len(FILLER)] for i in range(max(0, wanted - len(short)))]
            answer = " ".join(short[:wanted])
    return answer


def _build_answer(
    key: str, spec, request: dict, operation: str, quality_of: Callable[[str], float | None] | None = None
) -> _Answer:
    """The answer to one request. `quality_of` (a model's catalog quality by key, id or display name) lets a
    judge request (local/simulated_judge.py) be answered by the simulated judge."""
    thinks = _thinking(spec, request, operation)
    if thinks:
        _check_tool_turn(request.get("messages", []), operation)
    answer = _plain_answer(key, spec, request, operation, quality_of)
    if thinks:
        reasoning = (
            f"{SIMULATED_TAG} reasoning of {spec.display_name or key}: the question is read, the answer follows."
        )
        answer.reasoning = tokenize(reasoning)
        answer.signature = _signature(key, reasoning)
        answer.content.insert(
            0, {"reasoningContent": {"reasoningText": {"text": reasoning, "signature": answer.signature}}}
        )
        answer.output_tokens += len(answer.reasoning)
    return answer


def _plain_answer(
    key: str, spec, request: dict, operation: str, quality_of: Callable[[str], float | None] | None
) -> _Answer:
    messages = request.get("messages", [])
    _check_reasoning(key, messages, operation)
    last_user = _last_user_message(messages)
    text_in = _user_text(messages)
    input_tokens = _input_tokens(request)
    tool_config = request.get("toolConfig")
    if tool_config and tool_config.get("tools") and not spec.supports_tools:
        raise _validation(f"simulated backend: {spec.model_id} does not support tool use", operation)
    _check_sampling(spec, request.get("inferenceConfig") or {}, operation)
    _check_tool_schemas(tool_config, operation)
    tool_names = _tool_names_by_id(messages)
    tool_results = []
    for block in last_user.get("content", []):
        result = block.get("toolResult")
        if isinstance(result, dict):
            name = tool_names.get(result.get("toolUseId", ""), "?")
            verb = "failed with" if result.get("status") == "error" else "returned"
            tool_results.append(f"The tool {name} {verb}: {_render_tool_result(result)}.")
    digest = hashlib.sha256(f"{key}\n{text_in}".encode()).hexdigest()
    if tool_results:
        digest = hashlib.sha256(f"{digest}\n{tool_results}".encode()).hexdigest()
    tool = _pick_tool(request, last_user, operation) if tool_config else None
    inference = request.get("inferenceConfig") or {}
    max_tokens = inference.get("maxTokens", DEFAULT_MAX_TOKENS)
    if tool is not None:
        schema = (tool.get("inputSchema") or {}).get("json") or {"type": "object"}
        # generate no more than max_tokens can carry (a token is at most 6 characters), and never more than a
        # text answer may be: a schema's minLength or minItems cannot make the backend build gigabytes
        budget = min(MAX_TOOL_INPUT_CHARS, (max(0, max_tokens) + 1) * 6)
        value, ran_out = _example(schema, text_in, budget)
        tool_input = value if isinstance(value, dict) else {}
        use_digest = hashlib.sha256(f"{digest}\n{tool['name']}".encode()).hexdigest()
        use = {"toolUseId": _tool_use_id(use_digest), "name": tool["name"], "input": tool_input}
        pieces = _split_json(json.dumps(tool_input))
        if ran_out or len(pieces) > max_tokens:  # cut like text: the input is incomplete, so it is not a tool_use
            pieces = pieces[: max(0, max_tokens)]
            use["input"] = {}  # Converse carries a toolUse input as a JSON value: the partial one is not one
            return _Answer([{"toolUse": use}], pieces, "max_tokens", None, input_tokens, len(pieces))
        return _Answer([{"toolUse": use}], pieces, "tool_use", None, input_tokens, len(pieces))
    system_text = "\n".join(s.get("text", "") for s in request.get("system", []))
    if quality_of is not None and simulated_judge.is_judge_request(system_text):
        text = simulated_judge.reply(text_in, quality_of)
    else:
        text = _text_answer(key, spec, text_in, digest, tool_results)
    stop_reason, stop_sequence = "end_turn", None
    cut = len(text)
    for sequence in inference.get("stopSequences") or ():
        at = text.find(sequence) if sequence else -1
        if 0 <= at < cut:
            cut, stop_reason, stop_sequence = at, "stop_sequence", sequence
    pieces = tokenize(text[:cut])
    if len(pieces) > max_tokens:
        pieces, stop_reason, stop_sequence = pieces[: max(0, max_tokens)], "max_tokens", None
    return _Answer([{"text": "".join(pieces)}], pieces, stop_reason, stop_sequence, input_tokens, len(pieces))


# --- a small JSON Schema instance generator ----------------------------------------------------------

_FORMAT_SAMPLES = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "simulated@example.com",
    "idn-email": "simulated@example.com",
    "hostname": "example.com",
    "uri": "https://example.com/simulated",
    "url": "https://example.com/simulated",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/simulated",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
_MAX_DEPTH = 12  # past half of it: only required properties and minimum array sizes


def example_from_schema(schema: dict | bool, *, text: str = "", max_chars: int = MAX_TOOL_INPUT_CHARS) -> object:
    """A small, deterministic instance of a JSON Schema (the tool-input subset models see).

    Objects get their required properties, and all properties when there are at most 6; arrays one item (or
    minItems); strings "simulated <name>" (or a format's sample, within min/maxLength); numbers 1 moved into
    their bounds; booleans true; enum -> first value; const and default as given; anyOf/oneOf -> first non-null
    branch; allOf merged; $ref into $defs/definitions. A property `p` takes the value the text gives as
    `p=value` or `p: value` (quoted or up to a blank, comma or semicolon) when it fits the property's type.
    Not handled: pattern, uniqueItems with several items, if/then/else, not, patternProperties.
    Bounded: strings and arrays stop growing once about `max_chars` characters are generated (a minLength or
    minItems past that is not met), so what a schema asks for cannot exhaust memory."""
    return _example(schema, text, max_chars)[0]


def _example(schema: dict | bool, text: str, max_chars: int) -> tuple[object, bool]:
    """(the instance, whether the budget ran out before the schema was satisfied)."""
    hints: dict[str, str] = {}
    for match in HINT_PATTERN.finditer(text or ""):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        if value is None:
            value = match.group(4).rstrip(".!?)")
        hints.setdefault(match.group(1).lower(), value)
    example = _SchemaExample(schema, hints, max_chars)
    value = example.value(schema, None, 0)
    return value, example.left <= 0


class _SchemaExample:
    def __init__(self, root, hints: dict[str, str], max_chars: int):
        self.root = root
        self.hints = hints
        self.left = max_chars  # characters still allowed

    def resolve(self, ref: str) -> dict:
        if not ref.startswith("#"):
            return {}
        node = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node if isinstance(node, dict) else {}

    def value(self, schema, name: str | None, depth: int):
        if schema is True or schema is None:
            schema = {}
        if schema is False or not isinstance(schema, dict):
            return None
        if depth > _MAX_DEPTH:
            return None
        if "$ref" in schema:
            merged = {**self.resolve(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.value(merged, name, depth + 1)
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        hint = self.hints.get(name.lower()) if name else None
        if "enum" in schema and schema["enum"]:
            for option in schema["enum"]:
                if hint is not None and str(option).lower() == hint.lower():
                    return copy.deepcopy(option)
            return copy.deepcopy(schema["enum"][0])
        if "default" in schema and hint is None:
            return copy.deepcopy(schema["default"])
        for key in ("anyOf", "oneOf"):
            branches = [b for b in schema.get(key) or () if isinstance(b, dict | bool)]
            if branches:
                rest = {k: v for k, v in schema.items() if k not in (key, "default")}
                non_null = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
                chosen = non_null[0] if non_null and depth <= _MAX_DEPTH // 2 else branches[0]
                chosen = chosen if isinstance(chosen, dict) else {}
                return self.value({**rest, **chosen}, name, depth + 1)
        if schema.get("allOf"):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = part if isinstance(part, dict) else {}
                while "$ref" in part:
                    part = {**self.resolve(part["$ref"]), **{k: v for k, v in part.items() if k != "$ref"}}
                for k, v in part.items():
                    if k == "properties":
                        merged["properties"] = {**merged.get("properties", {}), **v}
                    elif k == "required":
                        merged["required"] = list(dict.fromkeys([*merged.get("required", []), *v]))
                    else:
                        merged.setdefault(k, v)
            return self.value(merged, name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = _infer_type(schema)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        self.left -= 8  # a value and its separators, roughly
        if kind in ("integer", "number"):
            try:
                return _number(schema, kind, hint)
            except OverflowError:  # bounds past a double's range (integers may be that large): the bound itself
                return next((b for b in (schema.get("minimum"), schema.get("maximum")) if _is_int(b)), 1)
        if kind == "boolean":
            return hint.lower() != "false" if hint is not None and hint.lower() in ("true", "false") else True
        if kind == "null":
            return None
        value = _string(schema, name, hint, max(0, self.left))
        self.left -= len(value)
        return value

    def object(self, schema: dict, depth: int) -> dict:
        properties = schema.get("properties") or {}
        required = [p for p in schema.get("required") or () if isinstance(p, str)]
        names = list(dict.fromkeys(required))
        if len(properties) <= 6 and depth <= _MAX_DEPTH // 2:
            names += [p for p in properties if p not in names]
        extra = schema.get("additionalProperties")
        out = {}
        for prop in names:
            sub = properties.get(prop, extra if isinstance(extra, dict) else {})
            out[prop] = self.value(sub, prop, depth + 1)
        return out

    def array(self, schema: dict, name: str | None, depth: int) -> list:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [self.value(item, name, depth + 1) for item in prefix]
        items = schema.get("items", {})
        if isinstance(items, list):  # draft 4-7 tuple form
            return [self.value(item, name, depth + 1) for item in items]
        count = max(1 if depth <= _MAX_DEPTH // 2 else 0, int(schema.get("minItems", 0)))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        out: list = []
        while len(out) < count and self.left > 0:
            self.left -= 6  # an item and its separator at least ("null, "): even empty items use up the budget
            out.append(self.value(items, name, depth + 1))
        return out


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _infer_type(schema: dict) -> str:
    if any(k in schema for k in ("properties", "required", "additionalProperties", "minProperties")):
        return "object"
    if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "string"


def _string(schema: dict, name: str | None, hint: str | None, max_chars: int) -> str:
    if hint is not None:
        value = hint
    elif schema.get("format") in _FORMAT_SAMPLES:
        value = _FORMAT_SAMPLES[schema["format"]]
    else:
        value = f"simulated {name}" if name else "simulated"
    min_length, max_length = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(value) < min_length:
        value += "x" * (min(min_length, max_chars) - len(value))
    if max_length is not None and len(value) > int(max_length):
        value = value[: int(max_length)]
    return value


def _number(schema: dict, kind: str, hint: str | None):
    value: float = 1
    if hint is not None:
        try:
            value = float(hint)
            if kind == "integer" and not value.is_integer():
                value = 1
        except ValueError:
            value = 1
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_min is True:  # draft 4: a flag on minimum
        ex_min, minimum = minimum, None
    if ex_max is True:
        ex_max, maximum = maximum, None
    ex_min = ex_min if isinstance(ex_min, int | float) and not isinstance(ex_min, bool) else None
    ex_max = ex_max if isinstance(ex_max, int | float) and not isinstance(ex_max, bool) else None
    upper = maximum if maximum is not None else (ex_max if ex_max is not None else None)
    step = 1 if kind == "integer" else None
    if minimum is not None and value < minimum:
        value = minimum
    if ex_min is not None and value <= ex_min:
        value = math.floor(ex_min) + 1 if step else (ex_min + 1 if upper is None else (ex_min + upper) / 2)
    if maximum is not None and value > maximum:
        value = maximum
    if ex_max is not None and value >= ex_max:
        value = math.ceil(ex_max) - 1 if step else (ex_max - 1 if ex_min is None else (ex_min + ex_max) / 2)
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0 and not isinstance(multiple, bool):
        value = math.ceil(value / multiple) * multiple
    if kind == "integer":
        return int(math.ceil(value))
    return int(value) if float(value).is_integer() else value


# --- the client ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Shared:
    """State the clones made by `with_timeout` share: the random source, the call log, the streams."""

    random: random.Random
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[str] = field(default_factory=list)
    # The last requests and streams only (by reference, not copied): a long-running local server must not grow.
    requests: deque[dict] = field(default_factory=lambda: deque(maxlen=KEEP_LAST))
    streams: deque[SimulatedEventStream] = field(default_factory=lambda: deque(maxlen=KEEP_LAST))
    cache: PromptCache = field(default_factory=lambda: PromptCache(time.monotonic))


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one call unfolds: which model answers, its faults, and its pace."""

    key: str
    spec: object
    trace: dict | None
    pace_ms: float  # L: the model's simulated latency (scaled) plus latency faults
    first_token_extra_ms: float
    error: str | None  # an error class or "Timeout", raised when the call starts
    stream_error: bool

    @property
    def first_token_ms(self) -> float:
        return self.pace_ms / 2 + self.first_token_extra_ms

    @property
    def per_token_ms(self) -> float:
        return self.pace_ms / 100

    def total_ms(self, tokens: int) -> float:
        return max(self.pace_ms, self.pace_ms / 2 + tokens * self.per_token_ms) + self.first_token_extra_ms


class SimulatedBedrock:
    """Stands in for a boto3 `bedrock-runtime` client: `converse` and `converse_stream` are implemented.

    `calls` lists the model keys that answered, in order; `requests` the last requests received; `streams` the
    last `SimulatedEventStream`s handed out (tests read `.closed`, `.finished`). All are shared with the clones
    that `with_timeout` makes."""

    def __init__(
        self,
        config: Callable[[], RoutingConfig],
        *,
        faults: dict[str, list[Fault]] | None = None,
        latency: SimulatedLatency | None = None,
        latency_scale: float = 1.0,
        read_timeout_s: float | None = None,
        seed: int = 7,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._config = config
        self.faults = faults or {}
        self.latency = latency or SimulatedLatency()
        self.latency_scale = latency_scale
        self.read_timeout_s = read_timeout_s
        self._shared = _Shared(random.Random(seed), cache=PromptCache(clock))
        self._sleep = sleep

    @property
    def calls(self) -> list[str]:
        return self._shared.calls

    @property
    def requests(self) -> deque[dict]:
        return self._shared.requests

    @property
    def streams(self) -> deque[SimulatedEventStream]:
        return self._shared.streams

    @property
    def prompt_cache(self) -> PromptCache:
        return self._shared.cache

    def _answer(self, plan: _Plan, request: dict, operation: str) -> _Answer:
        answer = _build_answer(plan.key, plan.spec, request, operation, self.quality_of)
        if _has_cache_points(request):
            self._shared.cache.use(plan.key, plan.spec, request, answer, operation)
        return answer

    def with_timeout(self, read_timeout_s: float) -> SimulatedBedrock:
        clone = SimulatedBedrock(
            self._config,
            faults=self.faults,
            latency=self.latency,
            latency_scale=self.latency_scale,
            read_timeout_s=read_timeout_s,
            sleep=self._sleep,
        )
        clone._shared = self._shared
        return clone

    def quality_of(self, name: str) -> float | None:
        """The catalog quality of the model a key, model id or display name names (None: no such model)."""
        for key, spec in self._config().models.items():
            if name in (key, spec.model_id, spec.display_name):
                return spec.quality
        return None

    def _roll(self, rate: float) -> bool:
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        with self._shared.lock:
            return self._shared.random.random() < rate

    def _lookup(self, model_id: str, operation: str):
        config = self._config()
        for key, spec in config.models.items():
            if spec.model_id == model_id:
                return key, spec, None, None
        for key, router in config.prompt_routers.items():
            if router.arn == model_id or (router.arn is None and ":prompt-router/" in model_id):
                return key, None, router, config
        raise ClientError(
            {
                "Error": {"Code": "ResourceNotFoundException", "Message": f"simulated backend: no model {model_id}"},
                "ResponseMetadata": {"HTTPStatusCode": 404},
            },
            operation,
        )

    def _plan(self, request: dict, operation: str) -> _Plan:
        model_id = request["modelId"]
        key, spec, router, config = self._lookup(model_id, operation)
        names = []
        trace = None
        if router is not None:
            # Like Intelligent Prompt Routing: the stronger model for harder prompts.
            names += [key, model_id]
            members = sorted(router.models, key=lambda m: config.models[m].quality)
            text_in = _user_text(request.get("messages", []))
            key = members[-1] if complexity_score(text_in) >= 0.5 else members[0]
            spec = config.models[key]
            trace = {"promptRouter": {"invokedModelId": _invoked_model_arn(model_id, spec.model_id)}}
            config_aliases = config.aliases
        else:
            config_aliases = self._config().aliases
        names += [key, spec.model_id] + [a for a, t in config_aliases.items() if t == key]
        with self._shared.lock:
            self._shared.calls.append(key)
            self._shared.requests.append(request)
        faults = [f for name in dict.fromkeys(names) for f in self.faults.get(name, ())]
        pace = self.latency.of(key) * self.latency_scale
        first_extra = 0.0
        for fault in faults:
            if fault.kind == "latency" and self._roll(fault.rate):
                pace += fault.latency_ms
            elif fault.kind == "first_token_latency" and self._roll(fault.rate):
                first_extra += fault.latency_ms
        error = next(
            (f.kind for f in faults if f.kind not in LATENCY_FAULTS | {"stream_error"} and self._roll(f.rate)), None
        )
        stream_error = any(f.kind == "stream_error" and self._roll(f.rate) for f in faults)
        return _Plan(key, spec, trace, pace, first_extra, error, stream_error)

    def _raise_planned_error(self, plan: _Plan, operation: str) -> None:
        if plan.error is None:
            return
        self._sleep_ms(min(plan.first_token_ms, 50 * self.latency_scale))
        if plan.error == "Timeout":
            raise ReadTimeoutError(endpoint_url=f"simulated://{plan.key}")
        raise ClientError(
            {
                "Error": {"Code": plan.error, "Message": f"simulated {plan.error} injected by LOCAL_FAULTS"},
                "ResponseMetadata": {"HTTPStatusCode": ERROR_STATUS.get(plan.error, 500)},
            },
            operation,
        )

    def _sleep_ms(self, ms: float) -> None:
        if ms > 0:
            self._sleep(ms / 1000)

    def converse(self, **request) -> dict:
        plan = self._plan(request, "Converse")
        answer = self._answer(plan, request, "Converse")
        latency_ms = plan.total_ms(answer.output_tokens)
        if self.read_timeout_s is not None and latency_ms / 1000 > self.read_timeout_s:
            self._sleep(self.read_timeout_s)
            raise ReadTimeoutError(endpoint_url=f"simulated://{plan.key}")
        self._raise_planned_error(plan, "Converse")
        self._sleep_ms(latency_ms)
        response = {
            "output": {"message": {"role": "assistant", "content": answer.content}},
            "stopReason": answer.stop_reason,
            "usage": answer.usage(),
            "metrics": {"latencyMs": int(latency_ms)},
            "ResponseMetadata": _response_metadata("application/json"),
        }
        if answer.stop_sequence is not None:
            response["additionalModelResponseFields"] = {"stop_sequence": answer.stop_sequence}
        if plan.trace is not None:
            response["trace"] = plan.trace
        return response

    def count_tokens(self, **request) -> dict:
        """Like Bedrock's CountTokens: the input tokens Converse would report for `input.converse`."""
        model_id = request["modelId"]
        spec = next(
            (s for s in self._config().models.values() if base_model_id(s.model_id) == model_id),
            None,
        )
        if spec is None or base_model_id(model_id) != model_id:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationException",
                        "Message": f"The provided model identifier is invalid: {model_id}",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "CountTokens",
            )
        if model_id.startswith("amazon.nova"):
            raise _validation("The provided model doesn't support counting tokens.", "CountTokens")
        return {
            "inputTokens": _input_tokens(request["input"]["converse"]),
            "ResponseMetadata": _response_metadata("application/json"),
        }

    def converse_stream(self, **request) -> dict:
        """Like boto3's: {"stream": <events>, "ResponseMetadata": ...}; errors before the stream are raised here."""
        plan = self._plan(request, "ConverseStream")
        answer = self._answer(plan, request, "ConverseStream")
        self._raise_planned_error(plan, "ConverseStream")
        stream = SimulatedEventStream(self, plan, answer)
        with self._shared.lock:
            self._shared.streams.append(stream)
        return {"stream": stream, "ResponseMetadata": _response_metadata("application/vnd.amazon.eventstream")}


def _invoked_model_arn(router_arn: str, model_id: str) -> str:
    """What a prompt router reports it invoked: an ARN (an inference profile's for a us./eu./... id), as the service
    does, in the router's partition, region and account."""
    if model_id.startswith("arn:"):
        return model_id
    parts = router_arn.split(":")
    partition, region, account = (parts[1], parts[3], parts[4]) if len(parts) > 5 else ("aws", "us-east-1", "")
    if re.match(r"^(us|eu|apac|global|us-gov|jp|au|ca)\.", model_id):
        return f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model_id}"
    return f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"


def _response_metadata(content_type: str) -> dict:
    request_id = str(uuid.uuid4())
    return {
        "RequestId": request_id,
        "HTTPStatusCode": 200,
        "RetryAttempts": 0,
        "HTTPHeaders": {"content-type": content_type, "x-amzn-requestid": request_id},
    }


class SimulatedEventStream:
    """Behaves like botocore's EventStream for ConverseStream: iterate it once for the events; `close()` stops
    the generation (from any thread; a pending wait ends at once when the real clock is used)."""

    def __init__(self, backend: SimulatedBedrock, plan: _Plan, answer: _Answer):
        self._backend = backend
        self._plan = plan
        self._answer = answer
        self._closed = threading.Event()
        self._generator = self._events()
        self.model_key = plan.key
        self.closed = False  # close() was called
        self.finished = False  # every event was sent
        self.events_sent = 0
        self.pieces_sent = 0

    def close(self) -> None:
        self.closed = True
        self._closed.set()

    def __iter__(self) -> Iterator[dict]:
        return self._generator  # one generator, as botocore's: a second loop continues where the first stopped

    def _wait(self, ms: float) -> bool:
        """Wait (raising a read timeout past the client's); False if the stream was closed meanwhile."""
        backend = self._backend
        timeout_s = backend.read_timeout_s
        if timeout_s is not None and ms / 1000 > timeout_s:
            self._pause(timeout_s)
            if self._closed.is_set():
                return False
            raise ReadTimeoutError(endpoint_url=f"simulated://{self._plan.key}")
        if ms > 0:
            self._pause(ms / 1000)
        return not self._closed.is_set()

    def _pause(self, seconds: float) -> None:
        if self._backend._sleep is time.sleep:
            self._closed.wait(seconds)
        else:
            self._backend._sleep(seconds)

    def _emit(self, event: dict) -> dict:
        self.events_sent += 1
        return event

    def _events(self) -> Iterator[dict]:
        plan, answer = self._plan, self._answer
        if not self._wait(plan.first_token_ms):
            return
        yield self._emit({"messageStart": {"role": "assistant"}})
        index = 0  # the answer's block: after the reasoning block, when there is one
        if answer.reasoning:
            for i, piece in enumerate(answer.reasoning):
                if (i and not self._wait(plan.per_token_ms)) or self._closed.is_set():
                    return
                yield self._emit(
                    {"contentBlockDelta": {"delta": {"reasoningContent": {"text": piece}}, "contentBlockIndex": 0}}
                )
            signature = {"reasoningContent": {"signature": answer.signature}}
            yield self._emit({"contentBlockDelta": {"delta": signature, "contentBlockIndex": 0}})
            yield self._emit({"contentBlockStop": {"contentBlockIndex": 0}})
            index = 1
        block = answer.content[index]
        if "toolUse" in block:
            use = block["toolUse"]
            if self._closed.is_set():
                return
            yield self._emit(
                {
                    "contentBlockStart": {
                        "start": {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}},
                        "contentBlockIndex": index,
                    }
                }
            )

            def delta(piece):
                return {"toolUse": {"input": piece}}
        else:

            def delta(piece):
                return {"text": piece}

        fail_after = min(2, len(answer.pieces)) if plan.stream_error else None
        for i, piece in enumerate(answer.pieces):
            if i and not self._wait(plan.per_token_ms):
                return
            if self._closed.is_set():
                return
            self.pieces_sent += 1
            yield self._emit({"contentBlockDelta": {"delta": delta(piece), "contentBlockIndex": index}})
            if fail_after is not None and self.pieces_sent >= fail_after:
                raise EventStreamError(
                    {
                        "Error": {
                            "Code": STREAM_ERROR_CODE,
                            "Message": f"simulated {STREAM_ERROR_CODE} injected by LOCAL_FAULTS",
                        }
                    },
                    "ConverseStream",
                )
        if fail_after is not None:  # an empty answer: the error comes instead of the first token
            raise EventStreamError(
                {"Error": {"Code": STREAM_ERROR_CODE, "Message": "simulated stream error"}}, "ConverseStream"
            )
        if self._closed.is_set():
            return
        yield self._emit({"contentBlockStop": {"contentBlockIndex": index}})
        stop: dict = {"stopReason": answer.stop_reason}
        if answer.stop_sequence is not None:
            stop["additionalModelResponseFields"] = {"stop_sequence": answer.stop_sequence}
        yield self._emit({"messageStop": stop})
        metadata: dict = {
            "usage": answer.usage(),
            "metrics": {"latencyMs": int(plan.first_token_ms + max(0, len(answer.pieces) - 1) * plan.per_token_ms)},
        }
        if plan.trace is not None:
            metadata["trace"] = plan.trace
        yield self._emit({"metadata": metadata})
        self.finished = True


def simulated_client_factory(backend: SimulatedBedrock):
    """A BedrockConverse client factory: one simulated client per timeout, sharing faults and the call log."""

    def make(_region: str | None, timeout_s: float):  # every simulated model answers in every region
        return backend.with_timeout(timeout_s)

    return make
