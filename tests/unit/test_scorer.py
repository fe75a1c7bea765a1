"""The prompt scorer (routing_engine.scorer): vectors, splitting the task from the attachment, specs and
their validation, determinism."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from routing_engine import scorer as sc
from routing_engine.scorer import (
    DENSE_FEATURES,
    DENSE_FLOORS,
    DENSE_SIGNS,
    FEATURE_SET,
    HASH_BUCKETS,
    MAX_MEAN,
    MAX_WEIGHT,
    MIN_SCALE,
    FeatureVector,
    Scorer,
    ScorerError,
    bundled,
    split_prompt,
    vectorize,
)

ROOT = Path(__file__).resolve().parents[2]
PROOF = "Prove that there are infinitely many primes of the form 4k + 3."
THANKS = "Thanks, that fixed it!"


@dataclass(frozen=True)
class Msg:
    role: str
    parts: tuple


def user(*texts: str) -> Msg:
    return Msg("user", tuple(("text", t) for t in texts))


def spec(**over) -> dict:
    s = bundled().spec()
    s.update(over)
    return s


# --- vectors ------------------------------------------------------------------------------------------------
def test_vector_has_every_dense_feature_and_sorted_in_range_buckets():
    v = vectorize("Write a SQL query over the orders database table; join customers. データベースの設計")
    assert len(v.dense) == len(DENSE_FEATURES)
    buckets = [b for b, _ in v.hashed]
    assert buckets == sorted(set(buckets)) and all(0 <= b < HASH_BUCKETS for b in buckets)
    assert all(math.isfinite(x) for x in v.dense) and all(x > 0 for _, x in v.hashed)


def test_vector_json_round_trips_and_holds_no_text():
    v = vectorize("Passwort zurücksetzen? 3個のりんごと ５ 個", ("pasted context",))
    obj = v.to_json()
    assert obj["fs"] == FEATURE_SET
    text = json.dumps(obj, ensure_ascii=False)
    assert "Passwort" not in text and "りんご" not in text and "pasted" not in text
    again = FeatureVector.from_json(json.loads(text))
    assert again == v
    assert bundled().score(again) == bundled().score(v)


@pytest.mark.parametrize(
    "obj, path",
    [
        ({"fs": "v1", "d": [], "h": []}, "vector.fs"),
        ({"fs": FEATURE_SET, "d": [0.0] * 3, "h": []}, "vector.d"),
        ({"fs": FEATURE_SET, "d": [float("nan")] + [0.0] * (len(DENSE_FEATURES) - 1), "h": []}, "vector.d[0]"),
        ({"fs": FEATURE_SET, "d": [0.0] * len(DENSE_FEATURES), "h": [[HASH_BUCKETS, 1.0]]}, "vector.h[0]"),
        ({"fs": FEATURE_SET, "d": [0.0] * len(DENSE_FEATURES), "h": [[5, 1.0], [3, 1.0]]}, "vector.h[1]"),
        ("not an object", "vector"),
    ],
    ids=["feature-set", "dense-length", "nan", "bucket-range", "unsorted", "not-object"],
)
def test_bad_stored_vectors_are_refused_naming_the_field(obj, path):
    with pytest.raises(ScorerError) as exc:
        FeatureVector.from_json(obj)
    assert exc.value.path == path and path in str(exc.value)


def test_fullwidth_digits_and_punctuation_count_like_ascii():
    # Given the same question with full-width digits and ？ (as typed on a Japanese keyboard)
    full = vectorize("りんごが１２個あります。３人で分けると何個ずつですか？")
    ascii_ = vectorize("りんごが12個あります。3人で分けると何個ずつですか?")
    idx = {n: i for i, n in enumerate(DENSE_FEATURES)}
    # then numbers next to kana are numbers, ？ is a question and 。 ends a sentence, in both spellings
    assert full.dense[idx["log_numbers"]] == pytest.approx(math.log1p(2))
    assert full.dense[idx["questions"]] == pytest.approx(math.log1p(1))
    assert full.dense[idx["log_sentences"]] == pytest.approx(math.log1p(2))
    assert full == ascii_


def test_cjk_is_counted_by_characters_not_as_one_word():
    idx = DENSE_FEATURES.index("log_words")
    ja = vectorize("4k+3の形の素数が無限に存在することを証明せよ。")
    # 22 CJK characters count as 11 words (plus "k"), not as the 1-3 "words" ASCII splitting gave
    assert math.expm1(ja.dense[idx]) >= 10
    assert sc.tokens("素数が無限") == ["素数", "数が", "が無", "無限"]


# --- splitting the task from the attachment ------------------------------------------------------------------
EMAIL = (
    "Hi Sarah,\n\n"
    + "Thank you for your message last week. I wanted to follow up on the proposal we discussed. " * 4
    + "\n\n"
    + "Also, the timeline in section three does not match the appendix, please check it. " * 3
    + "\n\nBest regards,\nTom"
)


def test_request_introduced_by_a_colon_keeps_only_the_request():
    instruction, context = split_prompt([user("Fix the typos in this email:\n\n" + EMAIL)])
    assert instruction == "Fix the typos in this email:"
    assert len(context) == 1 and "section three" in context[0] and "Best regards" in context[0]


def test_request_after_the_paste_that_refers_to_it_is_the_instruction():
    instruction, context = split_prompt([user(EMAIL + "\n\nCan you fix the typos in the email above?")])
    assert instruction.endswith("Can you fix the typos in the email above?")
    assert "section three" not in instruction and "section three" in context[0]


def test_a_long_detailed_question_stays_whole():
    question = (
        "I am designing a schema for an orders database with 40 million rows. " * 6
        + "\n\n"
        + "Queries filter by customer and month and must return in under 50 ms. " * 5
    )
    instruction, context = split_prompt([user(question)])
    assert instruction == question.strip() and context == ()


def test_multiple_choice_after_a_passage_keeps_question_and_options():
    passage = "The treaty of 1648 ended the war and set out the principle of sovereignty. " * 9
    turn = (
        f"Read the following passage.\n\n{passage}\n\nWhich of the following is true?\n"
        "A. The treaty ended the war\nB. The treaty began the war\nC. Neither\nD. Both\nAnswer:"
    )
    instruction, context = split_prompt([user(turn)])
    assert "A. The treaty ended the war" in instruction and "D. Both" in instruction
    assert "Which of the following is true?" in instruction
    assert context == (passage.strip(),)


def test_fenced_quoted_and_tagged_blocks_earlier_turns_system_and_documents_are_context():
    code = "```python\ndef f(x):\n    return x\n```"
    messages = [
        user("earlier question"),
        Msg("assistant", (("text", "earlier answer"),)),
        Msg(
            "user",
            (
                (
                    "text",
                    f"Why does this fail?\n{code}\n> quoted line one\n> quoted line two\n"
                    "<document>\nlong pasted text\n</document>\nThanks",
                ),
                ("document", 5000),
            ),
        ),
    ]
    instruction, context = split_prompt(messages, system="You are helpful.")
    assert "def f" not in instruction and "quoted" not in instruction and "pasted" not in instruction
    assert "Why does this fail?" in instruction and "Thanks" in instruction
    assert any("def f" in c for c in context) and any("quoted line two" in c for c in context)
    assert "long pasted text" in context
    assert "earlier question" in context and "earlier answer" in context and context[-1] == "You are helpful."
    assert "" in context  # the attached document is a context part


def test_inline_markup_and_short_turns_are_untouched():
    for text in ("Make <b>this</b> bold", "What is 3 > 2?", THANKS, ""):
        assert split_prompt([user(text)]) == (text.strip(), ())
    assert split_prompt([]) == ("", ())
    assert split_prompt([Msg("assistant", (("text", "hello"),))]) == ("", ("hello",))


def test_unclosed_tags_and_huge_turns_split_in_bounded_time():
    # Many unclosed tags must not make the split quadratic; a huge turn's middle is context.
    text = "<document> " * 20_000 + "\n\nSummarise the text above."
    instruction, context = split_prompt([user(text)])
    assert instruction.endswith("Summarise the text above.")
    assert sum(map(len, context)) + len(instruction) >= 0.5 * len(text)


def test_context_weighs_little_so_a_typo_fix_on_a_long_email_is_cheap():
    s = bundled()
    cheap = s.score_text(*split_prompt([user("Fix the typos in this email:\n\n" + EMAIL)]))
    proof = s.score_text(*split_prompt([user("Prove that the square root of 2 is irrational.")]))
    assert cheap < proof


# --- specs -----------------------------------------------------------------------------------------------------
def test_spec_round_trips_and_scores_the_same():
    s = bundled()
    again = Scorer.from_spec(json.loads(json.dumps(s.spec())), name="copy")
    assert again.spec() == s.spec() and again.name == "copy" and again.version == s.version
    for text in (PROOF, THANKS, "", "x" * 50_000):
        assert again.score_text(text) == s.score_text(text)
    assert len(json.dumps(s.spec())) < 40_000


def test_bundled_scorer_is_named_and_says_what_it_was_trained_on():
    s = bundled()
    assert s.name == sc.BUNDLED_NAME == "bundled"
    assert s.meta["trained_on"]["file"] == "dev.jsonl" and s.meta["labels"] > 1000
    assert bundled() is s


def test_hashed_weights_move_the_score_of_prompts_with_those_words():
    # Given a scorer whose only hashed weights are on the buckets of "database"
    v = vectorize("How should I index this database?")
    words = {b for b, _ in vectorize("database").hashed}
    s = spec(hashed={"buckets": HASH_BUCKETS, "coef": [[b, 5.0] for b in sorted(words)]})
    strong = Scorer.from_spec(s)
    # then a prompt about databases scores higher than under the bundled weights, another prompt does not move
    assert strong.score(v) > bundled().score(v) + 0.2
    other = vectorize("How should I index this book?")
    assert strong.score(other) == pytest.approx(bundled().score(other))
    assert strong.score_text("How should I index this database?") == pytest.approx(strong.score(v))


def test_explain_names_the_largest_contributions():
    s = bundled()
    v = vectorize(PROOF)
    e = s.explain(v)
    assert e["score"] == pytest.approx(s.score(v), abs=1e-6) and e["scorer_version"] == s.version
    assert 1 <= len(e["top"]) <= 5
    assert all(abs(e["top"][i][1]) >= abs(e["top"][i + 1][1]) for i in range(len(e["top"]) - 1))


def test_explain_shows_reasoning_words_pushing_a_derivation_up():
    # Given a prompt made of reasoning words (prove, derive, justify, explain, step by step)
    v = vectorize("Prove it, derive it, justify each step and explain why, step by step.")
    # Then they are among the largest contributions, and they raise the score
    top = dict(bundled().explain(v)["top"])
    assert top.get("kw_reasoning_rate", 0) > 0


def _dense(**over):
    d = dict(bundled().spec()["dense"])
    d.update(over)
    return d


N = len(DENSE_FEATURES)


@pytest.mark.parametrize(
    "bad, path",
    [
        (spec(feature_set="v1"), "feature_set"),
        (spec(version=""), "version"),
        (spec(intercept=float("inf")), "intercept"),
        (spec(intercept=True), "intercept"),
        (spec(dense=_dense(names=list(DENSE_FEATURES[:-1]))), "dense.names"),
        (spec(dense=_dense(coef=[0.0] * (N - 1))), "dense.coef"),
        (spec(dense=_dense(mean=[float("nan")] * N)), "dense.mean[0]"),
        (spec(dense=_dense(scale=[0.0] * N)), "dense.scale[0]"),
        (spec(hashed={"buckets": 2048, "coef": []}), "hashed.buckets"),
        (spec(hashed={"buckets": HASH_BUCKETS, "coef": [[HASH_BUCKETS, 0.1]]}), "hashed.coef[0]"),
        (spec(hashed={"buckets": HASH_BUCKETS, "coef": [[-1, 0.1]]}), "hashed.coef[0]"),
        (spec(hashed={"buckets": HASH_BUCKETS, "coef": [[3, 0.1], [3, 0.2]]}), "hashed.coef[1]"),
        (spec(hashed={"buckets": HASH_BUCKETS, "coef": [[3, float("nan")]]}), "hashed.coef[0]"),
        (spec(meta="x"), "meta"),
        ([1, 2], ""),
        # finite but extreme: the logit would overflow to inf, and inf - inf is NaN
        (spec(dense=_dense(coef=[1e308] * N)), "dense.coef[0]"),
        (spec(intercept=-1e300), "intercept"),
        (spec(dense=_dense(scale=[1e-300] * N)), "dense.scale[0]"),
        (spec(hashed={"buckets": HASH_BUCKETS, "coef": [[3, 1e300]]}), "hashed.coef[0]"),
    ],
    ids=[
        "feature-set",
        "version",
        "inf",
        "bool",
        "names",
        "lengths",
        "nan",
        "scale",
        "buckets",
        "bucket-high",
        "bucket-negative",
        "bucket-twice",
        "hashed-nan",
        "meta",
        "not-object",
        "coef-huge",
        "intercept-huge",
        "scale-tiny",
        "hashed-huge",
    ],
)
def test_bad_specs_are_refused_with_the_field_named(bad, path):
    with pytest.raises(ScorerError) as exc:
        Scorer.from_spec(bad)
    assert exc.value.path == path
    assert path in str(exc.value) and exc.value.reason


def test_the_most_extreme_accepted_spec_still_scores_a_number_in_0_1():
    # Given a spec at the edges of every accepted bound, with opposite signs that could cancel to inf - inf
    d = _dense(
        coef=[MAX_WEIGHT if i % 2 else -MAX_WEIGHT for i in range(N)], scale=[MIN_SCALE] * N, mean=[MAX_MEAN] * N
    )
    s = Scorer.from_spec(
        spec(
            dense=d,
            intercept=MAX_WEIGHT,
            hashed={"buckets": HASH_BUCKETS, "coef": [[b, MAX_WEIGHT] for b in range(64)]},
        )
    )
    # Then every prompt still scores a number in [0, 1] (a NaN would match no rule and break JSON log lines)
    for text in ("", "hi", "Prove it " * 500, "x" * 100_000, "数学の問題" * 100):
        score = s.score_text(text)
        assert 0.0 <= score <= 1.0


def test_feature_set_error_says_to_retrain():
    with pytest.raises(ScorerError, match="retrain"):
        Scorer.from_spec(spec(feature_set="v1"))


def test_bundled_weights_respect_the_declared_priors():
    coef = bundled().dense_coef
    for name, sign in DENSE_SIGNS.items():
        assert sign * coef[name] >= -1e-9, (name, coef[name])
    for name, floor in DENSE_FLOORS.items():
        assert DENSE_SIGNS[name] * coef[name] >= floor - 1e-6, (name, coef[name])
    for name, cap in sc.DENSE_CAPS.items():
        assert abs(coef[name]) <= cap + 1e-6, (name, coef[name])


# --- odd input, determinism -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\n\t \n",
        "x" * 1_000_000,
        "héllo wörld ✓ 数学 " * 2000,
        "\ud800 lone surrogate",
        "0" * 50_000,
        "?" * 10_000,
        "A.\nB.\nC.\n" * 5000,
        "😀" * 1000,
        "```" * 3000,
        "<doc>" * 3000,
    ],
    ids=[
        "empty",
        "space",
        "whitespace",
        "1MB",
        "unicode",
        "surrogate",
        "digits",
        "qmarks",
        "options",
        "emoji",
        "fences",
        "tags",
    ],
)
def test_odd_and_huge_inputs_score_without_error(text):
    instruction, context = split_prompt([user(text)])
    s = bundled().score_text(instruction, context)
    v = vectorize(instruction, context)
    assert 0.0 <= s <= 1.0 and math.isfinite(s)
    assert all(math.isfinite(x) for x in v.dense)
    assert bundled().score(v) == pytest.approx(s)


def test_non_string_input_is_scored_as_text():
    assert 0.0 <= bundled().score_text(None) <= 1.0  # type: ignore[arg-type]
    assert vectorize(None) == vectorize("")  # type: ignore[arg-type]


_CHILD = """
import json, sys
sys.path[:0] = [sys.argv[1]]
from routing_engine.scorer import vectorize
print(json.dumps(vectorize("Index the orders database; データベースの索引 Ünïcödé", ("ctx",)).to_json()))
"""


def test_hash_buckets_do_not_depend_on_the_process_hash_seed():
    # Given two interpreters with different string hash seeds
    outs = []
    for seed in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        r = subprocess.run(
            [sys.executable, "-c", _CHILD, str(ROOT / "lambdas")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outs.append(json.loads(r.stdout))
    # then they compute the same vector, and so does this process
    assert outs[0] == outs[1]
    here = vectorize("Index the orders database; データベースの索引 Ünïcödé", ("ctx",)).to_json()
    assert outs[0] == json.loads(json.dumps(here))
