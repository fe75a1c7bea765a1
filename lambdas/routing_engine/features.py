"""What the router knows about a request before choosing a model. Pure code.

Messages here are already normalised by the API layer into a small shape that is
independent of the wire format (our JSON API or OpenAI's):
``Message(role, parts)`` where each part is ``("text", str)``, ``("image", n_bytes)``
or ``("document", n_bytes)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from routing_engine.patterns import compile_risk_pattern
from routing_engine.scorer import Scorer, bundled, split_prompt

# Rough, model-agnostic token estimates: about 4 characters per token for text,
# a fixed budget per image (Claude bills roughly 1.6K tokens for a 1-megapixel
# image), and about 4 bytes per token for extracted document text.
CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1_600
DOCUMENT_BYTES_PER_TOKEN = 4

# Risk patterns scan at most this many characters of each text part (three quarters from the start, a
# quarter from the end), so one huge prompt costs a bounded time: RE2 (routing_engine.patterns) is linear in
# the text, about 3 us per KB per pattern. Operators can raise it (limits.risk_scan_chars).
RISK_SCAN_CHARS = 16_000
# The flags under which the digit prefilter reads a pattern with Python's parser (see _needs_digit).
RISK_FLAGS = re.IGNORECASE | re.ASCII


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    parts: tuple[tuple[str, object], ...]


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    estimated_tokens: int
    message_count: int
    has_images: bool
    has_documents: bool
    uses_tools: bool
    risk: tuple[str, ...] = ()
    complexity: float | None = None  # computed only when a decision needs it
    risk_scan_partial: bool = False  # a text part was longer than the risk scan window
    # The scorer that computed `complexity` (its name in the configuration, and its weights' version). Not in
    # as_dict(): the decision carries them (Decision.scorer, Decision.scorer_version) and the log line names them.
    scorer: str | None = None
    scorer_version: str | None = None

    def as_dict(self) -> dict:
        return {
            **({"risk_scan_partial": True} if self.risk_scan_partial else {}),
            "estimated_tokens": self.estimated_tokens,
            "complexity": None if self.complexity is None else round(self.complexity, 4),
            "message_count": self.message_count,
            "has_images": self.has_images,
            "has_documents": self.has_documents,
            "uses_tools": self.uses_tools,
            "risk": list(self.risk),
        }


try:  # the regex parser, to prove facts about a pattern (internal module: any failure means "no proof")
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_ASCII_DIGITS = "0123456789"


def _requires_digit(parsed) -> bool:
    """Whether every match of this (parsed) regex consumes an ASCII digit. Conservative: anything not understood
    answers False. Sound for RE2 too: \\d is [0-9] in both engines, and no case folding (ASCII or Unicode) maps
    anything to an ASCII digit."""
    c = _sre_parse  # opcodes live on the parser module's namespace (re._constants)
    for op, av in parsed:
        if op is c.LITERAL and 0x30 <= av <= 0x39:
            return True
        if (
            op is c.IN
            and av
            and all(
                (kind is c.LITERAL and 0x30 <= arg <= 0x39)
                or (kind is c.RANGE and 0x30 <= arg[0] <= arg[1] <= 0x39)
                or (kind is c.CATEGORY and arg is c.CATEGORY_DIGIT)
                for kind, arg in av
            )
        ):
            return True
        if op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1 and _requires_digit(av[2]):
            return True
        if op is c.SUBPATTERN and _requires_digit(av[3]):
            return True
        if op is c.BRANCH and all(_requires_digit(branch) for branch in av[1]):
            return True
    return False


# The proof reads the pattern with Python's parser, but the router matches with RE2, so it is only attempted
# when both read the pattern alike: no POSIX classes ([[:digit:]] means a class to RE2 and a literal "[:" to
# Python) and no escapes beyond those with one meaning in both. Anything else gets no proof and no shortcut.
_SHARED_ESCAPES = frozenset("dDwWsSbBAntrfv")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _parsers_agree(pattern: str) -> bool:
    if "[:" in pattern:
        return False
    return all(c in _SHARED_ESCAPES or not c.isalnum() for c in _ESCAPE.findall(pattern))


def _needs_digit(pattern: str) -> bool:
    if not _parsers_agree(pattern):
        return False
    try:
        return _requires_digit(_sre_parse.parse(pattern, RISK_FLAGS))
    except Exception:  # noqa: BLE001 - no proof, no shortcut
        return False


def _has_digit(text: str) -> bool:
    return any(d in text for d in _ASCII_DIGITS)  # ten C-speed substring scans beat one regex search on short texts


def _utf8(text: str) -> bytes:
    # RE2 reads UTF-8. A lone surrogate (valid in a JSON string, not in UTF-8) must not fail the request, so it
    # passes through as bytes no pattern character matches.
    return text.encode("utf-8", "surrogatepass")


@dataclass(slots=True)
class RiskMatcher:
    """Compiled risk patterns (RE2, see routing_engine.patterns), in configuration order. Matching is
    case-insensitive and ASCII-only for \\d, \\w and \\b, which is what PII and keyword patterns need."""

    patterns: tuple[tuple[str, Any], ...] = field(default_factory=tuple)  # (id, compiled RE2 pattern)
    scan_chars: int = RISK_SCAN_CHARS
    # Per pattern: every match consumes an ASCII digit (proved from the pattern), so a text without digits
    # cannot match it and is not searched. Most risk patterns are numbers (SSNs, cards) and most prompts have
    # none; a search costs ~1-2 us on a median prompt, the digit check well under 1 us.
    needs_digit: tuple[bool, ...] = field(init=False, default=())

    def __post_init__(self):
        self.needs_digit = tuple(_needs_digit(pattern.pattern) for _, pattern in self.patterns)

    @classmethod
    def compile(cls, risk_patterns, scan_chars: int = RISK_SCAN_CHARS) -> RiskMatcher:
        return cls(tuple((p.id, compile_risk_pattern(p.pattern)) for p in risk_patterns), scan_chars)

    def match(self, texts: list[str]) -> tuple[tuple[str, ...], bool]:
        """(ids of the patterns found, whether any text was only partly scanned)."""
        if not self.patterns:
            return (), False
        scan_chars = self.scan_chars
        if len(texts) == 1 and len(texts[0]) <= scan_chars:
            # The common case (one short text): no windows to build, and no encoding if no pattern can match.
            text = texts[0]
            digits = _has_digit(text)
            data = None
            hits = []
            for (risk_id, pattern), needs_digit in zip(self.patterns, self.needs_digit):
                if digits or not needs_digit:
                    if data is None:
                        data = _utf8(text)
                    if pattern.search(data):
                        hits.append(risk_id)
            return tuple(hits), False
        head = scan_chars - scan_chars // 4
        tail = scan_chars // 4
        partial = False
        windows: list[tuple[bytes, int]] = []  # (UTF-8 bytes, where the search starts)
        for text in texts:
            if len(text) > scan_chars:
                partial = True
                windows.append((_utf8(text[:head]), 0))  # the window ends where the text seems to end, as endpos did
                # One character before the tail window gives \b and ^ their context, as `pos` did with `re`.
                start = len(text) - tail
                windows.append((_utf8(text[start - 1 :]), len(_utf8(text[start - 1]))))
            else:
                windows.append((_utf8(text), 0))
        hits = []
        for risk_id, pattern in self.patterns:
            for data, pos in windows:
                if pattern.search(data, pos):
                    hits.append(risk_id)
                    break
        return tuple(hits), partial


def text_of(messages: tuple[Message, ...] | list[Message], system: str | None = None) -> list[str]:
    texts = [system] if system else []
    for message in messages:
        for kind, value in message.parts:
            if kind == "text":
                texts.append(value)  # type: ignore[arg-type]
    return texts


def complexity_of(messages, system: str | None, scorer: Scorer) -> float:
    """The scorer's score of the request's task: the last user turn's own words weighed apart from pasted
    material, earlier turns and the system prompt (routing_engine.scorer.split_prompt)."""
    instruction, context = split_prompt(messages, system)
    return scorer.score_text(instruction, context)


def extract_features(
    messages,
    *,
    system: str | None = None,
    uses_tools: bool = False,
    risk: RiskMatcher | None = None,
    with_complexity: bool = False,
    scorer: Scorer | None = None,
) -> RequestFeatures:
    """The request's features; with `with_complexity`, its complexity by `scorer` (default: the bundled one)."""
    chars = len(system) if system else 0
    images = documents = doc_bytes = 0
    for message in messages:
        for kind, value in message.parts:
            if kind == "text":
                chars += len(value)  # type: ignore[arg-type]
            elif kind == "image":
                images += 1
            elif kind == "document":
                documents += 1
                doc_bytes += int(value)  # type: ignore[call-overload]
    tokens = -(-chars // CHARS_PER_TOKEN) + images * IMAGE_TOKENS + doc_bytes // DOCUMENT_BYTES_PER_TOKEN
    hits, partial = risk.match(text_of(messages, system)) if risk is not None else ((), False)
    scorer = (scorer or bundled()) if with_complexity else None
    return RequestFeatures(
        estimated_tokens=tokens,
        message_count=len(messages),
        has_images=images > 0,
        has_documents=documents > 0,
        uses_tools=uses_tools,
        risk=hits,
        complexity=complexity_of(messages, system, scorer) if scorer is not None else None,
        risk_scan_partial=partial,
        scorer=scorer.name if scorer is not None else None,
        scorer_version=scorer.version if scorer is not None else None,
    )


def with_complexity(
    features: RequestFeatures, messages, *, system: str | None = None, scorer: Scorer | None = None
) -> RequestFeatures:
    """`features` with the complexity of this request by `scorer` (default: the bundled one). The engine's
    Engine.with_complexity picks the scorer the request's route names."""
    if features.complexity is not None:
        return features
    scorer = scorer or bundled()
    return replace(
        features, complexity=complexity_of(messages, system, scorer), scorer=scorer.name, scorer_version=scorer.version
    )
