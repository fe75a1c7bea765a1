"""Prompt complexity score for dynamic routing (pure Python, standard library only).

``complexity_score(text)`` returns a deterministic number in [0, 1]; higher means
the prompt is more in need of the strong model.  ``complexity_features(text)``
returns the named inputs that went into it (for the router's decision trace).

Model
-----
A small logistic model over ~30 hand-crafted, domain-agnostic features of what
makes a prompt hard for a weaker model: length and structure (chars, words,
sentences, questions, line breaks outside option lines, "|"-separated
statements), multi-step quantitative content (numbers and their density,
percentages, fractions, money, operators, quantity and unit words such as
"each"/"remaining"/"hours"), logical traps (negation words), reasoning words
("prove", "derive", "explain", "step", ...) and exam-style hedges, look-up
question words, code symbols/words, named entities (capitalised words not
starting a sentence), and specialist vocabulary (share of words outside a
general-English list, average word length).  Multiple-choice prompts get a few
format features (option presence/count/length) that are constant on free-form
prompts, so they never reorder free-form traffic.  Keyword and rare-word rates
are shrunk for short prompts (``count / (words + 10)``).

Coefficients live in ``complexity_weights.json`` next to this file and are
produced by ``tools/train_complexity.py`` under the sign constraints and
minimum effects in ``FEATURE_SIGNS``/``FEATURE_FLOORS`` (prior knowledge of
which way each feature may push, so dataset artefacts such as "money makes
grade-school maths easier" cannot flip a feature's direction).

Label definition (what the score estimates)
-------------------------------------------
Training uses the soft target ``t = (1 + strong_score - weak_score) / 2`` per
labelled prompt, with logistic cross-entropy.  The optimum of that loss is
``sigmoid(f(x)) = E[t | x]``, so the score is ``(1 + expected quality gain of the
strong model over the weak one) / 2``: 0.5 means "no expected gain", and
ranking by it is ranking by expected gain, which is exactly what the routing
metrics (APGR / CPT) reward.

Bounded cost
------------
Only the first ``HEAD_CHARS`` and the last ``TAIL_CHARS`` characters are
analysed (the question and, for multiple-choice prompts, the options usually
sit at the ends).  Count features measured on that window are scaled up by
``len(text) / analysed_chars`` and length features use the true length, so a
100 KB prompt costs about the same as a 5 KB one.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from operator import mul as _mul
from pathlib import Path

__all__ = [
    "ComplexityModel",
    "FEATURE_NAMES",
    "HEAD_CHARS",
    "TAIL_CHARS",
    "WEIGHTS_PATH",
    "complexity_features",
    "complexity_score",
    "raw_features",
    "word_tokens",
]

WEIGHTS_PATH = Path(__file__).parent / "complexity_weights.json"

# Work bound: analyse at most HEAD_CHARS + TAIL_CHARS characters of any prompt
# (about 15x the median prompt); counts are scaled back up to the full length.
HEAD_CHARS = 4000
TAIL_CHARS = 1000

# --------------------------------------------------------------------------
# Tables and patterns, built once at import.
#
# Speed: most features are counts of short byte patterns in two translated
# copies of the (UTF-8) text: ``bytes.translate`` and ``bytes.count`` run in C,
# so the per-call cost is dominated by the ~40 method calls, not by the text.
# --------------------------------------------------------------------------
def _table(mapping: dict[int, int], default: int | None) -> bytes:
    return bytes(mapping.get(i, i if default is None else default) for i in range(256))


_SPACE = 0x20
# Word table: letters lowercased, digits -> '0', non-ASCII bytes kept (part of
# words), everything else -> space.  ``.split()`` then yields word tokens.
_WORD_MAP = {}
for _c in range(ord("a"), ord("z") + 1):
    _WORD_MAP[_c] = _c
    _WORD_MAP[_c - 32] = _c
for _c in range(ord("0"), ord("9") + 1):
    _WORD_MAP[_c] = ord("0")
for _c in range(0x80, 0x100):
    _WORD_MAP[_c] = _c
_WORD_TABLE = _table(_WORD_MAP, _SPACE)

# Class table: upper -> 'A', lower -> 'a', digit -> '0', whitespace -> ' ',
# '.'/'!' -> '.', math operators -> '=', code braces/semicolons -> '{',
# a few punctuation marks kept, the rest -> '#'.
_CLASS_MAP = {}
for _c in range(ord("a"), ord("z") + 1):
    _CLASS_MAP[_c] = ord("a")
    _CLASS_MAP[_c - 32] = ord("A")
for _c in range(ord("0"), ord("9") + 1):
    _CLASS_MAP[_c] = ord("0")
for _ch in " \t\n\r":
    _CLASS_MAP[ord(_ch)] = _SPACE
for _ch in ".!":
    _CLASS_MAP[ord(_ch)] = ord(".")
for _ch in "=+*^<>":
    _CLASS_MAP[ord(_ch)] = ord("=")
for _ch in "{};":
    _CLASS_MAP[ord(_ch)] = ord("{")
for _ch in "?%$\"(|/":
    _CLASS_MAP[ord(_ch)] = ord(_ch)
for _c in range(0x80, 0x100):
    _CLASS_MAP[_c] = ord("u")
_CLASS_TABLE = _table(_CLASS_MAP, ord("#"))

# Multiple-choice options ("A. ...", "(b) ...") at line starts: captures the body.
_OPTION_RE = re.compile(r"(?m)^[ \t]*\(?[A-Ja-j][.)][ \t]*(\S.*)$")
_FRACTION = b"0/0"  # in the class-translated text every digit is '0'
# The common classes of the class-translated text. Deleting them leaves a (usually empty) string of the rarer
# classes, on which their single-byte counts are the same but cost one C pass in total instead of one each.
_COMMON_CLASSES = b"aA0 .#u"
_NON_ASCII_MATH = ("\u00d7", "\u00f7", "\u221a", "\u2211", "\u222b", "\u2264", "\u2265", "\u2260",
                   "\u2202", "\u03c0")

# Keyword classes: one dict lookup per word (cheaper than one regex per class).
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "kw_negation": (
        "not", "no", "never", "none", "neither", "nor", "cannot", "without",
        "except", "unless", "least", "false", "incorrect", "untrue", "invalid",
    ),
    "kw_quantity": (
        "each", "every", "per", "total", "remaining", "rest", "left", "times",
        "twice", "thrice", "half", "third", "quarter", "double", "triple", "more",
        "less", "fewer", "altogether", "respectively", "average", "ratio", "rate",
        "sum", "difference", "product", "increase", "decrease", "discount",
        "profit", "interest", "spent", "saves", "earns", "costs", "cost", "price",
    ),
    "kw_units": (
        "hour", "hours", "minute", "minutes", "second", "seconds", "day", "days",
        "week", "weeks", "month", "months", "year", "years", "mile", "miles", "km",
        "kilometers", "meter", "meters", "metres", "cm", "mm", "inch", "inches",
        "foot", "feet", "yard", "yards", "pound", "pounds", "kg", "kilograms",
        "gram", "grams", "mg", "ounce", "ounces", "liter", "liters", "litres",
        "gallon", "gallons", "cup", "cups", "dollars", "dollar", "cents", "euros",
        "mph", "percent", "degrees", "celsius", "fahrenheit", "ml", "mol", "kj",
    ),
    "kw_reasoning": (
        "why", "explain", "prove", "proof", "derive", "justify", "deduce", "infer",
        "implies", "imply", "therefore", "thus", "hence", "suppose", "assume",
        "assuming", "conclusion", "premise", "consequently", "analyze", "analyse",
        "evaluate", "compare", "contrast", "step", "steps", "determine", "calculate",
        "compute", "solve", "estimate", "show",
    ),
    # Conditional / judgement words typical of exam-style questions.
    "kw_hedge": (
        "given", "if", "then", "valid", "argument", "would", "should", "likely", "most",
        "best", "strongest",
    ),
    "kw_question": ("what", "which", "who", "whom", "whose", "when", "where", "how"),
    "kw_code": (
        "function", "def", "class", "return", "variable", "array", "loop", "int",
        "string", "python", "java", "javascript", "sql", "select", "algorithm",
        "compile", "runtime", "recursion", "pointer", "bug", "code", "program",
    ),
}
_KW_NAMES = tuple(_KEYWORDS)
_KW_INDEX: dict[bytes, int] = {}
for _i, _name in enumerate(_KW_NAMES):
    for _w in _KEYWORDS[_name]:
        _KW_INDEX.setdefault(_w.encode("ascii"), _i + 1)  # 1-based: 0 is falsy
_N_KW = len(_KW_NAMES)

# Raw features, in the order the weights file expects them.
FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_sentences",
    "questions",
    "log_numbers",
    "number_density",
    "percent",
    "fractions",
    "money",
    "math_symbols",
    "has_options",
    "n_options",
    "log_option_chars",
    "log_stem_chars",
    "pipes",
    "quotes",
    "parentheses",
    "code_symbols",
    "newlines",
    "avg_word_len",
    "rare_word_share",
    "log_capitalised",
    "log_entities",
) + tuple(n + "_rate" for n in _KW_NAMES) + (
    "options_x_log_words",
)

# Prior knowledge used by the trainer (tools/train_complexity.py): the sign each
# coefficient must have, from what makes a prompt hard for a weaker model.
# +1: more of it never lowers the score; -1: never raises it; unlisted: free.
# Multiple-choice format features (has_options, n_options, log_option_chars,
# options_x_log_words) are free but are constant on free-form prompts, so they
# only shift/rank multiple-choice prompts.
FEATURE_SIGNS: dict[str, int] = {
    "log_chars": 1, "log_words": 1, "log_sentences": 1, "questions": 1,
    "log_numbers": 1, "number_density": 1, "percent": 1, "fractions": 1, "money": 1,
    "math_symbols": 1, "log_stem_chars": 1, "pipes": 1, "code_symbols": 1, "newlines": 1,
    "avg_word_len": 1, "rare_word_share": 1, "log_capitalised": 1, "log_entities": 1,
    "kw_negation_rate": 1, "kw_quantity_rate": 1, "kw_units_rate": 1,
    "kw_reasoning_rate": 1, "kw_hedge_rate": 1, "kw_code_rate": 1,
    "kw_question_rate": -1,  # "what/who/when/where is ..." marks look-ups
}
# Minimum effect (standardised coefficient) for the core markers of multi-step
# work: the benchmark barely separates them (it has no chit-chat or look-ups to
# contrast with), so without a floor they fit to zero.
FEATURE_FLOORS: dict[str, float] = {
    "log_numbers": 0.01, "math_symbols": 0.01, "kw_reasoning_rate": 0.01, "code_symbols": 0.01,
}
_N_FEATURES = len(FEATURE_NAMES)
_NUMBER_TOKENS = frozenset(b"0" * k for k in range(1, 33))
_log1p = math.log1p
# Rates are count / (words + _RATE_PRIOR): a few words are weak evidence, so a
# short prompt's rates shrink towards zero instead of exploding ("why?" is not
# 100% reasoning words).
_RATE_PRIOR = 10


def _bounded(text: str) -> tuple[str, float]:
    """The analysed window and the factor that scales counts back to full length."""
    n = len(text)
    if n <= HEAD_CHARS + TAIL_CHARS:
        return text, 1.0
    window = text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]
    return window, n / float(HEAD_CHARS + TAIL_CHARS)


def word_tokens(text: str) -> list[bytes]:
    """The word tokens features are computed on (lowercased ASCII-folded bytes;
    digits are '0').  Used by the training tool to build the common-word list."""
    t, _ = _bounded(text)
    return t.encode("utf-8", "ignore").translate(_WORD_TABLE).split()


def raw_features(text: str, common_words: frozenset | set = frozenset()) -> list[float]:
    """Raw (unstandardised) feature vector, in ``FEATURE_NAMES`` order.

    ``common_words`` holds ASCII byte strings (see ``ComplexityModel``).
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    n_chars = len(text)
    t, scale = _bounded(text)
    b = t.encode("utf-8", "ignore")  # 'ignore' drops lone surrogates
    wb = b.translate(_WORD_TABLE)
    cb = b.translate(_CLASS_TABLE)
    words = wb.split()
    n_words = len(words)
    inv_words = 1.0 / n_words if n_words else 0.0
    inv_rate = 1.0 / (n_words + _RATE_PRIOR)

    n_nums = wb.count(b" 0") + (wb[:1] == b"0")
    common = sum(map(common_words.__contains__, words))
    kw = [0] * (_N_KW + 1)
    for k in filter(None, map(_KW_INDEX.get, words)):
        kw[k] += 1

    options = _OPTION_RE.findall(t)
    n_opt = len(options)
    if n_opt >= 2:
        has_opt = 1.0
        opt_chars = sum(map(len, options))
        stem_chars = max(0, len(t) - opt_chars - 4 * n_opt)
    else:
        has_opt = 0.0
        n_opt = 0
        opt_chars = 0
        stem_chars = len(t)

    rare = cb.translate(None, _COMMON_CLASSES)
    questions = rare.count(b"?")
    sentences = cb.count(b". ") + cb.count(b"? ") + (cb[-1:] in (b".", b"?"))
    math_sym = rare.count(b"=")
    if not t.isascii():
        for s in _NON_ASCII_MATH:
            math_sym += t.count(s)
    capitalised = cb.count(b"Aa")
    log_numbers = _log1p(n_nums * scale)
    log_words = _log1p(n_words * scale)

    f = [
        _log1p(n_chars),
        log_words,
        _log1p(sentences * scale),
        _log1p(questions * scale),
        log_numbers,
        n_nums * inv_rate,
        _log1p(rare.count(b"%") * scale),
        _log1p(cb.count(_FRACTION) * scale) if b"/" in rare else 0.0,
        _log1p(rare.count(b"$") * scale),
        _log1p(math_sym * scale),
        has_opt,
        float(min(n_opt, 10)),
        _log1p(opt_chars * scale),
        _log1p(stem_chars * scale),
        _log1p(rare.count(b"|") * scale),
        _log1p(rare.count(b'"') * scale),
        _log1p(rare.count(b"(") * scale),
        _log1p(rare.count(b"{") * scale),
        # line breaks outside the option lines (code, lists, tables)
        _log1p(max(0, b.count(b"\n") - n_opt) * scale),
        (cb.count(b"a") + cb.count(b"A")) * inv_words,
        (n_words - common) * inv_rate,
        _log1p(capitalised * scale),
        # capitalised words that do not start a sentence or an option: names, entities
        _log1p(max(0, capitalised - sentences - 1 - n_opt) * scale),
    ]
    for c in kw[1:]:
        f.append(c * inv_rate)
    f.append(has_opt * log_words)
    return f


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class ComplexityModel:
    """A loaded set of weights; ``score``/``features`` are pure functions of text."""

    __slots__ = ("_mean", "_coef", "_intercept", "_common", "_names", "version", "meta")

    def __init__(self, weights: Mapping):
        names = list(weights.get("features", FEATURE_NAMES))
        if tuple(names) != FEATURE_NAMES:
            raise ValueError(
                "complexity weights were trained for a different feature set; "
                "retrain with tools/train_complexity.py"
            )
        mean = [float(v) for v in weights["mean"]]
        scale = [float(v) or 1.0 for v in weights["scale"]]
        coef = [float(v) for v in weights["coef"]]
        if not (len(mean) == len(scale) == len(coef) == _N_FEATURES):
            raise ValueError("complexity weights: mean/scale/coef must match the feature count")
        # Fold standardisation into the coefficients: z = b + sum(c/s * (x - m)).
        self._coef = tuple(c / s for c, s in zip(coef, scale))
        self._mean = tuple(mean)
        self._intercept = float(weights.get("intercept", 0.0)) - sum(
            c * m for c, m in zip(self._coef, self._mean)
        )
        # Number tokens ("0", "00", ... after digit folding) count as common words.
        self._common = frozenset(
            [w.encode("utf-8") for w in weights.get("common_words", ())]
        ) | _NUMBER_TOKENS
        self._names = FEATURE_NAMES
        self.version = str(weights.get("version", ""))
        self.meta = dict(weights.get("meta", {}))

    @classmethod
    def from_file(cls, path: str | Path) -> ComplexityModel:
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def logit(self, text: str) -> float:
        return self._intercept + sum(map(_mul, self._coef, raw_features(text, self._common)))

    def score(self, text: str) -> float:
        """Complexity in [0, 1] (higher = route to the strong model)."""
        return _sigmoid(self.logit(text))

    def features(self, text: str) -> dict[str, float]:
        """Named raw features plus the resulting score, for decision traces."""
        raw = raw_features(text, self._common)
        out = {n: round(v, 6) for n, v in zip(self._names, raw)}
        z = self._intercept + sum(map(_mul, self._coef, raw))
        out["score"] = round(_sigmoid(z), 6)
        return out


def _load_default() -> tuple[ComplexityModel | None, Exception | None]:
    # Loaded at import (cold start), but a stale or missing weights file must not
    # make the module unimportable: the trainer imports it to write new weights.
    try:
        return ComplexityModel.from_file(WEIGHTS_PATH), None
    except (OSError, ValueError, KeyError) as exc:  # pragma: no cover - only while retraining
        return None, exc


_DEFAULT_MODEL, _DEFAULT_ERROR = _load_default()


def _default() -> ComplexityModel:
    if _DEFAULT_MODEL is None:  # pragma: no cover - only before the first training run
        raise RuntimeError(f"cannot load complexity weights {WEIGHTS_PATH}: {_DEFAULT_ERROR}")
    return _DEFAULT_MODEL


def complexity_score(text: str) -> float:
    """Complexity in [0, 1] of ``text`` under the bundled weights."""
    return _default().score(text)


def complexity_features(text: str) -> dict[str, float]:
    """Named features (and the score) under the bundled weights."""
    return _default().features(text)
