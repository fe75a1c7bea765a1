"""Label sampling on the router: which answered requests go to the label queue, what the message holds, and that
the request never waits for it.

Requests go through the app as the Lambda Web Adapter sends them (tests.web_adapter), or straight through its ASGI
interface where the order of the response's messages and the sample's send is the point. The label queue is a
`MemorySampleQueue` (or a gated / failing one) behind the real sender thread.
"""

from __future__ import annotations

import asyncio
import json
import threading

import boto3
import httpx
import pytest
from botocore.stub import ANY, Stubber

from router import wiring
from router.adapters.sample_queue import MAX_SAMPLE_BYTES, MemorySampleQueue
from router.http.app import create_app
from router.sampling import SampleJob, Sampler, SampleSender
from tests.conftest import ROUTING_CONFIG, json_lines

HAIKU_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
OPUS_ID = "us.anthropic.claude-opus-4-6-v1"
NOVA_ID = "us.amazon.nova-pro-v1:0"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/labels"


def labelled_config(**labelling) -> dict:
    """ROUTING_CONFIG plus a dynamic route `auto`: haiku by default, opus for hard prompts, labelled."""
    config = json.loads(json.dumps(ROUTING_CONFIG))
    config["routes"]["auto"] = {
        "model": "claude-haiku",
        "mode": "dynamic",
        "max_tokens": 300,
        "system_prompt": "You are helpful.",
        "dynamic": {
            "candidates": ["claude-haiku", "claude-opus", "nova-pro"],
            "rules": [{"id": "hard", "when": {"complexity": {"gte": 0.99}}, "target": {"model": "claude-opus"}}],
            "default": {"model": "claude-haiku"},
        },
        "labelling": {"sample_rate": 1.0, "daily_budget_usd": 5.0, "judge_model": "claude-opus", **labelling},
    }
    return config


