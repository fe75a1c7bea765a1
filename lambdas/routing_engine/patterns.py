"""Risk patterns are RE2 expressions: matching time is linear in the text, whatever the pattern.

Python's `re` backtracks, so a pattern such as ``^(\\w+\\s?)+$`` takes seconds on a 28-character prompt and
doubles with each character; RE2 cannot backtrack, so no prompt can stall a scan. The price is the syntax RE2
refuses (backreferences, lookarounds, atomic groups, possessive repeats): such a pattern is rejected when the
configuration is validated, with the same engine and options the router matches with at run time.

Matching semantics (kept from the `re.IGNORECASE | re.ASCII` the router used before): case-insensitive, and
``\\d``, ``\\w``, ``\\s``, ``\\b`` are ASCII-only (RE2's Perl classes always are). One difference: RE2 folds case
by Unicode's simple folding, so ``k`` also matches the Kelvin sign and ``s`` the long s, which only widens
what a risk pattern catches. Pure code: no AWS imports.
"""

from __future__ import annotations

import re

import re2

ENGINE = "re2"
LINEAR_TIME = True  # what the regression test for catastrophic patterns asserts about the engine in use


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a rejected pattern is reported once, in the configuration error, not on stderr
    return options


RISK_OPTIONS = _options()

# RE2's own messages name the construct ("invalid perl operator: (?="); these say why it is refused.
_UNSUPPORTED = (
    (re.compile(r"\(\?<?[=!]"), "lookaround assertions ((?=, (?!, (?<=, (?<!) are not supported"),
    (re.compile(r"\(\?P=|\\[1-9]|\\g<|\\k<"), "backreferences (\\1, (?P=name)) are not supported"),
    (re.compile(r"\(\?>"), "atomic groups ((?>...)) are not supported"),
)


def compile_risk_pattern(pattern: str) -> re2._Regexp:
    """Compile a risk pattern the way the router matches it. Raise ValueError saying why it cannot be."""
    try:
        return re2.compile(pattern, RISK_OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        for construct, why in _UNSUPPORTED:
            if construct.search(pattern):
                detail = f"{why} ({detail})"
                break
        raise ValueError(
            f"not a valid regular expression for RE2, the linear-time engine risk patterns use: {detail}"
        ) from None
