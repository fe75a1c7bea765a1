"""The labeller Lambda: label samples from the queue, through moto's DynamoDB and a scripted Converse.

`FakeConverse` stands in for Bedrock (the `converse` callable the labelling logic takes): the other model answers
with a fixed text, the judge follows a rule the test sets. The table is the real LabelStore over moto.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from aws_adapters.bedrock import BedrockConverse, ModelCallError
from labeller import handler, labelling, wiring
from labeller.judge import JUDGE_SYSTEM
from labeller.labelling import FailedAfterSpending, InvalidSample, ModelRejected, label_sample, validate
from labeller.store import LabelStore, MemoryLabelStore, create_table
from routing_engine.features import Message
from routing_engine.scorer import FeatureVector, split_prompt, vectorize
from tests.conftest import aws_client, json_lines

TABLE = "labels-test"
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
PROMPT = "Explain why the zebrafish quorum protocol needs idempotent retries in a flaky warehouse network"
ANSWER = "Because retried writes duplicate pallets unless each write carries a token"
OTHER_ANSWER = "Retries are fine; the network is reliable"


def sample(**over) -> dict:
    body = {
        "v": 1,
        "request_id": "req-1",
        "sampled_at": "2026-12-01T15:29:59.123Z",
        "route": "auto",
        "config_version": "7",
        "scorer": "bundled",
        "scorer_version": "bundled-2026-12-01",
        "served_model": "claude-haiku",
        "weak_model": "claude-haiku",
        "strong_model": "claude-opus",
        "judge_model": "claude-opus",
        "daily_budget_usd": 5.0,
        "models": {
            "claude-haiku": {
                "model_id": "haiku-id",
                "region": None,
                "input_per_million": 1.0,
                "output_per_million": 5.0,
            },
            "claude-opus": {
                "model_id": "opus-id",
                "region": "us-west-2",
                "input_per_million": 5.0,
                "output_per_million": 25.0,
            },
        },
        "system": None,
        "route_system": None,
        "max_tokens": 512,
        "messages": [{"role": "user", "text": PROMPT}],
        "answer": ANSWER,
        "served_cost_usd": 0.00013,
    }
    body.update(over)
    return body


class FakeConverse:
    """Records each call; the other model answers OTHER_ANSWER, the judge answers by `judge(answer_a, answer_b)`."""

    def __init__(self, judge=lambda a, b: "VERDICT: A", *, fail: dict | None = None, tokens=(1000, 100), during=None):
        self.judge = judge
        self.during = during  # called once, inside the first call: what happens while this sample is labelled
        self.calls: list[dict] = []
        self.fail = fail or {}
        self.tokens = tokens

    def __call__(self, model_key, model_id, region, system, messages, max_tokens, *, inference=None):
        self.calls.append(
            {
                "model_key": model_key,
                "model_id": model_id,
                "region": region,
                "system": system,
                "messages": messages,
                "max_tokens": max_tokens,
                "inference": inference,
            }
        )
        if self.during is not None:
            during, self.during = self.during, None
            during()
        is_judge = bool(system) and system.startswith("You are an impartial judge")
        failure = self.fail.get("judge" if is_judge else "other")
        if failure is not None:
            raise failure
        if not is_judge:
            return OTHER_ANSWER, *self.tokens
        text = messages[0]["content"][0]["text"]
        a = re.search(r"<answer_a>\n(.*)\n</answer_a>", text, re.S).group(1)
        b = re.search(r"<answer_b>\n(.*)\n</answer_b>", text, re.S).group(1)
        return f"Reasoning.\n{self.judge(a, b)}", *self.tokens

    @property
    def judge_calls(self) -> list[dict]:
        return [c for c in self.calls if c["system"] == JUDGE_SYSTEM]


@pytest.fixture
def dynamodb():
    with mock_aws():
        client = aws_client("dynamodb")
        create_table(client, TABLE)
        yield client


@pytest.fixture
def store(dynamodb) -> LabelStore:
    return LabelStore(TABLE, dynamodb, clock=lambda: NOW)


def scan(dynamodb) -> list[dict]:
    return dynamodb.scan(TableName=TABLE)["Items"]


def prefers(answer: str):
    """A judge that picks the position holding `answer`."""
    return lambda a, b: "VERDICT: A" if a == answer else "VERDICT: B" if b == answer else "VERDICT: TIE"


# --- labelling ------------------------------------------------------------------------------------------


def test_a_label_is_stored_with_features_verdicts_and_costs_and_no_prompt_or_answer_text(store, dynamodb):
    # Given a sample served by the weak model, and a judge that prefers the strong model's answer
    converse = FakeConverse(prefers(OTHER_ANSWER))
    # When it is labelled
    outcome = label_sample(sample(), converse=converse, store=store, now=NOW)
    # Then the strong (other) model answered the same conversation, with the served answer's token bound
    assert outcome.kind == "stored"
    other = converse.calls[0]
    assert (other["model_key"], other["model_id"], other["region"]) == ("claude-opus", "opus-id", "us-west-2")
    assert other["messages"] == [{"role": "user", "content": [{"text": PROMPT}]}] and other["max_tokens"] == 512
    # and the judge was asked twice with the answers swapped
    first, second = (c["messages"][0]["content"][0]["text"] for c in converse.judge_calls)
    assert first.index(ANSWER) < first.index(OTHER_ANSWER) and second.index(OTHER_ANSWER) < second.index(ANSWER)
    assert f"<question>\n{PROMPT}\n</question>" in first
    # and both verdicts say the strong model was better: target 1
    (item,) = [i for i in scan(dynamodb) if i["pk"]["S"].startswith("label#")]
    label = json.loads(item["doc"]["S"])
    assert label["verdicts"] == [1.0, 1.0] and label["target"] == 1.0
    assert (label["weak_model"], label["strong_model"], label["served_model"]) == (
        "claude-haiku",
        "claude-opus",
        "claude-haiku",
    )
    assert (label["config_version"], label["scorer"], label["scorer_version"]) == ("7", "bundled", "bundled-2026-12-01")
    # three calls of 1000 in / 100 out: opus answering ($0.0075) and judging twice ($0.015)
    assert label["cost_usd"] == {
        "other": pytest.approx(0.0075),
        "judge": pytest.approx(0.015),
        "total": pytest.approx(0.0225),
        "served": 0.00013,
    }  # beside the judged answer's
    assert item["pk"] == {"S": "label#auto"} and item["sk"] == {"S": "2026-12-01T15:29:59.123Z#req-1"}
    assert int(item["expires_at"]["N"]) == int(NOW.timestamp()) + 180 * 86400
    # and the feature vector is the one the router's scorer computes for this prompt
    assert FeatureVector.from_json(label["features"]) == vectorize(
        *split_prompt([Message("user", (("text", PROMPT),))], None)
    )
    # and no word of the prompt or either answer is anywhere in the table
    everything = json.dumps(scan(dynamodb)).lower()
    for word in {*PROMPT.lower().split(), *ANSWER.lower().split(), *OTHER_ANSWER.lower().split()} - {
        "the",
        "a",
        "in",
        "is",
        "each",
        "are",
        "fine;",
    }:
        if len(word) > 3:
            assert word.strip(";,.") not in everything, word
    # and the day's spend is in the budget item
    assert store.spent_on("auto", "2026-12-01") == pytest.approx(0.0225)


def test_served_strong_means_the_weak_model_is_asked(store):
    converse = FakeConverse(prefers(ANSWER))
    outcome = label_sample(sample(served_model="claude-opus"), converse=converse, store=store, now=NOW)
    assert converse.calls[0]["model_key"] == "claude-haiku" and converse.calls[0]["region"] is None
    # the judge preferred the served (strong) answer in both positions
    assert outcome.kind == "stored" and outcome.label["verdicts"] == [1.0, 1.0]


def test_a_judge_that_always_says_a_cancels_out_to_a_tie(store):
    # Given a judge with pure position bias
    outcome = label_sample(sample(), converse=FakeConverse(lambda a, b: "VERDICT: A"), store=store, now=NOW)
    # Then the swapped order cancels it: one verdict for each model, target 0.5
    assert outcome.kind == "stored"
    assert sorted(outcome.label["verdicts"]) == [0.0, 1.0] and outcome.target == 0.5


def test_a_weak_win_in_both_orders_is_target_zero(store):
    outcome = label_sample(sample(), converse=FakeConverse(prefers(ANSWER)), store=store, now=NOW)
    assert outcome.label["verdicts"] == [0.0, 0.0] and outcome.target == 0.0


def test_the_day_stops_when_the_budget_is_spent_and_the_next_day_starts_again(store, dynamodb):
    # Given labels costing $0.0225 each, and a budget with room for one worst case after two labels
    worst = labelling.worst_case_cost(sample())
    budget = worst + 0.03
    converse = FakeConverse()
    first = label_sample(sample(daily_budget_usd=budget), converse=converse, store=store, now=NOW)
    second = label_sample(sample(daily_budget_usd=budget, request_id="req-2"), converse=converse, store=store, now=NOW)
    calls_so_far = len(converse.calls)
    # When a third sample arrives the same UTC day
    third = label_sample(sample(daily_budget_usd=budget, request_id="req-3"), converse=converse, store=store, now=NOW)
    # Then the first two were labelled (each reservation fitted), the third's worst case does not fit: no model call
    assert [first.kind, second.kind, third.kind] == ["stored", "stored", "over_budget"]
    assert len(converse.calls) == calls_so_far and third.cost_usd == 0
    assert f"spent 0.0450 of {budget:.4f}" in third.detail and f"may cost up to {worst:.4f}" in third.detail
    assert store.spent_on("auto", "2026-12-01") == pytest.approx(0.045)  # the refused reservation left no trace
    # and the next UTC day labels again
    tomorrow = datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC)
    assert (
        label_sample(
            sample(daily_budget_usd=budget, request_id="req-4"), converse=converse, store=store, now=tomorrow
        ).kind
        == "stored"
    )
    assert len([i for i in scan(dynamodb) if i["pk"]["S"] == "label#auto"]) == 3


def test_a_sample_whose_worst_case_does_not_fit_the_rest_of_the_budget_is_skipped_before_any_call(store):
    # Given a $1 budget of which $0.90 is spent, and a long prompt (40,000 characters: 10,000 tokens)
    store.add_spend("auto", "2026-12-01", 0.90)
    big = sample(daily_budget_usd=1.0, messages=[{"role": "user", "text": "word " * 8000}])
    worst = labelling.worst_case_cost(big)
    assert worst > 0.10
    converse = FakeConverse()
    # When it arrives
    outcome = label_sample(big, converse=converse, store=store, now=NOW)
    # Then it is over the budget and no model is called (it could have cost more than what is left)
    assert outcome.kind == "over_budget" and converse.calls == []
    assert store.spent_on("auto", "2026-12-01") == pytest.approx(0.90)


def test_concurrent_labellers_see_each_others_reservations(store):
    # Given a budget with room for one sample's worst case but not two
    budget = labelling.worst_case_cost(sample()) * 1.5
    second: dict = {}

    def another_labeller():  # a second sample arrives while the first one's other model is answering
        second["outcome"] = label_sample(
            sample(daily_budget_usd=budget, request_id="req-2"), converse=FakeConverse(), store=store, now=NOW
        )

    # When two samples are labelled at the same time
    first = label_sample(
        sample(daily_budget_usd=budget), converse=FakeConverse(during=another_labeller), store=store, now=NOW
    )
    # Then the first one's reservation was on the day's budget before its first call: the second is over budget
    assert first.kind == "stored" and second["outcome"].kind == "over_budget"
    # and once the first is done, the day's spend is what it really cost
    assert store.spent_on("auto", "2026-12-01") == pytest.approx(0.0225)


def test_the_memory_store_reserves_like_the_table(store):
    # Given both stores with $0.50 of a $1 budget spent
    memory = MemoryLabelStore()
    for s in (store, memory):
        s.add_spend("auto", "2026-12-01", 0.5)
    # Then both take a reservation that fits exactly, refuse one that does not, and take a correction
    for s in (store, memory):
        assert s.reserve_spend("auto", "2026-12-01", 0.25, 1.0) is True
        assert s.reserve_spend("auto", "2026-12-01", 0.3, 1.0) is False
        assert s.reserve_spend("auto", "2026-12-01", 0.25, 1.0) is True
        s.add_spend("auto", "2026-12-01", -0.2)
        assert s.spent_on("auto", "2026-12-01") == pytest.approx(0.8)
        # and on a fresh day, a reservation larger than the whole budget is refused
        assert s.reserve_spend("auto", "2026-12-02", 1.5, 1.0) is False
        assert s.reserve_spend("auto", "2026-12-02", 1.0, 1.0) is True


def test_an_unparseable_verdict_is_counted_spent_and_not_stored(store, dynamodb):
    outcome = label_sample(sample(), converse=FakeConverse(lambda a, b: "I cannot decide."), store=store, now=NOW)
    assert outcome.kind == "judge_unparseable" and "2 of 2" in outcome.detail
    assert not [i for i in scan(dynamodb) if i["pk"]["S"].startswith("label#")]
    assert store.spent_on("auto", "2026-12-01") == pytest.approx(0.0225)  # the calls were made and paid for


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"v": 2}, "v must be 1"),
        ({"messages": []}, "messages must be a non-empty list"),
        ({"messages": [{"role": "assistant", "text": "hi"}]}, "start with a user message"),
        ({"served_model": "nova-pro"}, "served_model must be the weak or the strong model"),
        ({"weak_model": "claude-opus"}, "must differ"),
        (
            {"models": {"claude-haiku": {"model_id": "x", "input_per_million": 0, "output_per_million": 0}}},
            "models.claude-opus.model_id",
        ),
        ({"daily_budget_usd": 0}, "daily_budget_usd"),
        ({"sampled_at": "yesterday"}, "sampled_at"),
    ],
)
def test_an_invalid_sample_is_refused_before_any_call(store, change, problem):
    converse = FakeConverse()
    outcome = label_sample(sample(**change), converse=converse, store=store, now=NOW)
    assert outcome.kind == "invalid" and problem in outcome.detail
    assert converse.calls == []


def test_a_redelivered_sample_is_labelled_once(store):
    converse = FakeConverse()
    assert label_sample(sample(), converse=converse, store=store, now=NOW).kind == "stored"
    calls = len(converse.calls)
    assert label_sample(sample(), converse=converse, store=store, now=NOW).kind == "duplicate"
    assert len(converse.calls) == calls  # no second spend


def test_a_bedrock_error_raises_and_what_was_spent_counts(store):
    # Given the other model answers but the judge fails
    converse = FakeConverse(fail={"judge": RuntimeError("ThrottlingException")})
    with pytest.raises(FailedAfterSpending) as failed:
        label_sample(sample(), converse=converse, store=store, now=NOW)
    # Then the sample is retried for the judge's error, and the other model's answer ($0.0075) is on the day's
    # budget all the same, and reported for the spend metric
    assert isinstance(failed.value.__cause__, RuntimeError)
    assert failed.value.cost_usd == pytest.approx(0.0075) and failed.value.route == "auto"
    assert store.spent_on("auto", "2026-12-01") == pytest.approx(0.0075)


def test_a_model_that_rejects_the_request_is_a_final_skip(store):
    converse = FakeConverse(fail={"other": ModelRejected("claude-opus refused the request: too long")})
    outcome = label_sample(sample(), converse=converse, store=store, now=NOW)
    assert outcome.kind == "model_rejected"


def test_the_conversation_and_both_system_texts_reach_the_other_model(store):
    converse = FakeConverse()
    turns = [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello"}, {"role": "user", "text": "Q?"}]
    label_sample(
        sample(messages=turns, system="Be brief.", route_system="You are support."),
        converse=converse,
        store=store,
        now=NOW,
    )
    other = converse.calls[0]
    assert other["system"] == "You are support.\n\nBe brief."
    assert [m["role"] for m in other["messages"]] == ["user", "assistant", "user"]
    judge_text = converse.judge_calls[0]["messages"][0]["content"][0]["text"]
    assert "[User]\nHi" in judge_text and "[Assistant]\nHello" in judge_text and "Be brief." in judge_text


def test_the_other_model_is_asked_with_the_callers_settings_and_within_its_output_limit(store):
    # Given a sample the served model answered with stop sequences, a temperature and top_p, a 6,000-token bound,
    # and an other model that answers 5,000 tokens at most
    s = sample(max_tokens=6000, inference={"stop": ["END"], "temperature": 0.2, "top_p": 0.9})
    s["models"]["claude-opus"]["max_output_tokens"] = 5000
    converse = FakeConverse()
    # When it is labelled
    assert label_sample(s, converse=converse, store=store, now=NOW).kind == "stored"
    # Then the other model got the same settings and its own limit as the bound; the judge keeps its own
    other = converse.calls[0]
    assert other["inference"] == {"stop": ["END"], "temperature": 0.2, "top_p": 0.9}
    assert other["max_tokens"] == 5000
    assert all(c["inference"] is None for c in converse.judge_calls)


def test_the_other_model_gets_its_catalog_sampling_rule(store):
    # Given a sample whose other model (Claude Opus 4.6) takes temperature or top_p, not both (issue 17)
    s = sample(inference={"temperature": 0.2, "top_p": 0.9})
    s["models"]["claude-opus"]["sampling"] = "temperature_or_top_p"
    converse = FakeConverse()
    assert label_sample(s, converse=converse, store=store, now=NOW).kind == "stored"
    # Then the call carries the rule, which the Converse wiring applies (tests/handler/test_sampling_constraints.py)
    assert converse.calls[0]["inference"]["sampling"] == "temperature_or_top_p"
    # And a rule the labeller does not know is refused before any call
    s["models"]["claude-opus"]["sampling"] = "whatever"
    with pytest.raises(InvalidSample):
        validate(s)


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"inference": {"stop": "END"}}, "inference.stop"),
        ({"inference": {"temperature": 2}}, "inference.temperature"),
        ({"inference": []}, "inference must be an object"),
    ],
)
def test_invalid_sampling_settings_are_refused_before_any_call(store, change, problem):
    converse = FakeConverse()
    outcome = label_sample(sample(**change), converse=converse, store=store, now=NOW)
    assert outcome.kind == "invalid" and problem in outcome.detail and converse.calls == []


# --- the Converse adapter ----------------------------------------------------------------------------


def test_the_converse_adapter_sends_a_real_converse_request_and_reads_usage():
    # Given a real bedrock-runtime client under botocore's Stubber (request and response shapes checked)
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "VERDICT: B"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
            "metrics": {"latencyMs": 9},
        },
        {
            "modelId": "opus-id",
            "messages": [{"role": "user", "content": [{"text": "q"}]}],
            "system": [{"text": JUDGE_SYSTEM}],
            "inferenceConfig": {"maxTokens": 64},
        },
    )
    converse = wiring.bedrock_converse(BedrockConverse(lambda region, timeout: client))
    with stub:
        assert converse(
            "claude-opus", "opus-id", None, JUDGE_SYSTEM, [{"role": "user", "content": [{"text": "q"}]}], 64
        ) == ("VERDICT: B", 12, 3)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("error_class", ["ValidationException", "AccessDeniedException", "ResourceNotFoundException"])
def test_the_converse_adapter_turns_errors_no_retry_can_fix_into_a_final_rejection(error_class):
    # Given Bedrock refusing the call for good: invalid, not allowed, or an unknown model
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("converse", error_class, "no such luck", http_status_code=400)
    converse = wiring.bedrock_converse(BedrockConverse(lambda region, timeout: client))
    # Then it is a rejection naming the error class, which the labeller does not retry
    with stub, pytest.raises(ModelRejected, match=error_class) as raised:
        converse("claude-opus", "opus-id", None, None, [{"role": "user", "content": [{"text": "q"}]}], 64)
    assert raised.value.error_class == error_class


@pytest.mark.parametrize(
    "error_class, status",
    [("ThrottlingException", 429), ("InternalServerException", 500), ("ServiceUnavailableException", 503)],
)
def test_the_converse_adapter_raises_passing_failures_for_a_retry(error_class, status):
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("converse", error_class, "try again", http_status_code=status)
    converse = wiring.bedrock_converse(BedrockConverse(lambda region, timeout: client))
    with stub, pytest.raises(ModelCallError):
        converse("claude-opus", "opus-id", None, None, [{"role": "user", "content": [{"text": "q"}]}], 64)


def test_the_converse_adapter_sends_the_callers_settings():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "one"}]}},
            "stopReason": "stop_sequence",
            "usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6},
            "metrics": {"latencyMs": 9},
        },
        {
            "modelId": "opus-id",
            "messages": [{"role": "user", "content": [{"text": "q"}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
        },
    )
    converse = wiring.bedrock_converse(BedrockConverse(lambda region, timeout: client))
    with stub:
        assert converse(
            "claude-opus",
            "opus-id",
            None,
            None,
            [{"role": "user", "content": [{"text": "q"}]}],
            64,
            inference={"stop": ["END"], "temperature": 0.2, "top_p": 0.9},
        ) == ("one", 5, 1)
    stub.assert_no_pending_responses()


# --- the Lambda handler ----------------------------------------------------------------------------------


def sqs_event(*bodies: str) -> dict:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"rh{i}",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:labels",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


@pytest.fixture
def lambda_handler(store, monkeypatch):
    def run(event, converse):
        monkeypatch.setattr(handler, "store", store)
        monkeypatch.setattr(handler, "converse", converse)
        from tests.conftest import FakeLambdaContext

        return handler.lambda_handler(event, FakeLambdaContext())

    return run


def emf_metrics(docs: list[dict]) -> dict:
    """{(metric name, its dimension values in order): summed value} of the EMF documents among the log lines."""
    out = {}
    for d in docs:
        if "_aws" in d:
            spec = d["_aws"]["CloudWatchMetrics"][0]
            dims = tuple(spec["Dimensions"][0])
            for metric in spec["Metrics"]:
                value = d[metric["Name"]]
                key = (metric["Name"], tuple((k, d[k]) for k in dims if k != "service"))
                out[key] = out.get(key, 0) + (value[0] if isinstance(value, list) else value)
                assert dims[0] == "service"
    return out


def test_the_handler_reports_only_the_failed_record_and_counts_the_rest(lambda_handler, dynamodb, labeller_stdout):
    # Given three messages: a good sample, one whose judge call Bedrock throttles, and one that is not JSON
    good = FakeConverse()

    def converse(model_key, model_id, region, system, messages, max_tokens, **options):
        if system == JUDGE_SYSTEM and "Throttle this one" in messages[0]["content"][0]["text"]:
            raise ModelCallError("ThrottlingException", "slow down", latency_ms=1)
        return good(model_key, model_id, region, system, messages, max_tokens, **options)

    throttled = sample(request_id="req-2", messages=[{"role": "user", "text": "Throttle this one"}])
    event = sqs_event(json.dumps(sample()), json.dumps(throttled), "not json")
    # When the batch is handled
    result = lambda_handler(event, converse)
    # Then only the throttled record goes back to the queue; the invalid one is final (deleted)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert len([i for i in scan(dynamodb) if i["pk"]["S"] == "label#auto"]) == 1
    docs = json_lines(labeller_stdout.readouterr().out)
    metrics = emf_metrics(docs)
    assert metrics[("LabelsStored", (("Route", "auto"),))] == 1
    assert metrics[("LabelsSkipped", (("Route", "unknown"), ("Reason", "invalid")))] == 1
    assert metrics[("StrongWinRate", (("Route", "auto"), ("Pair", "claude-haiku vs claude-opus")))] == 0.5
    # the stored label's $0.0225 and the throttled sample's $0.0075 (its other answer, paid before the judge failed)
    assert metrics[("LabelSpendUSD", (("Route", "auto"),))] == pytest.approx(0.0225 + 0.0075)
    assert any(d.get("message") == "sample labelled" for d in docs)  # the labeller's own lines are read here
    assert not any(PROMPT in json.dumps(d) or ANSWER in json.dumps(d) for d in docs)  # logs never carry text


@pytest.mark.usefixtures("dynamodb")
def test_a_one_sample_batch_that_fails_is_reported_not_raised(lambda_handler):
    # Given the stack's batch size (one sample) and Bedrock throttling the judge
    def converse(*_call, **_options):
        raise ModelCallError("ThrottlingException", "slow down", latency_ms=1)

    # When the batch is handled
    result = lambda_handler(sqs_event(json.dumps(sample())), converse)
    # Then the invocation succeeds and names the record for SQS to retry (a raised error would count against
    # the labeller-errors alarm and slow the event source's polling)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}]}


def test_the_handler_counts_budget_skips_and_deletes_them(lambda_handler, store, labeller_stdout):
    # Given today's (UTC) labelling budget of the route is spent
    store.add_spend("auto", datetime.now(UTC).date().isoformat(), 10.0)
    converse = FakeConverse()
    # When a sample arrives
    result = lambda_handler(sqs_event(json.dumps(sample())), converse)
    # Then it is not retried, no model is called, and it is counted as skipped for the budget
    assert result == {"batchItemFailures": []} and converse.calls == []
    metrics = emf_metrics(json_lines(labeller_stdout.readouterr().out))
    assert metrics[("LabelsSkipped", (("Route", "auto"), ("Reason", "budget")))] == 1


@pytest.fixture
def labeller_stdout(capsys):
    """capsys, with the labeller's Logger writing to the captured stdout (the Logger binds its stream at import)."""
    from tests.conftest import _CurrentStdout

    log_handler = handler.logger.registered_handler
    previous = log_handler.stream
    log_handler.stream = _CurrentStdout()
    yield capsys
    log_handler.stream = previous


