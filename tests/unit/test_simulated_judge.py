"""The simulated judge (local/simulated_judge.py) and how the simulated backend hands it judge requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labeller.judge import JUDGE_SYSTEM, judge_messages, parse_verdict
from local import simulated_judge, simulated_traffic
from local.simulated_backend import SimulatedBedrock
from routing_engine.config import parse_routing_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = parse_routing_config((ROOT / "config" / "routing.json").read_bytes())
HAIKU, SONNET, OPUS = (CONFIG.models[k].model_id for k in ("claude-haiku", "claude-sonnet", "claude-opus"))


def ask(backend: SimulatedBedrock, model_id: str, text: str, system: str | None = None) -> str:
    request = {"modelId": model_id, "messages": [{"role": "user", "content": [{"text": text}]}]}
    if system:
        request["system"] = [{"text": system}]
    return backend.converse(**request)["output"]["message"]["content"][0]["text"]


def judged(question: str, first: str, second: str) -> str | None:
    """The verdict the simulated judge gives on the answers of two models, in this order."""
    backend = SimulatedBedrock(lambda: CONFIG, latency_scale=0)
    a, b = ask(backend, first, question), ask(backend, second, question)
    reply = ask(backend, OPUS, judge_messages(question, a, b)[0]["content"][0]["text"], system=JUDGE_SYSTEM)
    return parse_verdict(reply)


@pytest.mark.parametrize(
    "question",
    [
        "How do I speed up a slow SQL query with three joins?",
        "¿Cómo elijo la clave primaria de una tabla?",
        "Wie lege ich einen Fremdschlüssel in der Datenbank an?",
        "データベースのスキーマ移行について教えてください。",
    ],
)
def test_on_a_database_question_the_strong_models_answer_wins_in_either_order(question):
    assert judged(question, HAIKU, SONNET) == "B"
    assert judged(question, SONNET, HAIKU) == "A"


@pytest.mark.parametrize(
    "question",
    [
        "How do I bake sourdough bread?",
        "Wie fange ich mit Gitarre lernen an?",
        "猫の食事について教えてください。",
        "Explain quadratic equations step by step.",
    ],
)
def test_any_other_question_is_a_tie(question):
    assert judged(question, HAIKU, SONNET) == "TIE"
    assert judged(question, SONNET, HAIKU) == "TIE"


def test_answers_by_models_of_equal_or_unknown_quality_are_a_tie():
    question = "Why is my PostgreSQL index never used?"
    assert judged(question, SONNET, SONNET) == "TIE"
    unknown = simulated_judge.reply(
        f"<question>{question}</question><answer_a>hand-written</answer_a><answer_b>also hand-written</answer_b>",
        lambda name: None,
    )
    assert parse_verdict(unknown) == "TIE"


def test_ordinary_requests_are_not_judged():
    backend = SimulatedBedrock(lambda: CONFIG, latency_scale=0)
    text = ask(backend, OPUS, "What is a database index?", system="You are a helpful assistant")
    assert text.startswith("[SIMULATED] This is a simulated answer from") and "VERDICT" not in text


def test_every_simulated_database_topic_is_one_the_judge_recognises_and_no_other_topic_is():
    for language in simulated_traffic.LANGUAGES:
        assert all(simulated_judge.about_databases(t) for t in simulated_traffic.DATABASE_TOPICS[language])
        assert not any(simulated_judge.about_databases(t) for t in simulated_traffic.TOPICS[language])
    prompts = simulated_traffic.generate(2000, seed=3)
    share = sum(p.about_databases for p in prompts) / len(prompts)
    assert 0.17 < share < 0.23
    assert all(p.about_databases == simulated_judge.about_databases(p.text) for p in prompts)
    assert json.dumps([p.text for p in prompts]) == json.dumps(
        [p.text for p in simulated_traffic.generate(2000, seed=3)]
    )
