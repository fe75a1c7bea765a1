"""Prompt-cache points fitted to the model a request is sent to (issue 16, item 2).

A request's cache points (Anthropic `cache_control`, parsed into `CachePoint`s) are kept where the model's catalog
entry (`prompt_caching`) says it can cache them, and dropped, with a note for the trace and log line, where it
cannot: a model without prompt caching, a field it does not cache (Nova: tools), more points than it takes (at
most 4: those in the tools and the system prompt, then the latest in the messages), a TTL it does not take (sent
with its default, 5 minutes). Bedrock wants TTLs non-increasing in prefix order (tools, system, messages), so a
1-hour point after a 5-minute one is sent as 5 minutes.

A route with `auto_cache_points` places them for a request that marks none (OpenAI and JSON API clients cannot):
after the tools, after the system prompt, and at the end of the latest turn, which the next turn of the same
conversation repeats; Bedrock finds an earlier cached prefix within the blocks before a point, so each turn reads
what the turn before wrote. A prefix shorter than the model's minimum is simply not cached (Bedrock answers).
"""

from __future__ import annotations

from typing import NamedTuple

from aws_adapters.conversation import CachePoint, Text, ToolSpec, Turn
from routing_engine.config.catalog import ModelSpec


class CacheFit(NamedTuple):
    turns: tuple[Turn, ...]
    system_blocks: tuple[Text | CachePoint, ...]
    tools: tuple[ToolSpec, ...]
    notes: tuple[str, ...]


def has_points(turns: tuple[Turn, ...], system_blocks: tuple, tools: tuple[ToolSpec, ...]) -> bool:
    return (
        any(t.cache is not None for t in tools)
        or any(type(b) is CachePoint for b in system_blocks)
        or any(type(b) is CachePoint for turn in turns for b in turn.content)
    )


def fit(
    turns: tuple[Turn, ...],
    system: str | None,
    system_blocks: tuple[Text | CachePoint, ...],
    tools: tuple[ToolSpec, ...],
    spec: ModelSpec | None,
    key: str,
    *,
    auto: bool = False,
) -> CacheFit:
    """The conversation, system blocks and tools with the cache points `key` (catalog entry `spec`) can take."""
    caching = spec.prompt_caching if spec is not None else None
    if not has_points(turns, system_blocks, tools):
        if not auto or caching is None:
            return CacheFit(turns, system_blocks, tools, ())
        return _auto(turns, system, tools, caching.fields)
    if caching is None:
        return CacheFit(
            _strip_turns(turns),
            tuple(b for b in system_blocks if type(b) is not CachePoint),
            tuple(t if t.cache is None else ToolSpec(t.name, t.description, t.schema) for t in tools),
            (f"cache_control dropped: {key} has no prompt caching",),
        )
    notes: list[str] = []
    fields = caching.fields
    # Every point, in prefix order: (field, where); `where` is a tool index, a system block index, (turn, block).
    points: list[tuple[str, object, CachePoint]] = []
    points += [("tools", i, t.cache) for i, t in enumerate(tools) if t.cache is not None]
    points += [("system", i, b) for i, b in enumerate(system_blocks) if type(b) is CachePoint]
    points += [
        ("messages", (i, j), b)
        for i, turn in enumerate(turns)
        for j, b in enumerate(turn.content)
        if type(b) is CachePoint
    ]
    kept = [p for p in points if p[0] in fields]
    for field in ("tools", "system", "messages"):
        lost = sum(1 for p in points if p[0] == field and field not in fields)
        if lost:
            notes.append(f"cache_control dropped on {field}: {key} does not cache {field}")
    if len(kept) > caching.max_points:
        head = [p for p in kept if p[0] != "messages"][: caching.max_points]
        room = caching.max_points - len(head)
        tail = [p for p in kept if p[0] == "messages"][-room:] if room else []
        notes.append(
            f"cache_control: {len(kept) - len(head) - len(tail)} of {len(kept)} cache points dropped "
            f"({key} takes at most {caching.max_points})"
        )
        kept = head + tail
    # TTLs: one the model does not take goes with the default; none may rise along the prefix.
    fitted: dict[tuple[str, object], CachePoint] = {}
    longest = "1h"
    for field, where, point in kept:
        ttl = point.ttl
        if ttl is not None and ttl not in caching.ttls:
            notes.append(f"cache_control ttl {ttl} sent as 5m: {key} does not take it")
            ttl = None
        if ttl == "1h" and longest != "1h":
            notes.append("cache_control ttl 1h after a 5m point sent as 5m (TTLs may not rise along the prompt)")
            ttl = None
        if ttl != "1h":
            longest = "5m"
        fitted[(field, where)] = point if ttl == point.ttl else CachePoint(ttl)
    new_tools = tuple(
        t if t.cache is None else ToolSpec(t.name, t.description, t.schema, fitted.get(("tools", i)))
        for i, t in enumerate(tools)
    )
    new_system = tuple(
        x
        for x in (fitted.get(("system", i)) if type(b) is CachePoint else b for i, b in enumerate(system_blocks))
        if x is not None
    )
    new_turns = tuple(
        Turn(
            turn.role,
            tuple(
                x
                for x in (
                    fitted.get(("messages", (i, j))) if type(b) is CachePoint else b for j, b in enumerate(turn.content)
                )
                if x is not None
            ),
        )
        if any(type(b) is CachePoint for b in turn.content)
        else turn
        for i, turn in enumerate(turns)
    )
    return CacheFit(new_turns, new_system, new_tools, tuple(notes))


def _strip_turns(turns: tuple[Turn, ...]) -> tuple[Turn, ...]:
    return tuple(
        Turn(t.role, tuple(b for b in t.content if type(b) is not CachePoint))
        if any(type(b) is CachePoint for b in t.content)
        else t
        for t in turns
    )


def _auto(turns: tuple[Turn, ...], system: str | None, tools: tuple[ToolSpec, ...], fields) -> CacheFit:
    """Cache points for a request that marked none: after the tools, after the system prompt, at the end of the
    latest turn (each where the model caches that field)."""
    if tools and "tools" in fields:
        last = tools[-1]
        tools = (*tools[:-1], ToolSpec(last.name, last.description, last.schema, CachePoint()))
    system_blocks: tuple[Text | CachePoint, ...] = ()
    if system and "system" in fields:
        system_blocks = (Text(system), CachePoint())
    if turns and "messages" in fields and turns[-1].content:
        last_turn = turns[-1]
        turns = (*turns[:-1], Turn(last_turn.role, (*last_turn.content, CachePoint())))
    return CacheFit(turns, system_blocks, tools, ())
