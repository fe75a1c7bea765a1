"""The local server as a developer uses it: a real process, real HTTP, the real OpenAI client.

Models are simulated (LOCAL_LATENCY_SCALE=0: instant); configuration is a temporary copy of
config/routing.json that the tests edit while the server runs.
"""

from __future__ import annotations

import contextlib
import json
import socket

import pytest
from openai import BadRequestError, OpenAI

from local.http_limits import MAX_HEAD_BYTES

pytestmark = pytest.mark.e2e

RELOAD_BOUND_S = 5  # the server re-checks its file every 0.5 s


def edit_config(server, change) -> None:
    config = json.loads(server.config_path.read_text())
    change(config)
    server.config_path.write_text(json.dumps(config, indent=2))


def test_route_returns_a_simulated_answer(local_server):
    # When a caller asks the faq task over HTTP
    reply = local_server.request("POST", "/v1/route", {"task": "faq", "prompt": "What are your opening hours?"})
    # Then a simulated model answers, and says so
    assert reply.status == 200
    assert reply.body["backend"] == "simulated"
    assert "[SIMULATED]" in reply.body["output"]["content"]
    assert "simulated answer" in reply.body["output"]["content"]
    assert reply.body["routing"]["route"] == "faq"
    assert reply.body["routing"]["model"] == "claude-haiku"
    assert reply.body["usage"]["output_tokens"] > 0
    assert reply.headers["x-router-backend"] == "simulated"


def test_a_bad_request_is_a_json_4xx_over_http(local_server):
    # When the body breaks the schema
    reply = local_server.request("POST", "/v1/route", {"prompt": "hi", "max_tokens": -1})
    # Then the error arrives as JSON with its code
    assert reply.status == 400
    assert reply.body["error"]["code"] == "invalid_request"


def test_the_openai_client_gets_a_completion_and_lists_models(local_server):
    # Given the official OpenAI client pointed at the local server
    client = OpenAI(base_url=f"{local_server.base_url}/v1", api_key="local-test-key", max_retries=0, timeout=20)
    # When it asks for a completion from the faq route
    completion = client.chat.completions.create(
        model="faq", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]
    )
    # Then it parses an answer from the simulated backend
    assert completion.object == "chat.completion"
    assert "[SIMULATED]" in completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    # And listing models shows the routes, the alias and the model keys of the config
    config = json.loads(local_server.config_path.read_text())
    ids = {model.id for model in client.models.list()}
    assert ids == set(config["routes"]) | set(config.get("aliases", {})) | set(config["models"])


