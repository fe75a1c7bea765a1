"""Any language: the same prompts written in en, es, de, fr, ja, zh (tests/data/multilingual_prompts.json,
written by hand, never trained on) land close in score, and the easy/hard order holds in every language.

Measured with the bundled weights of 2026-12-07 (python benchmarks/multilingual_gap.py): the largest gap between
translations of one prompt is 0.088 (bakery: "$" counts as money, "円"/"元" do not, and money now lowers the
score; the weights before: 0.054, the old complexity.py: 0.340); every hard prompt scores above every easy
prompt in each language, with the closest margin 0.072 (ja). The bounds below leave room for a retrain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from routing_engine.scorer import bundled, split_prompt

DATA = json.loads((Path(__file__).resolve().parents[1] / "data" / "multilingual_prompts.json").read_text("utf-8"))
LANGS = DATA["languages"]
PROMPTS = DATA["prompts"]
ATTACHMENTS = DATA["attachment_cases"]

MAX_TRANSLATION_GAP = 0.22  # measured 0.088
MIN_HARD_OVER_EASY_MARGIN = 0.05  # measured 0.072


@dataclass(frozen=True)
class Msg:
    role: str
    parts: tuple


def score(text: str) -> float:
    """What the router computes for a request whose only message is this user turn."""
    return bundled().score_text(*split_prompt([Msg("user", (("text", text),))]))


def test_the_set_covers_at_least_four_languages_and_twelve_prompts():
    assert {"en", "es", "de", "ja"} <= set(LANGS)
    assert len(PROMPTS) >= 12
    assert sum(p["level"] == "easy" for p in PROMPTS) >= 6 and sum(p["level"] == "hard" for p in PROMPTS) >= 6
    for p in PROMPTS:
        assert set(p["text"]) == set(LANGS), p["id"]


@pytest.mark.parametrize("prompt", PROMPTS, ids=[p["id"] for p in PROMPTS])
def test_translations_of_one_prompt_land_close(prompt):
    scores = {lang: score(t) for lang, t in prompt["text"].items()}
    assert max(scores.values()) - min(scores.values()) <= MAX_TRANSLATION_GAP, scores


@pytest.mark.parametrize("lang", LANGS)
def test_every_hard_prompt_scores_above_every_easy_prompt_in_each_language(lang):
    easy = {p["id"]: score(p["text"][lang]) for p in PROMPTS if p["level"] == "easy"}
    hard = {p["id"]: score(p["text"][lang]) for p in PROMPTS if p["level"] == "hard"}
    top_easy = max(easy, key=easy.__getitem__)
    low_hard = min(hard, key=hard.__getitem__)
    assert hard[low_hard] - easy[top_easy] >= MIN_HARD_OVER_EASY_MARGIN, (
        top_easy,
        easy[top_easy],
        low_hard,
        hard[low_hard],
    )


def test_a_hard_japanese_maths_problem_outranks_english_thanks():
    # The example: a hard Japanese maths word problem ranked below "Thanks, that fixed it!"
    bakery = next(p for p in PROMPTS if p["id"] == "bakery")["text"]["ja"]
    assert score(bakery) > score("Thanks, that fixed it!") + 0.2


def test_german_opening_hours_is_not_among_the_hard_prompts():
    # The example: "Opening hours?" in German ranked among the hard prompts
    hours = score("Wie sind Ihre Öffnungszeiten?")
    hard_en = [score(p["text"]["en"]) for p in PROMPTS if p["level"] == "hard"]
    assert hours < min(hard_en) - MIN_HARD_OVER_EASY_MARGIN


@pytest.mark.parametrize("lang", sorted(ATTACHMENTS["typo_email"]))
def test_fixing_typos_in_a_long_pasted_email_scores_below_a_short_proof_request(lang):
    typo = score(ATTACHMENTS["typo_email"][lang])
    proof = score(ATTACHMENTS["short_proof"][lang])
    assert typo < proof - 0.1, (typo, proof)
    # and the pasted email does not make the request look hard: it scores like the easy prompts
    easy = [score(p["text"][lang]) for p in PROMPTS if p["level"] == "easy"]
    assert typo <= max(easy) + 0.02