class GatedQueue(MemorySampleQueue):
    """A queue whose send waits until `gate` is set; `entered` is set when a send has started."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def send(self, body: str) -> None:
        self.entered.set()
        self.gate.wait(10)
        super().send(body)


class FailingQueue:
    def send(self, _body: str) -> None:
        raise ConnectionError("SQS is unreachable")


@pytest.fixture
def labelled(router_service):
    """`labelled(queue=None, config=None, **sender_options) -> (service, queue)`: the router over a labelled route,
    its sampler sending to `queue` (default: a MemorySampleQueue)."""

    def build(queue=None, config=None, seed: int = 7, **sender_options):
        service = router_service(config or labelled_config())
        queue = queue if queue is not None else MemorySampleQueue()
        service.sampler = Sampler(SampleSender(queue, **sender_options), seed=seed)
        return service, queue

    return build


@pytest.fixture
def post(web_adapter):
    def send(body: dict, path: str = "/v1/route") -> httpx.Response:
        return web_adapter.post(path, body)

    return send


def request_lines(out: str) -> list[dict]:
    return [d for d in json_lines(out) if d.get("message") in ("request routed", "request failed")]


def label_metrics(out: str) -> list[str]:
    return [d["Outcome"] for d in json_lines(out) if "LabelSamples" in d]


# --- what is sampled, and what the message holds ------------------------------------------------------------


def test_a_sampled_request_reaches_the_queue_with_the_prompt_answer_decision_and_prices(
    labelled, post, fake_bedrock, captured_stdout
):
    # Given a labelled route sampling every request, and haiku answering
    service, queue = labelled()
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("Paris.", input_tokens=40, output_tokens=3))
    # When a caller asks an easy question with its own system text
    reply = post({"task": "auto", "prompt": "Capital of France?", "system": "Be brief."})
    assert reply.status_code == 200
    assert service.sampler.flush(5)
    # Then one message in the contract's shape reached the queue
    (body,) = queue.bodies
    sample = json.loads(body)
    assert sample["v"] == 1 and sample["request_id"] == reply.headers["x-request-id"]
    assert sample["route"] == "auto" and sample["config_version"] == service.snapshot().version
    assert (sample["served_model"], sample["weak_model"], sample["strong_model"], sample["judge_model"]) == (
        "claude-haiku",
        "claude-haiku",
        "claude-opus",
        "claude-opus",
    )
    assert sample["daily_budget_usd"] == 5.0
    assert sample["models"] == {
        "claude-haiku": {
            "model_id": HAIKU_ID,
            "region": None,
            "input_per_million": 1.0,
            "output_per_million": 5.0,
            "max_output_tokens": 8192,
            "sampling": "temperature_and_top_p",  # the test catalog's default
        },
        "claude-opus": {
            "model_id": OPUS_ID,
            "region": None,
            "input_per_million": 5.0,
            "output_per_million": 25.0,
            "max_output_tokens": 8192,
            "sampling": "temperature_and_top_p",  # the test catalog's default
        },
    }
    assert sample["messages"] == [{"role": "user", "text": "Capital of France?"}]
    assert (sample["system"], sample["route_system"]) == ("Be brief.", "You are helpful.")
    assert sample["answer"] == "Paris." and sample["max_tokens"] == 300
    assert sample["inference"] == {"stop": None, "temperature": None, "top_p": None}  # the caller set none
    assert sample["served_cost_usd"] == pytest.approx(40 / 1000 * 0.001 + 3 / 1000 * 0.005)
    assert sample["scorer"] == "bundled" and sample["scorer_version"]
    assert sample["sampled_at"].endswith("Z")
    # and the request's log line says it was queued, and names the scorer version; the metric says queued, sent
    (line,) = request_lines(captured_stdout.readouterr().out + "")
    assert line["label_sample"] == "queued" and line["scorer_version"] == sample["scorer_version"]
    assert service.sampler.sender.counts == {"queued": 1, "sent": 1}


def test_the_sample_carries_the_callers_sampling_settings_and_each_models_output_limit(labelled, post, fake_bedrock):
    # Given a labelled route whose pair is haiku and nova-pro (5,000 output tokens at most)
    config = labelled_config()
    config["routes"]["auto"]["dynamic"]["rules"][0]["target"] = {"model": "nova-pro"}
    config["routes"]["auto"]["temperature"] = 0.3
    service, queue = labelled(config=config)
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("One, two", output_tokens=3))
    # When a caller asks with stop sequences and top_p (and no temperature: the route's applies)
    reply = post(
        {"model": "auto", "messages": [{"role": "user", "content": "Count to ten"}], "stop": ["three"], "top_p": 0.8},
        "/v1/chat/completions",
    )
    assert reply.status_code == 200, reply.text
    assert service.sampler.flush(5)
    # Then the sample says how the served model was asked, and how many tokens each model may answer
    sample = json.loads(queue.bodies[0])
    assert sample["inference"] == {"stop": ["three"], "temperature": 0.3, "top_p": 0.8}
    assert sample["models"]["nova-pro"]["max_output_tokens"] == 5000
    assert sample["models"]["claude-haiku"]["max_output_tokens"] == 8192


def test_label_samples_are_counted_by_outcome_in_their_own_metric(labelled, post, captured_stdout):
    service, _ = labelled()
    post({"task": "auto", "prompt": "hi"})
    assert service.sampler.flush(5)
    docs = [d for d in json_lines(captured_stdout.readouterr().out) if "LabelSamples" in d]
    assert [d["Outcome"] for d in docs] == ["queued", "sent"]
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "Outcome"]] for d in docs)


def test_a_route_without_labelling_is_never_sampled_and_says_nothing(labelled, post, captured_stdout):
    service, queue = labelled()
    assert post({"task": "faq", "prompt": "hi"}).status_code == 200
    assert service.sampler.flush(5) and queue.bodies == []
    (line,) = request_lines(captured_stdout.readouterr().out)
    assert "label_sample" not in line


def test_without_a_label_queue_sampling_is_off(router_service, post, captured_stdout):
    service = router_service(labelled_config())
    assert not service.sampler.enabled
    assert post({"task": "auto", "prompt": "hi"}).status_code == 200
    out = captured_stdout.readouterr().out
    assert "label_sample" not in request_lines(out)[0] and label_metrics(out) == []


def test_a_dry_run_is_never_sampled(labelled, post):
    service, queue = labelled()
    assert post({"task": "auto", "prompt": "hi", "dry_run": True}).status_code == 200
    assert service.sampler.flush(5) and queue.bodies == [] and service.sampler.sender.counts == {}


def test_an_answer_from_a_model_outside_the_pair_is_not_sampled(labelled, post, fake_bedrock, captured_stdout):
    # Given haiku (the weak model) fails, so a fallback outside the labelled pair answers
    service, queue = labelled()
    fake_bedrock.fail(HAIKU_ID, "ThrottlingException", status=429)
    reply = post({"task": "auto", "prompt": "hi"})
    assert reply.status_code == 200 and reply.headers["x-router-model"] not in ("claude-haiku", "claude-opus")
    assert service.sampler.flush(5) and queue.bodies == []
    (line,) = request_lines(captured_stdout.readouterr().out)
    assert line["label_sample"] == "off_pair"


def test_images_and_tool_calls_are_not_sampled(labelled, post, captured_stdout):
    service, queue = labelled()
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
    image = {
        "task": "auto",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is this?"}, {"type": "image", "format": "png", "data": png}],
            }
        ],
    }
    reply = post(image)
    assert reply.status_code == 200, reply.text
    assert service.sampler.flush(5) and queue.bodies == []
    assert request_lines(captured_stdout.readouterr().out)[0]["label_sample"] in ("unsupported", "off_pair")


def test_a_request_with_tools_served_by_the_pair_is_not_sampled(labelled, post, captured_stdout):
    # Given a plain question on the labelled route, served by the pair's weak model, but offering a tool
    service, queue = labelled()
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look a word up",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    reply = post(
        {"model": "auto", "messages": [{"role": "user", "content": "What is S3?"}], "tools": tools},
        "/v1/chat/completions",
    )
    assert reply.status_code == 200, reply.text
    # Then no sample is sent: a judge compares two texts, and a tool-using exchange is not one
    line = request_lines(captured_stdout.readouterr().out)[0]
    assert line["model"] == "claude-haiku" and line["label_sample"] == "unsupported"
    assert service.sampler.flush(5) and queue.bodies == []


def test_sample_rate_is_a_per_process_seeded_draw():
    # rate 1 always, rate 0 never, and a fraction close to the rate (seeded: the same every run)
    sampler = Sampler(None, seed=11)
    assert all(sampler.draw(1.0) for _ in range(500))
    assert not any(sampler.draw(0.0) for _ in range(500))
    share = sum(sampler.draw(0.25) for _ in range(4000)) / 4000
    assert 0.22 < share < 0.28
    # two processes seeded differently draw differently
    a, b = Sampler(None, seed=1), Sampler(None, seed=2)
    assert [a.draw(0.5) for _ in range(64)] != [b.draw(0.5) for _ in range(64)]


def test_a_low_sample_rate_keeps_that_share_of_requests(labelled, post, captured_stdout):
    service, queue = labelled(config=labelled_config(sample_rate=0.3), seed=3)
    for _ in range(60):
        post({"task": "auto", "prompt": "hi"})
    assert service.sampler.flush(5)
    statuses = [line["label_sample"] for line in request_lines(captured_stdout.readouterr().out)]
    assert set(statuses) == {"queued", "not_drawn"}
    assert len(queue.bodies) == statuses.count("queued") and 8 <= len(queue.bodies) <= 30


# --- too large ------------------------------------------------------------------------------------------


def test_a_prompt_too_large_for_one_message_is_not_sent_and_is_counted(labelled, post, captured_stdout):
    # Given a queue limit of 4 KB and a 5,000-character prompt
    service, queue = labelled(max_bytes=4096)
    assert post({"task": "auto", "prompt": "word " * 1000}).status_code == 200
    assert service.sampler.flush(5)
    out = captured_stdout.readouterr().out
    # Then nothing was sent, the log line says why and the metric counts it
    assert queue.bodies == []
    assert request_lines(out)[0]["label_sample"] == "too_large"
    assert label_metrics(out) == ["too_large"]


def test_a_prompt_over_the_sqs_message_limit_is_not_sampled(labelled, post):
    # Given the real limit (one SQS message, 1 MiB) and a route that accepts 2 MB request bodies
    config = labelled_config()
    config["limits"] = {"max_body_bytes": 2_000_000}
    config["models"]["claude-haiku"]["context_window"] = 1_000_000  # so the weak model can take it
    service, queue = labelled(config=config)
    assert service.sampler.sender.max_bytes == MAX_SAMPLE_BYTES == 1_048_576
    # When a 1.1 MB prompt is answered
    assert post({"task": "auto", "prompt": "x" * 1_100_000}).status_code == 200
    # Then it is counted too large and never sent
    assert service.sampler.flush(5) and queue.bodies == []
    assert service.sampler.sender.counts == {"too_large": 1}


def test_a_message_over_the_limit_only_once_encoded_is_counted_too_large_by_the_sender(labelled, post, captured_stdout):
    # Given 1,500 Japanese characters: under 4,096 characters, but 4,500 bytes of UTF-8
    service, queue = labelled(max_bytes=4096)
    assert post({"task": "auto", "prompt": "難" * 1500}).status_code == 200
    assert service.sampler.flush(5)
    out = captured_stdout.readouterr().out
    assert queue.bodies == [] and label_metrics(out) == ["queued", "too_large"]
    assert service.sampler.sender.counts == {"queued": 1, "too_large": 1}


# --- never in the way of the response ------------------------------------------------------------------


def asgi_post(app, body: dict, order: list) -> None:
    """POST /v1/route through the ASGI interface, recording each response message in `order` as it is sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/route",
        "raw_path": b"/v1/route",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"x-api-key", b"k")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    raw = json.dumps(body).encode()

    async def receive():
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            order.append("response complete")
        elif message["type"] == "http.response.body":
            order.append("response part")

    asyncio.run(app(scope, receive, send))