def test_the_openai_client_sees_an_unsupported_request_as_a_400(local_server):
    # Given the official OpenAI client
    client = OpenAI(base_url=f"{local_server.base_url}/v1", api_key="local-test-key", max_retries=0, timeout=20)
    # When it asks for more than one choice, which the router does not offer
    # Then it raises BadRequestError carrying the router's error code, type and parameter
    with pytest.raises(BadRequestError) as caught:
        client.chat.completions.create(model="faq", n=2, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 400
    assert (caught.value.code, caught.value.type, caught.value.param) == (
        "invalid_request",
        "invalid_request_error",
        "n",
    )


def test_a_config_edit_is_picked_up_and_an_invalid_one_is_rejected(local_server, poll):
    server = local_server
    before = server.request("GET", "/v1/health").body["config_version"]

    def faq_model():
        return server.request("POST", "/v1/route", {"task": "faq", "prompt": "hi"}).body["routing"]["model"]

    assert faq_model() == "claude-haiku"
    # When faq is pointed at claude-sonnet in the file the server runs from
    edit_config(server, lambda c: c["routes"]["faq"].update(model="claude-sonnet"))
    # Then the running server serves faq from claude-sonnet shortly after, under a new config version
    assert poll(lambda: faq_model() == "claude-sonnet", timeout_s=RELOAD_BOUND_S)
    edited = server.request("GET", "/v1/health").body["config_version"]
    assert edited != before

    # When the file is then saved with faq pointing at a model that does not exist
    edit_config(server, lambda c: c["routes"]["faq"].update(model="claude-ultra"))

    def rejection_logged():
        server.request("GET", "/v1/health")  # each request reads the configuration
        return [line for line in server.logs() if line.get("message") == "configuration rejected"]

    rejected = poll(rejection_logged, timeout_s=RELOAD_BOUND_S)
    # Then the server reports the rejection, naming the field, and keeps serving the last good config
    assert rejected, "the invalid edit was never reported"
    assert "routes.faq.model" in rejected[0]["detail"]
    assert faq_model() == "claude-sonnet"
    assert server.request("GET", "/v1/health").body["config_version"] == edited


def test_an_injected_throttle_makes_faq_answer_from_a_fallback(start_local_server):
    # Given a server whose simulated haiku always throttles
    server = start_local_server(faults="claude-haiku=ThrottlingException:1.0")
    # When faq is asked
    reply = server.request("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then a fallback answers and the attempts show haiku's throttle
    assert reply.status == 200
    routing = reply.body["routing"]
    assert routing["route"] == "faq"
    assert routing["model"] != "claude-haiku"
    assert routing["fallback"] is True
    assert routing["attempts"][0] == {
        **routing["attempts"][0],
        "model": "claude-haiku",
        "outcome": "error",
        "error": "ThrottlingException",
    }
    assert routing["attempts"][-1]["outcome"] == "ok"
    assert "[SIMULATED]" in reply.body["output"]["content"]


@pytest.mark.parametrize("faults", ["claude-haiku=Kaboom", "claude-haiku", "claude-haiku=ThrottlingException:2"])
def test_a_bad_local_faults_value_stops_the_server_with_one_line(run_local_server_to_exit, faults):
    # When the server is started with an unusable LOCAL_FAULTS
    ended = run_local_server_to_exit(faults=faults)
    # Then it exits with code 2 and one line that names the bad entry, not a traceback
    assert ended.returncode == 2
    lines = [line for line in ended.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, ended.stderr
    assert lines[0].startswith("model-router: cannot start:")
    assert "LOCAL_FAULTS" in lines[0] and faults in lines[0]
    assert "Traceback" not in ended.stderr


def test_a_taken_port_stops_the_server_with_one_line(run_local_server_to_exit):
    # Given another process listens on the port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When the server is started on it
        ended = run_local_server_to_exit(port=port)
    # Then it exits with code 2 and one line naming the address, not a traceback
    assert ended.returncode == 2
    lines = [line for line in ended.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith(f"model-router: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in ended.stderr


def raw_exchange(server, head: bytes) -> bytes:
    """Send `head` over a plain socket and read until the server closes (or 10 s pass)."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head)
        received = b""
        with contextlib.suppress(TimeoutError):
            while chunk := conn.recv(65_536):
                received += chunk
                if b"\r\n\r\n" in received and b'"request_id"' in received:
                    break
    return received


def test_a_huge_header_is_refused_as_it_arrives(local_server):
    # Given a request head that is still arriving, already past 16 KiB (API Gateway takes 10,240 bytes of it)
    head = b"POST /v1/route HTTP/1.1\r\nHost: local\r\nX-Padding: " + b"a" * (MAX_HEAD_BYTES + 1024)
    # When it is sent, unfinished
    received = raw_exchange(local_server, head)
    # Then the server answers 431 at once, in the router's error shape, without waiting for the rest
    assert received.startswith(b"HTTP/1.1 431 "), received[:200]
    body = json.loads(received.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "headers_too_large" and body["request_id"]


def test_a_huge_declared_body_is_refused_before_it_is_sent(local_server):
    # Given a request that announces 200 MB and sends none of it
    head = (
        b"POST /v1/route HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
    )
    received = raw_exchange(local_server, head)
    # Then the 413 comes without the body being read, with the request's id
    assert received.startswith(b"HTTP/1.1 413 "), received[:200]
    body = json.loads(received.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "body_too_large" and "200000000" in body["error"]["message"]
    assert body["request_id"] != "unknown"


def test_a_large_body_under_the_limit_still_arrives_whole(local_server):
    # A body much larger than the head limit (it arrives in the same reads as the head) is not taken for a head
    reply = local_server.request("POST", "/v1/route", {"task": "faq", "prompt": "owls " * 40_000, "dry_run": True})
    assert reply.status == 200
