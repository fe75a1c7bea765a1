"""A simulated judge for local mode: pairwise verdicts that follow one rule you can state. No model is called.

A plumbing test, not evidence of learning: its rule is one the scorer's own token features can express, so a
trainer that learns it proves the loop's parts fit together, nothing more. What labels from a real judge buy is
measured on real verdicts by tools.learn_from_outcomes and benchmarks.learning_curves (README, "What N judged
labels buy").

The rule: **questions about databases need the strong model.**
- The judge keys on the QUESTION (the text between <question></question> in the judge's user message): a question
  is about databases when it names one of `DATABASE_TERMS` (SQL, PostgreSQL, a database index, a primary key, ...
  in English, Spanish, German or Japanese; matched case-insensitively, as whole words for Latin-script terms and
  as substrings for Japanese ones).
- On a question about databases the judge prefers the answer written by the stronger model. It tells the
  answers apart by reading them: every simulated answer names the model that wrote it ("a simulated answer from
  <display name> (<model id>)"), and the stronger model is the one with the higher catalog `quality`. When it
  cannot tell (an answer names no known model, or both have the same quality) it calls a tie.
- On any other question it calls a tie: both models are good enough.

So a judged label's target (the share of the two swapped verdicts that favour the strong model) is 1.0 for a
database question and 0.5 for every other one, and a scorer that has learned the rule ranks database questions
above the rest. Deterministic: the same request always gets the same verdict, in either answer order.

The reply ends with the line the labeller parses: `VERDICT: A`, `VERDICT: B` or `VERDICT: TIE`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from labeller.judge import JUDGE_PREFIX  # the labeller's own: a reworded prompt still reaches this judge

# Each term is a database concept in one language. The simulated traffic's database topics each contain one.
DATABASE_TERMS: tuple[str, ...] = (
    # English
    "database",
    "databases",
    "sql",
    "postgresql",
    "postgres",
    "mysql",
    "sqlite",
    "primary key",
    "foreign key",
    "query planner",
    "schema migration",
    "dynamodb",
    "mongodb",
    # Spanish
    "base de datos",
    "bases de datos",
    "clave primaria",
    "clave foránea",
    "consulta sql",
    # German
    "datenbank",
    "datenbanken",
    "datenbankindex",
    "datenbanktabelle",
    "primärschlüssel",
    "fremdschlüssel",
    "sql-abfrage",
    # Japanese
    "データベース",
    "主キー",
    "外部キー",
    "クエリ",
)

_CJK = [t for t in DATABASE_TERMS if any(ord(c) >= 0x3000 for c in t)]
_LATIN = [t for t in DATABASE_TERMS if t not in _CJK]
# Whole words for Latin script; a Latin word next to kana ("SQLの") still counts, hence no \w in the boundaries.
_WORD_CHARS = "A-Za-z0-9\u00c0-\u00ff"
_LATIN_PATTERN = re.compile(
    rf"(?<![{_WORD_CHARS}])(?:"
    + "|".join(re.escape(t) for t in sorted(_LATIN, key=len, reverse=True))
    + rf")(?![{_WORD_CHARS}])",
    re.IGNORECASE,
)
_SECTION = {name: re.compile(rf"<{name}>(.*?)</{name}>", re.DOTALL) for name in ("question", "answer_a", "answer_b")}
# What every simulated text answer says about its author (local/simulated_backend.py, _text_answer).
_AUTHOR = re.compile(r"simulated answer from (.+?) \(([^()\s]+)\)")


def is_judge_request(system: str | None) -> bool:
    """A judge request is one whose system prompt starts with the judge's first line."""
    return bool(system and system.lstrip().startswith(JUDGE_PREFIX))


def about_databases(question: str) -> bool:
    """The rule's test: does the question name a database concept (see DATABASE_TERMS)?"""
    if _LATIN_PATTERN.search(question):
        return True
    lowered = question.lower()
    return any(term in lowered for term in _CJK)


def expected_target(question: str) -> float:
    """The target a label gets under the rule when the strong model's answer is judged against the weak one's:
    1.0 (the strong model's answer wins both swapped verdicts) for a database question, 0.5 (two ties) otherwise."""
    return 1.0 if about_databases(question) else 0.5


def section(text: str, name: str) -> str | None:
    match = _SECTION[name].search(text)
    return match.group(1).strip() if match else None


def verdict(user_text: str, quality_of: Callable[[str], float | None]) -> tuple[str, str]:
    """("A" | "B" | "TIE", why) for a judge request's user message. `quality_of(name_or_model_id)` is the catalog
    quality of the model an answer names (None: unknown)."""
    question = section(user_text, "question")
    answer_a, answer_b = section(user_text, "answer_a"), section(user_text, "answer_b")
    if question is None or answer_a is None or answer_b is None:
        return "TIE", "the request does not hold a question and two answers"
    if not about_databases(question):
        return "TIE", "the question is not about databases: both answers are good enough"
    qa, qb = _author_quality(answer_a, quality_of), _author_quality(answer_b, quality_of)
    if qa is None or qb is None or qa == qb:
        return "TIE", "a database question, but the answers' authors cannot be told apart"
    return ("A" if qa > qb else "B"), "a database question: the answer from the stronger model is better"


def reply(user_text: str, quality_of: Callable[[str], float | None]) -> str:
    """The judge's whole answer: one line of reasoning, then the verdict line."""
    choice, why = verdict(user_text, quality_of)
    return f"[SIMULATED JUDGE] {why}.\nVERDICT: {choice}"


def _author_quality(answer: str, quality_of: Callable[[str], float | None]) -> float | None:
    match = _AUTHOR.search(answer)
    if match is None:
        return None
    by_id = quality_of(match.group(2))
    return by_id if by_id is not None else quality_of(match.group(1))