class OrderedQueue(MemorySampleQueue):
    def __init__(self, order: list):
        super().__init__()
        self.order = order

    def send(self, body: str) -> None:
        self.order.append("sample sent")
        super().send(body)


@pytest.mark.parametrize("stream", [False, True])
def test_the_sample_is_built_and_sent_only_after_the_response_is_complete(router_service, fake_bedrock, stream):
    # Given a labelled route whose every answered request is sampled
    order: list[str] = []
    service = router_service(labelled_config())
    service.sampler = Sampler(SampleSender(OrderedQueue(order)), seed=1)
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("Paris is the capital.", output_tokens=6))
    app = create_app(service, identity="api_key_header")
    # When a request is served (buffered or streamed) through the ASGI interface
    asgi_post(app, {"task": "auto", "prompt": "Capital of France?", "stream": stream}, order)
    assert service.sampler.flush(5)
    # Then the response was complete before the sample was sent
    assert order[-2:] == ["response complete", "sample sent"], order
    sample = json.loads(service.sampler.sender.target.bodies[0])
    assert sample["answer"] == "Paris is the capital."  # a stream's sample holds the whole streamed answer


def test_a_blocked_queue_delays_no_request_and_a_full_one_drops_samples_as_failed(labelled, post, captured_stdout):
    # Given a queue whose send hangs, in front of a sender that holds one waiting sample
    queue = GatedQueue()
    service, _ = labelled(queue=queue, max_pending=1)
    # When three requests are served while the first sample's send hangs
    first = post({"task": "auto", "prompt": "hi"})
    assert queue.entered.wait(5)  # the sender is now stuck in send
    second = post({"task": "auto", "prompt": "hi"})
    third = post({"task": "auto", "prompt": "hi"})
    # Then every request was answered, and the third sample, with no room left, was dropped and counted failed
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    statuses = [line["label_sample"] for line in request_lines(captured_stdout.readouterr().out)]
    assert statuses == ["queued", "queued", "queue_full"]
    assert service.sampler.sender.counts == {"queued": 1, "failed": 1} and service.sampler.sender.pending == 2
    # and once the queue recovers, the waiting samples go out
    queue.gate.set()
    assert service.sampler.flush(5)
    assert len(queue.bodies) == 2 and service.sampler.sender.counts == {"queued": 2, "sent": 2, "failed": 1}


