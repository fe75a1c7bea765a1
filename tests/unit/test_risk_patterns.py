"""Risk patterns match with RE2: no pattern the configuration accepts can make a scan backtrack."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from routing_engine import patterns
from routing_engine.config import ConfigError, RiskPattern, parse_routing_config
from routing_engine.features import RiskMatcher
from tests.unit.engine_fixtures import config_dict

ROOT = Path(__file__).resolve().parents[2]
CATASTROPHIC = r"^(\w+\s?)+$"  # 28 characters of input took 6.4 s with Python's backtracking `re`


def rejected(pattern: str) -> str:
    data = config_dict(risk_patterns=[{"id": "x", "pattern": pattern, "action": "reject"}])
    with pytest.raises(ConfigError) as err:
        parse_routing_config(json.dumps(data))
    return str(err.value)


def test_the_engine_in_use_is_linear_time_re2():
    # Given the catastrophic pattern, when compiled for the router, then it is an RE2 program (no backtracking)
    matcher = RiskMatcher.compile([RiskPattern(id="words", pattern=CATASTROPHIC, action="reject")])
    assert patterns.ENGINE == "re2" and patterns.LINEAR_TIME
    assert type(matcher.patterns[0][1]).__module__.startswith("re2")


def test_an_adversarial_prompt_against_the_catastrophic_pattern_scans_to_completion():
    # Given the pattern and a prompt built to make a backtracking engine explore 2^n paths (words, then a
    # character that makes `$` fail), when scanned in a child process, then the scan finishes and finds nothing.
    # The timeout only guards against a hang; the test asserts no duration.
    script = f"""
from routing_engine.config import RiskPattern
from routing_engine.features import RiskMatcher
matcher = RiskMatcher.compile([RiskPattern(id="words", pattern={CATASTROPHIC!r}, action="reject")])
short = "a" * 28 + "!"
long = ("word " * 3_000) + "!"
print(matcher.match([short]), matcher.match([long]), matcher.match(["just words here"]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["((),", "False)", "((),", "False)", "(('words',),", "False)"]


def test_a_backreference_is_rejected_at_validation_naming_the_field_and_the_reason():
    message = rejected(r"(\w+) \1")
    assert "risk_patterns.0.pattern" in message and "backreferences" in message


def test_a_lookaround_is_rejected_at_validation_naming_the_field_and_the_reason():
    message = rejected(r"password(?!: \*+)")
    assert "risk_patterns.0.pattern" in message and "lookaround" in message


def test_a_pattern_too_large_for_the_engine_is_rejected():
    assert "risk_patterns.0.pattern" in rejected(r"\d{1001}")


def test_the_tail_window_keeps_word_boundary_context():
    # Given a text longer than the window whose tail window (250 of 1,000 characters) starts exactly at a
    # number, when scanned, then \b sees the character before the window, as `re` did with `pos`.
    matcher = RiskMatcher.compile(
        [RiskPattern(id="ssn", pattern=r"\b\d{3}-\d{2}-\d{4}\b", action="reject")], scan_chars=1_000
    )
    tail = "123-45-6789".ljust(250)
    assert matcher.match(["x" * 5_000 + "9" + tail]) == ((), True)  # "9123-45-6789" is no SSN
    assert matcher.match(["x" * 5_000 + " " + tail]) == (("ssn",), True)


def test_a_lone_surrogate_in_a_prompt_does_not_fail_the_scan():
    matcher = RiskMatcher.compile([RiskPattern(id="word", pattern="secret", action="reject")])
    assert matcher.match(["\ud800 top secret"]) == (("word",), False)


def test_a_posix_class_gets_no_digit_shortcut_because_python_reads_it_differently():
    # RE2 reads [[:alpha:]1] as "a letter or 1"; Python's parser as "[:alph" then a required "1]". A shortcut
    # proved from Python's reading would skip digitless texts that RE2 matches.
    matcher = RiskMatcher.compile([RiskPattern(id="p", pattern=r"[[:alpha:]1]", action="reject")])
    assert matcher.needs_digit == (False,)
    assert matcher.match(["abc"]) == (("p",), False)
