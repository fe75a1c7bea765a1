"""A continuing conversation stays on the model that began it (routes.<name>.conversation_affinity).

The engine decides a continuation on its task's features (system prompt and first user turn), ignores this
instance's latency on a route that holds conversations, and moves the conversation only when the model that began
it cannot serve (unhealthy, flagged down, over budget), saying why.
"""

from __future__ import annotations

from dataclasses import replace

from router.chat import ChatRequest
from routing_engine.engine import BudgetPressure, Health
from routing_engine.features import Message
from tests.unit.engine_fixtures import config_dict, engine_for, features

# The conversation's task: an easy first turn (the fixture's `auto` route sends it to `small`, the cheapest).
TASK = features(tokens=400, complexity=0.2)
# Its tenth turn: tool calls and results have grown it, and the scorer reads the latest turn as hard (>= 0.7).
TURN_10 = replace(TASK, estimated_tokens=6_000, message_count=19, complexity=0.9)


def _slo_route(affinity: bool = True) -> dict:
    """BASE whose `auto` default prefers models inside their latency SLO (what per-instance latency steers)."""
    data = config_dict()
    data["routes"]["auto"]["dynamic"]["default"] = {"strategy": "cheapest_capable", "prefer_within_slo": True}
    data["routes"]["auto"]["conversation_affinity"] = affinity
    return data


def test_a_continuation_is_decided_on_its_task_so_it_goes_where_the_first_turn_went():
    engine = engine_for()
    # Given the first turn went to small
    first = engine.decide("auto", TASK)
    assert first.model == "small"
    # When the tenth turn, whose own features would match the "hard" rule, carries its task
    turn = engine.decide("auto", TURN_10, continuation=True, task=TASK)
    # Then it stays on small, and says so
    assert turn.model == "small"
    assert turn.conversation == {"affinity": True, "home_model": "small", "moved": False}
    # (without the task, the latest turn alone would have moved it to the strongest model)
    assert engine.decide("auto", TURN_10).model == "large"


def test_a_latency_difference_between_two_instances_does_not_move_the_conversation():
    engine = engine_for(_slo_route())
    instance_a = Health(latency_ms={"small": 9_000.0, "medium": 1_000.0})  # A saw small slow (SLO 2 s)
    instance_b = Health(latency_ms={"small": 300.0, "medium": 1_000.0})
    first_on_a = engine.decide("auto", TASK, health=instance_a)
    turns = [
        engine.decide("auto", TURN_10, continuation=True, task=TASK, health=instance_a if i % 2 else instance_b)
        for i in range(10)
    ]
    assert {first_on_a.model, *(t.model for t in turns)} == {"small"}
    assert all(not t.conversation["moved"] for t in turns)


def test_the_opt_out_decides_each_turn_on_the_latest_turn_and_this_instances_latency():
    engine = engine_for(_slo_route(affinity=False))
    slow_small = Health(latency_ms={"small": 9_000.0, "medium": 1_000.0})
    # the latest turn's features decide (hard: the strongest model) ...
    assert engine.decide("auto", TURN_10, continuation=True, task=TASK).model == "large"
    # ... and this instance's latency steers an easy turn away from the slow model
    turn = engine.decide("auto", TASK, continuation=True, task=TASK, health=slow_small)
    assert turn.model == "medium"
    assert turn.conversation == {"affinity": False}


def test_an_unhealthy_model_moves_the_conversation_and_the_decision_says_why():
    engine = engine_for()
    health = Health(unavailable={"small": "circuit open: cooling down for 25s more"})
    turn = engine.decide("auto", TURN_10, continuation=True, task=TASK, health=health)
    assert turn.model == "medium"  # the cheapest capable model left, by the task's own rule
    assert turn.conversation["moved"] is True
    assert turn.conversation["home_model"] == "small"
    assert turn.conversation["why"] == "small: circuit open: cooling down for 25s more"
    assert turn.reason.startswith("conversation moved from small (small: circuit open")


def test_a_model_flagged_down_moves_the_conversation_on_every_instance_alike():
    engine = engine_for()
    flagged = Health(unavailable={"small": "failover flag down (manual: maintenance)"})
    a = engine.decide("auto", TURN_10, continuation=True, task=TASK, health=flagged)
    b = engine.decide(
        "auto", TURN_10, continuation=True, task=TASK, health=replace(flagged, latency_ms={"medium": 99_000.0})
    )
    assert a.model == b.model == "medium"
    assert "failover flag down (manual: maintenance)" in a.conversation["why"]


def test_over_a_soft_budget_the_conversation_moves_and_names_the_budget():
    engine = engine_for()
    hard_task = replace(TASK, complexity=0.9)  # began on the strongest model
    assert engine.decide("auto", hard_task).model == "large"
    pressure = BudgetPressure(why="over 80% of the daily budget of tier standard")
    turn = engine.decide("auto", TURN_10, continuation=True, task=hard_task, budget=pressure)
    assert turn.model == "small"
    assert turn.conversation["why"] == "over 80% of the daily budget of tier standard"


def test_a_conversation_grown_past_the_models_context_window_moves_and_says_so():
    engine = engine_for()
    turn = engine.decide("auto", replace(TURN_10, estimated_tokens=12_000), continuation=True, task=TASK)
    assert turn.model == "medium"
    assert "context window 10000" in turn.conversation["why"]


def test_the_dry_run_trace_shows_the_task_features_the_rules_read_and_the_conversation():
    engine = engine_for()
    turn = engine.decide(
        "auto", TURN_10, continuation=True, task=TASK, explain=True, health=Health(unavailable={"small": "down"})
    )
    assert turn.trace["task_features"]["complexity"] == 0.2
    assert turn.trace["features"]["complexity"] == 0.9
    assert turn.trace["conversation"]["moved"] is True
    assert turn.trace["choice"]["reason"] == turn.reason


def test_static_routes_and_named_models_carry_no_conversation_verdict():
    engine = engine_for()
    assert engine.decide("support", TURN_10, continuation=True, task=TASK).conversation is None
    assert engine.decide("large", TURN_10, continuation=True, task=TASK).conversation is None
    assert engine.holds_conversations("auto") and not engine.holds_conversations("support")


def test_the_request_knows_when_it_continues_a_conversation_and_what_its_task_is():
    task = Message("user", (("text", "fix the failing test"),))
    first = ChatRequest(name="auto", messages=(task,), turns=())
    assert not first.is_continuation
    assert first.task_messages() == (task,)
    loop = ChatRequest(
        name="auto",
        messages=(task, Message("assistant", ()), Message("user", (("text", "tool output: 3 failed"),))),
        turns=(),
    )
    assert loop.is_continuation
    assert loop.task_messages() == (task,)