def test_a_failing_queue_fails_no_request(labelled, post, captured_stdout):
    service, _ = labelled(queue=FailingQueue())
    replies = [post({"task": "auto", "prompt": "hi"}) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert service.sampler.flush(5)
    assert service.sampler.sender.counts == {"queued": 3, "failed": 3}
    out = captured_stdout.readouterr().out
    assert [d.get("error") for d in json_lines(out) if d.get("message") == "label sample not sent"] == [
        "ConnectionError: SQS is unreachable"
    ] * 3


def test_flush_waits_for_pending_samples_for_a_bounded_time():
    queue = GatedQueue()
    sender = SampleSender(queue)
    job = SampleJob("r1", lambda: "{}")
    job.release()
    assert sender.submit(job)
    assert queue.entered.wait(5)
    assert sender.flush(0.05) is False and sender.pending == 1  # stuck: flush gives up in time
    queue.gate.set()
    assert sender.flush(5) is True and queue.bodies == ["{}"]


class SignalQueue(MemorySampleQueue):
    """A queue that sets `sent` at each send."""

    def __init__(self):
        super().__init__()
        self.sent = threading.Event()

    def send(self, body: str) -> None:
        super().send(body)
        self.sent.set()


def test_a_sample_never_released_holds_up_no_released_one_behind_it():
    # Given a sender that would wait a minute for a response to report its end
    queue = SignalQueue()
    sender = SampleSender(queue, release_wait_s=60.0)
    # When a sample whose response never finished is handed over, then one whose response did
    stuck = SampleJob("stuck", lambda: '"stuck"')
    done = SampleJob("done", lambda: '"done"')
    assert sender.submit(stuck) and sender.submit(done)
    done.release()
    # Then the released one is sent without waiting for the first, which is still held
    assert queue.sent.wait(5)
    assert queue.bodies == ['"done"'] and sender.pending >= 1
    # and once the first is released, it goes out too
    stuck.release()
    assert sender.flush(5) and queue.bodies == ['"done"', '"stuck"']
    assert sender.counts == {"queued": 2, "sent": 2}


def test_a_sample_never_released_is_dropped_after_its_bound_and_counted_failed(captured_stdout):
    # Given a sender that waits 50 ms for a response to report its end
    queue = MemorySampleQueue()
    sender = SampleSender(queue, release_wait_s=0.05)
    # When a sample is handed over whose response never reports its end
    assert sender.submit(SampleJob("r-never", lambda: "{}"))
    # Then it is dropped, never sent, and counted failed
    assert sender.flush(5)
    assert queue.bodies == [] and sender.counts == {"queued": 1, "failed": 1}
    (line,) = [d for d in json_lines(captured_stdout.readouterr().out) if d.get("message") == "label sample not sent"]
    assert line["request_id"] == "r-never" and line["label_sample"] == "failed"


def test_a_freeze_before_the_release_step_does_not_expire_the_sample():
    # Given a sender whose first wait is cut by a 100 s freeze (Lambda freezes the environment once the response
    # is out, possibly before the response's release step runs; both resume on the next invocation)
    import threading
    import time

    queue = MemorySampleQueue()
    offset = [0.0]
    sender = SampleSender(queue, release_wait_s=5.0, clock=lambda: time.monotonic() + offset[0])
    frozen = threading.Event()
    real_wait = sender._idle.wait

    def wait(timeout=None):
        if timeout is not None and not frozen.is_set():
            offset[0] += 100.0  # the clock ran on while nothing did
            frozen.set()
            return False
        return real_wait(timeout)

    sender._idle.wait = wait  # type: ignore[method-assign]
    job = SampleJob("r-thawed", lambda: '{"v": 1}')
    assert sender.submit(job)
    # When the sender thaws first and the release step runs just after it
    assert frozen.wait(5)
    job.release()
    # Then the sample is sent, not dropped as a response that never ended
    assert sender.flush(10)
    assert queue.bodies == ['{"v": 1}'] and sender.counts == {"queued": 1, "sent": 1}


# --- streams -------------------------------------------------------------------------------------------


def test_a_stream_is_sampled_after_its_last_event_with_its_whole_answer(labelled, post, fake_bedrock, captured_stdout):
    service, queue = labelled()
    fake_bedrock.script(
        HAIKU_ID, fake_bedrock.response("Object storage on AWS, with buckets.", input_tokens=9, output_tokens=8)
    )
    reply = post(
        {"model": "auto", "messages": [{"role": "user", "content": "What is S3?"}], "stream": True},
        "/v1/chat/completions",
    )
    assert reply.status_code == 200 and reply.text.rstrip().endswith("data: [DONE]")
    assert service.sampler.flush(5)
    (body,) = queue.bodies
    sample = json.loads(body)
    assert sample["answer"] == "Object storage on AWS, with buckets."
    assert sample["served_cost_usd"] > 0  # the streamed answer's usage arrived before the sample was built
    assert request_lines(captured_stdout.readouterr().out)[0]["label_sample"] == "queued"


def test_a_stream_that_fails_midway_is_not_sampled(labelled, post, fake_bedrock, captured_stdout):
    service, queue = labelled()
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Half an ans"}}},
        fake_bedrock.error("ModelStreamErrorException", "broken", 424),
    ]
    fake_bedrock.script(HAIKU_ID, events)
    reply = post({"task": "auto", "prompt": "What is S3?", "stream": True})
    assert reply.status_code == 200 and "error" in reply.text
    assert service.sampler.flush(5) and queue.bodies == []
    line = request_lines(captured_stdout.readouterr().out)[0]
    assert "label_sample" not in line


