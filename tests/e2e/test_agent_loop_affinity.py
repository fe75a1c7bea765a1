"""A tool loop stays on one model across router instances (issue 16, item 3).

A simulated coding agent runs a 10-turn tool loop with the real `openai` SDK (9 forced tool calls, each answered
with a tool result, then a final answer), sending its turns ALTERNATELY to two separate local server processes that
share nothing. The measurement is the number of model switches between consecutive turns (`x-router-model`):
- healthy models: 0 on the bundled `auto` route (conversation affinity on, the default); the same loop on a copy of
  the route that opted out (`conversation_affinity: false`) is the control, and switches, because each turn's
  latest tool output is scored afresh;
- the model that began the conversation starts failing mid-loop (both instances restarted after turn 5 with
  LOCAL_FAULTS making it fail), or is flagged down mid-loop (failover flags): exactly one switch, and the turn that
  switched names why in `x_router.conversation`, the `x-router-conversation` header and the server's log line.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import pytest
from openai import OpenAI

from tests.e2e.conftest import BUNDLED_CONFIG, LocalServer, _stop, wait_for

pytestmark = pytest.mark.e2e

TURNS = 10
SYSTEM = "You are a coding agent. Use the tools to inspect and change the repository, then report."
# A hard task: the bundled `auto` route's hard-question rule sends it to the strongest model, claude-opus.
TASK = (
    "Investigate why the nightly integration job times out. Read the logs, compare the last three runs, "
    "identify the regression, and propose a patch with a test."
)
HOME = "claude-opus"
HOME_FALLBACK = "claude-sonnet"  # claude-opus's first fallback, and the strongest model left without it
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file of the repository",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run_tests",
            "description": "Run the test suite, or one test",
            "parameters": {"type": "object", "properties": {"target": {"type": "string"}}, "required": ["target"]},
        },
    },
]
# What the tools return, turn by turn: short acknowledgements and long, hard-looking traces, as in a real loop.
TOOL_OUTPUTS = [
    "ok",
    "nightly run 2026-12-05: 41 min; 2026-12-06: 44 min; 2026-12-07: timed out after 60 min",
    "3 passed",
    "Traceback (most recent call last): ... ZeroDivisionError: division by zero in compute_rate(numerator, "
    "denominator) when denominator is 0; compute the expected rate for each of the 12 months and compare",
    "file written",
    "FAILED tests/test_ledger.py::test_transfer - AssertionError: expected balance 100, got 90; the invariant "
    "sum(accounts) == total does not hold after concurrent transfers",
    "ok",
    "diff --git a/jobs/nightly.py b/jobs/nightly.py: the retry loop now waits 2**n seconds for n up to 12",
    "42 passed",
]


@dataclass
class Turn:
    model: str
    conversation_header: str | None
    x_router: dict


def config_with_per_turn_route() -> dict:
    """The bundled configuration plus `auto-per-turn`: the `auto` route, opted out of conversation affinity."""
    config = json.loads(BUNDLED_CONFIG.read_text())
    per_turn = copy.deepcopy(config["routes"]["auto"])
    per_turn["conversation_affinity"] = False
    config["routes"]["auto-per-turn"] = per_turn
    return config


def client_of(server: LocalServer) -> OpenAI:
    return OpenAI(base_url=f"{server.base_url}/v1", api_key="local", max_retries=0, timeout=20)


def agent_loop(servers: list[LocalServer], route: str, *, between_turns=None) -> list[Turn]:
    """Run the tool loop, turn i on servers[i % 2]; `between_turns(i)` runs before turn i (0-based)."""
    messages: list[dict] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
    turns: list[Turn] = []
    for i in range(TURNS):
        if between_turns is not None:
            between_turns(i)
        last = i == TURNS - 1
        with client_of(servers[i % 2]) as client:
            raw = client.chat.completions.with_raw_response.create(
                model=route, messages=messages, tools=TOOLS, tool_choice="auto" if last else "required"
            )
        completion = raw.parse()
        turns.append(Turn(raw.headers["x-router-model"], raw.headers.get("x-router-conversation"), completion.x_router))
        message = completion.choices[0].message
        if last:
            assert message.content and not message.tool_calls  # the loop ends with an answer
            break
        assert message.tool_calls, f"turn {i + 1} made no tool call"
        messages.append(message.model_dump(include={"role", "content", "tool_calls"}, exclude_none=True))
        for call in message.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": TOOL_OUTPUTS[i]})
    return turns


def switches(turns: list[Turn]) -> int:
    return sum(1 for before, after in zip(turns, turns[1:]) if before.model != after.model)


@pytest.fixture(scope="module")
def two_servers(start_module_server) -> list[LocalServer]:
    """Two healthy instances for the module's read-only tests."""
    config = config_with_per_turn_route()
    return [start_module_server(config=config), start_module_server(config=config)]


@pytest.fixture
def two_fresh_servers(start_local_server) -> list[LocalServer]:
    """Two instances of the test's own, for a test that changes their flags."""
    config = config_with_per_turn_route()
    return [start_local_server(config=config), start_local_server(config=config)]


def test_a_tool_loop_sent_to_two_instances_stays_on_one_model(two_servers):
    # When the agent's 10 turns alternate between two router processes that share nothing
    turns = agent_loop(two_servers, "auto")
    # Then every turn is answered by the model the first turn went to: 0 switches
    print(f"\naffinity on: models {[t.model for t in turns]}, switches {switches(turns)}")
    assert switches(turns) == 0
    assert turns[0].model == HOME
    # and each continuing turn says it stayed; the first turn is no continuation
    assert turns[0].conversation_header is None
    assert [t.conversation_header for t in turns[1:]] == ["stayed"] * (TURNS - 1)
    assert turns[5].x_router["conversation"] == {"affinity": True, "home_model": HOME, "moved": False}


