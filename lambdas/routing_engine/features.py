"""What the router knows about a request before choosing a model. Pure code.

Messages here are already normalised by the API layer into a small shape that is
independent of the wire format (our JSON API or OpenAI's):
``Message(role, parts)`` where each part is ``("text", str)``, ``("image", n_bytes)``
or ``("document", n_bytes)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from routing_engine.complexity import complexity_score

# Rough, model-agnostic token estimates: about 4 characters per token for text,
# a fixed budget per image (Claude bills roughly 1.6K tokens for a 1-megapixel
# image), and about 4 bytes per token for extracted document text.
CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1_600
DOCUMENT_BYTES_PER_TOKEN = 4

# Risk patterns scan at most this many characters of each text part, from the start
# and from the end: enough for any realistic prompt while bounding a 10 MB abuse.
RISK_SCAN_CHARS = 200_000


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

    def as_dict(self) -> dict:
        return {
            "estimated_tokens": self.estimated_tokens,
            "complexity": None if self.complexity is None else round(self.complexity, 4),
            "message_count": self.message_count,
            "has_images": self.has_images,
            "has_documents": self.has_documents,
            "uses_tools": self.uses_tools,
            "risk": list(self.risk),
        }


@dataclass(slots=True)
class RiskMatcher:
    """Compiled risk patterns, in configuration order."""

    patterns: tuple[tuple[str, re.Pattern], ...] = field(default_factory=tuple)

    @classmethod
    def compile(cls, risk_patterns) -> RiskMatcher:
        return cls(tuple((p.id, re.compile(p.pattern, re.IGNORECASE)) for p in risk_patterns))

    def match(self, texts: list[str]) -> tuple[str, ...]:
        if not self.patterns:
            return ()
        hits = []
        for risk_id, pattern in self.patterns:
            for text in texts:
                if len(text) > 2 * RISK_SCAN_CHARS:
                    found = pattern.search(text, 0, RISK_SCAN_CHARS) or pattern.search(
                        text, len(text) - RISK_SCAN_CHARS
                    )
                else:
                    found = pattern.search(text)
                if found:
                    hits.append(risk_id)
                    break
        return tuple(hits)


def text_of(messages: tuple[Message, ...] | list[Message], system: str | None = None) -> list[str]:
    texts = [system] if system else []
    for message in messages:
        for kind, value in message.parts:
            if kind == "text":
                texts.append(value)  # type: ignore[arg-type]
    return texts


def last_user_text(messages) -> str:
    for message in reversed(messages):
        if message.role == "user":
            texts = [v for k, v in message.parts if k == "text"]
            if texts:
                return "\n".join(texts)  # type: ignore[arg-type]
    return ""


def extract_features(
    messages,
    *,
    system: str | None = None,
    uses_tools: bool = False,
    risk: RiskMatcher | None = None,
    with_complexity: bool = False,
) -> RequestFeatures:
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
    return RequestFeatures(
        estimated_tokens=tokens,
        message_count=len(messages),
        has_images=images > 0,
        has_documents=documents > 0,
        uses_tools=uses_tools,
        risk=risk.match(text_of(messages, system)) if risk is not None else (),
        complexity=complexity_score(last_user_text(messages)) if with_complexity else None,
    )


def with_complexity(features: RequestFeatures, messages) -> RequestFeatures:
    if features.complexity is not None:
        return features
    return RequestFeatures(
        estimated_tokens=features.estimated_tokens,
        message_count=features.message_count,
        has_images=features.has_images,
        has_documents=features.has_documents,
        uses_tools=features.uses_tools,
        risk=features.risk,
        complexity=complexity_score(last_user_text(messages)),
    )