# --- wiring ----------------------------------------------------------------------------------------------


def test_label_queue_url_wires_sqs_send_message(tmp_path, fake_bedrock, web_adapter):
    # Given the router wired from the environment with a label queue, and a real SQS client under Stubber
    config = tmp_path / "routing.json"
    config.write_text(json.dumps(labelled_config()))
    sqs = boto3.client("sqs", region_name="us-east-1")
    stub = Stubber(sqs)
    stub.add_response(
        "send_message", {"MessageId": "m-1", "MD5OfMessageBody": "0" * 32}, {"QueueUrl": QUEUE_URL, "MessageBody": ANY}
    )
    service = wiring.service_from_env(
        env={"AWS_REGION": "us-east-1", "ROUTER_CONFIG_FILE": str(config), "LABEL_QUEUE_URL": QUEUE_URL},
        client_factory=lambda region, timeout_s: fake_bedrock,
        sqs_client=sqs,
    )
    web_adapter.serve(service)
    with stub:
        result = web_adapter.post("/v1/route", {"task": "auto", "prompt": "hi"})
        assert result.status_code == 200
        assert service.sampler.flush(5)
        stub.assert_no_pending_responses()
    assert service.sampler.sender.counts == {"queued": 1, "sent": 1}


def test_the_labeller_sees_the_prompt_as_the_router_scored_it(labelled, post, captured_stdout):
    # Given a sampled multi-paragraph request with the caller's own system text
    from labeller.labelling import features_of
    from routing_engine.scorer import FeatureVector, bundled

    service, queue = labelled()
    prompt = "Fix the typos in this email:\n\n" + "Dear team, the quartely report is attached. " * 20
    post({"task": "auto", "prompt": prompt, "system": "You are a careful editor."})
    assert service.sampler.flush(5)
    # When the labeller computes the sample's feature vector
    vector = FeatureVector.from_json(features_of(json.loads(queue.bodies[0])))
    # Then the route's scorer gives it the complexity the router routed on
    (line,) = request_lines(captured_stdout.readouterr().out)
    assert bundled().score(vector) == pytest.approx(line["features"]["complexity"], abs=5e-5)