def test_the_same_loop_on_a_route_that_opted_out_is_decided_each_turn(two_servers):
    # The control: the same loop on the opted-out copy of the route decides on each turn's latest tool output
    turns = agent_loop(two_servers, "auto-per-turn")
    print(f"\naffinity off: models {[t.model for t in turns]}, switches {switches(turns)}")
    assert switches(turns) > 0
    assert [t.conversation_header for t in turns[1:]] == ["per-turn"] * (TURNS - 1)


def test_a_dry_run_of_a_continuing_turn_shows_the_task_the_rules_read(two_servers):
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": TASK},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "run_tests", "arguments": '{"target":"all"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "3 passed"},
    ]
    with client_of(two_servers[0]) as client:
        completion = client.chat.completions.create(
            model="auto", messages=messages, tools=TOOLS, extra_body={"dry_run": True}
        )
    decision = completion.x_router["decision"]
    assert completion.x_router["model"] == HOME
    assert decision["conversation"] == {"affinity": True, "home_model": HOME, "moved": False}
    # the rules read the task (hard), not the latest turn ("3 passed", easy)
    assert decision["task_features"]["complexity"] > decision["features"]["complexity"]
    assert decision["task_features"]["message_count"] == 1


def test_when_the_model_starts_failing_mid_loop_the_loop_switches_once_and_says_why(start_local_server):
    config = config_with_per_turn_route()
    servers = [start_local_server(config=config), start_local_server(config=config)]

    def home_fails_from_turn_6(i: int) -> None:
        if i == 5:  # the instances are replaced by two whose calls to the home model fail
            for server in servers:
                _stop(server.process)
            servers[:] = [
                start_local_server(config=config, faults=f"{HOME}=ServiceUnavailableException"),
                start_local_server(config=config, faults=f"{HOME}=ServiceUnavailableException"),
            ]

    turns = agent_loop(servers, "auto", between_turns=home_fails_from_turn_6)
    print(f"\nfailing mid-loop: models {[t.model for t in turns]}, switches {switches(turns)}")
    assert [t.model for t in turns] == [HOME] * 5 + [HOME_FALLBACK] * 5
    assert switches(turns) == 1
    switched = turns[5]
    assert switched.conversation_header == "moved"
    assert switched.x_router["conversation"]["home_model"] == HOME
    assert switched.x_router["conversation"]["why"].startswith(f"{HOME} failed: ServiceUnavailableException")
    assert [a["model"] for a in switched.x_router["attempts"]] == [HOME, HOME_FALLBACK]
    # and the server's log line says the same
    routed = [line for line in servers[0].logs() if line.get("conversation")]
    assert routed and routed[0]["conversation"]["moved"] is True
    assert routed[0]["task_features"]["message_count"] == 1


def test_when_the_model_is_flagged_down_mid_loop_the_loop_switches_once_and_says_why(two_fresh_servers):
    two_servers = two_fresh_servers

    def flag_home_down_before_turn_6(i: int) -> None:
        if i == 5:
            flags = {"models": {HOME: {"state": "down", "source": "manual", "reason": "provider incident"}}}
            for server in two_servers:
                (server.config_path.parent / "flags.json").write_text(json.dumps(flags))
            for server in two_servers:  # each instance reads its flags file again within half a second
                assert wait_for(
                    lambda s=server: not s.request("GET", "/v1/health").body["models"][HOME]["available"],
                    timeout_s=10,
                )

    turns = agent_loop(two_servers, "auto", between_turns=flag_home_down_before_turn_6)
    print(f"\nflagged down mid-loop: models {[t.model for t in turns]}, switches {switches(turns)}")
    assert [t.model for t in turns] == [HOME] * 5 + [HOME_FALLBACK] * 5
    assert switches(turns) == 1
    switched = turns[5]
    assert switched.conversation_header == "moved"
    assert switched.x_router["conversation"]["why"] == f"{HOME}: failover flag down (manual: provider incident)"
    assert switched.x_router["reason"].startswith(f"conversation moved from {HOME} ")
    assert "attempts" not in switched.x_router  # the decision moved it: no call to the flagged model


def test_the_json_api_and_a_streamed_turn_hold_the_conversation_too(two_servers):
    # Our JSON API: a conversation whose latest turn alone is easy ("3 passed") stays where its hard task began
    conversation = {
        "task": "auto",
        "system": SYSTEM,
        "messages": [
            {"role": "user", "content": TASK},
            {"role": "assistant", "content": "I ran the suite."},
            {"role": "user", "content": "3 passed"},
        ],
    }
    for server in two_servers:
        reply = server.request("POST", "/v1/route", conversation)
        assert reply.status == 200, reply.body
        assert reply.headers["x-router-model"] == HOME
        assert reply.headers["x-router-conversation"] == "stayed"
        assert reply.body["routing"]["conversation"]["home_model"] == HOME
    # The OpenAI API, streamed: the headers come with the first byte and say the same
    messages = [{"role": "system", "content": SYSTEM}, *conversation["messages"]]
    with (
        client_of(two_servers[1]) as client,
        client.chat.completions.with_streaming_response.create(
            model="auto", messages=messages, stream=True
        ) as response,
    ):
        assert response.headers["x-router-model"] == HOME
        assert response.headers["x-router-conversation"] == "stayed"
        assert any(chunk.choices and chunk.choices[0].delta.content for chunk in response.parse())
