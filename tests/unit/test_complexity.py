"""Behaviour of the prompt complexity score through its compatibility wrapper (routing_engine.complexity),
which scores one user turn with the bundled scorer (routing_engine.scorer; its own tests: test_scorer*.py)."""

import math

import pytest

from routing_engine import complexity as cx
from routing_engine.complexity import complexity_features, complexity_score
from routing_engine.scorer import bundled, split_prompt

MATH_PROBLEM = (
    "Janet buys 3 boxes of pencils at $4.50 each and 2 notebooks that cost 20% more "
    "than a box of pencils. She pays with a $50 bill. After that, she spends half of "
    "the remaining money on lunch and gives 1/3 of what is left to her brother Tom. "
    "How many dollars does Janet have left at the end of the day?"
)
GREETING = "Hi! How are you?"
FAQ = "What are your opening hours?"


def test_score_is_in_unit_interval_and_deterministic():
    for text in (MATH_PROBLEM, GREETING, FAQ, "A. yes\nB. no\nAnswer:"):
        s = complexity_score(text)
        assert 0.0 <= s <= 1.0
        assert complexity_score(text) == s


def test_multi_step_math_word_problem_scores_higher_than_greeting_or_faq():
    hard = complexity_score(MATH_PROBLEM)
    assert hard > complexity_score(GREETING)
    assert hard > complexity_score(FAQ)


def test_long_legal_scenario_scores_higher_than_short_fact_question():
    legal = (
        "A landlord leased a building to a tenant for ten years. The lease provided that "
        "the tenant would not assign the lease without the landlord's written consent. "
        "Two years later, the tenant assigned the lease to a friend, who paid rent to the "
        "landlord for six months and then stopped paying. The landlord sued the tenant for "
        "the unpaid rent. The tenant argued that the landlord had waived the restriction "
        "by accepting rent from the friend. Which of the following is the landlord's "
        "strongest argument?\nA. The tenant remains liable under privity of contract.\n"
        "B. The friend was never in privity of estate with the landlord.\n"
        "C. Acceptance of rent is not a waiver of a covenant against assignment.\n"
        "D. The assignment was void because it was not in writing.\nAnswer:"
    )
    short = "What is the capital of France?\nA. Paris\nB. Rome\nC. Madrid\nD. Berlin\nAnswer:"
    assert complexity_score(legal) > complexity_score(short)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\n\t  \n",
        "x" * 1_000_000,
        "héllo wörld ✓ 数学 " * 2000,
        "\ud800 lone surrogate",
        "0" * 50_000,
        "?" * 10_000,
        "A.\nB.\nC.\n" * 5000,
    ],
    ids=["empty", "space", "whitespace", "1MB", "unicode", "surrogate", "digits", "qmarks", "options"],
)
def test_odd_and_huge_inputs_are_scored_without_error(text):
    s = complexity_score(text)
    assert 0.0 <= s <= 1.0 and math.isfinite(s)
    feats = complexity_features(text)
    assert all(math.isfinite(v) for v in feats.values())


def test_huge_prompt_scores_like_its_analysed_window_repeated():
    # The work bound scales counts by length, so a long repetitive prompt is not
    # scored as if it were short: it should be at least as complex as one copy.
    base = MATH_PROBLEM + " "
    long_text = base * (200_000 // len(base))
    assert complexity_score(long_text) >= complexity_score(base) - 0.05


def test_features_are_named_and_include_the_score():
    feats = complexity_features(MATH_PROBLEM)
    for name in cx.FEATURE_NAMES:
        assert name in feats
    assert feats["score"] == pytest.approx(complexity_score(MATH_PROBLEM), abs=1e-6)
    assert feats["log_numbers"] > complexity_features(GREETING)["log_numbers"]
    assert feats["has_options"] == 0.0
    mcq = complexity_features("Pick one:\nA. red\nB. blue\nC. green\nD. grey\nAnswer:")
    assert mcq["has_options"] == 1.0 and mcq["n_options"] == 4


def test_wrapper_scores_like_the_router_on_a_one_message_request():
    class Msg:
        role = "user"
        parts = (("text", MATH_PROBLEM),)

    assert complexity_score(MATH_PROBLEM) == bundled().score_text(*split_prompt([Msg()]))