def test_a_judge_the_labeller_may_not_call_is_a_final_skip_with_its_error_class(lambda_handler, store, labeller_stdout):
    # Given the real Converse adapter, the other model answering and the judge refused (AccessDeniedException)
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": OTHER_ANSWER}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1000, "outputTokens": 100, "totalTokens": 1100},
            "metrics": {"latencyMs": 9},
        },
    )
    stub.add_client_error("converse", "AccessDeniedException", "not authorized to invoke opus-id", http_status_code=403)
    converse = wiring.bedrock_converse(BedrockConverse(lambda region, timeout: client))
    # When the sample is handled
    with stub:
        result = lambda_handler(sqs_event(json.dumps(sample())), converse)
    # Then it is not retried (a retry would only buy the other answer again), and it is counted model_rejected
    assert result == {"batchItemFailures": []}
    docs = json_lines(labeller_stdout.readouterr().out)
    metrics = emf_metrics(docs)
    assert metrics[("LabelsSkipped", (("Route", "auto"), ("Reason", "model_rejected")))] == 1
    # and the log line names the error class, without the prompt's text; what was spent counts
    (line,) = [d for d in docs if d.get("message") == "sample not labelled"]
    assert line["outcome"] == "model_rejected" and line["error_class"] == "AccessDeniedException"
    assert not any(PROMPT in json.dumps(d) or ANSWER in json.dumps(d) for d in docs)
    assert store.spent_on("auto", datetime.now(UTC).date().isoformat()) == pytest.approx(0.0075)
