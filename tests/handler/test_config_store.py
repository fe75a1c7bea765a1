"""Configuration that changes under a running router: AppConfig (through Powertools) and local files.

AppConfig is a real `appconfigdata` client wrapped in botocore's Stubber (moto has no appconfigdata),
so the session/poll calls and the `Configuration` streaming body are checked against the service model.
"""

from __future__ import annotations

import copy
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from router.adapters.config_store import ConfigUnavailable, LastGoodStore, appconfig_fetcher, file_fetcher
from router.wiring import build_engine
from routing_engine.config import content_version

APP, ENV, PROFILE = "model-router", "prod", "routing"


def encode(config: dict) -> bytes:
    return json.dumps(config).encode()


def with_faq_on(config: dict, model: str) -> dict:
    edited = copy.deepcopy(config)
    edited["routes"]["faq"]["model"] = model
    return edited


def session_response(token: str = "token-1") -> dict:
    return {"InitialConfigurationToken": token}


def configuration_response(raw: bytes, next_token: str) -> dict:
    return {
        "NextPollConfigurationToken": next_token,
        "NextPollIntervalInSeconds": 45,
        "ContentType": "application/json",
        "VersionLabel": "v1",
        "Configuration": StreamingBody(io.BytesIO(raw), len(raw)),
    }


SESSION_PARAMS = {"ApplicationIdentifier": APP, "EnvironmentIdentifier": ENV, "ConfigurationProfileIdentifier": PROFILE}


@pytest.fixture
def appconfig():
    client = boto3.client("appconfigdata", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def events():
    return []


def appconfig_store(client, events, *, max_age_s: int = 0, fallback: bytes | None = None) -> LastGoodStore:
    fetch = appconfig_fetcher(
        application=APP, environment=ENV, profile=PROFILE, max_age_s=max_age_s, client_factory=lambda: client
    )
    return LastGoodStore(
        "routing", fetch, build_engine(), source="appconfig", fallback=fallback, on_event=events.append
    )


# --- AppConfig -----------------------------------------------------------------------------------------


def test_the_deployed_appconfig_document_is_served(appconfig, events, routing_config):
    client, stubber = appconfig
    # Given AppConfig holds a valid routing document
    raw = encode(routing_config)
    stubber.add_response("start_configuration_session", session_response(), SESSION_PARAMS)
    stubber.add_response(
        "get_latest_configuration", configuration_response(raw, "token-2"), {"ConfigurationToken": "token-1"}
    )
    store = appconfig_store(client, events)
    # When the router reads its configuration
    snap = store.get()
    # Then it serves that document, versioned by its content
    assert snap.source == "appconfig"
    assert snap.version == content_version(raw)
    assert snap.value.config.routes["faq"].model == "claude-haiku"
    assert [(e.kind, e.version) for e in events] == [("updated", content_version(raw))]


def test_within_max_age_appconfig_is_not_polled_again(appconfig, events, routing_config):
    client, stubber = appconfig
    # Given a document fetched with a 45 s cache
    raw = encode(routing_config)
    stubber.add_response("start_configuration_session", session_response(), SESSION_PARAMS)
    stubber.add_response(
        "get_latest_configuration", configuration_response(raw, "token-2"), {"ConfigurationToken": "token-1"}
    )
    store = appconfig_store(client, events, max_age_s=45)
    first = store.get()
    # When the next request reads the configuration (the Stubber would fail on any further call)
    second = store.get()
    # Then the cached document serves it, with no failed (unexpected) call reported
    assert second.version == first.version
    assert [e.kind for e in events] == ["updated"]


def test_an_invalid_new_document_is_rejected_and_the_last_good_one_keeps_serving(appconfig, events, routing_config):
    client, stubber = appconfig
    # Given a good document is being served
    good = encode(routing_config)
    bad = encode(with_faq_on(routing_config, "claude-ultra"))
    stubber.add_response("start_configuration_session", session_response(), SESSION_PARAMS)
    stubber.add_response(
        "get_latest_configuration", configuration_response(good, "token-2"), {"ConfigurationToken": "token-1"}
    )
    stubber.add_response(
        "get_latest_configuration", configuration_response(bad, "token-3"), {"ConfigurationToken": "token-2"}
    )
    store = appconfig_store(client, events)
    served = store.get()
    # When AppConfig next returns a document whose faq route names an unknown model
    after = store.get()
    # Then the good one is still served and the rejection names the field
    assert after.version == served.version == content_version(good)
    assert after.value.config.routes["faq"].model == "claude-haiku"
    rejected = [e for e in events if e.kind == "rejected"]
    assert len(rejected) == 1
    assert "routes.faq.model" in rejected[0].message and "claude-ultra" in rejected[0].message
    assert rejected[0].version == content_version(bad)


def test_an_appconfig_failure_at_cold_start_serves_the_bundled_fallback_then_recovers(
    appconfig, events, routing_config
):
    client, stubber = appconfig
    # Given AppConfig is failing when the function starts, and a bundled copy ships with it
    bundled = encode(with_faq_on(routing_config, "nova-pro"))
    deployed = encode(routing_config)
    stubber.add_client_error(
        "start_configuration_session",
        service_error_code="InternalServerException",
        service_message="try again",
        http_status_code=500,
    )
    store = appconfig_store(client, events, fallback=bundled)
    # When the first request reads the configuration
    first = store.get()
    # Then the bundled copy serves it and the failure is reported
    assert first.source == "bundled"
    assert first.value.config.routes["faq"].model == "nova-pro"
    assert [e.kind for e in events] == ["fetch_failed"]
    assert "try again" in events[0].message
    # And when AppConfig is back, a new session is started and the deployed document replaces the bundled one
    stubber.add_response("start_configuration_session", session_response("token-9"), SESSION_PARAMS)
    stubber.add_response(
        "get_latest_configuration", configuration_response(deployed, "token-10"), {"ConfigurationToken": "token-9"}
    )
    recovered = store.get()
    assert recovered.source == "appconfig"
    assert recovered.value.config.routes["faq"].model == "claude-haiku"


def test_a_failing_appconfig_is_not_asked_on_every_request_but_again_after_a_backoff(appconfig, events, routing_config):
    client, stubber = appconfig
    # Given AppConfig fails once at cold start (a 45 s cache age), a bundled copy ships, and a clock we move
    now = [1000.0]
    fetch = appconfig_fetcher(
        application=APP,
        environment=ENV,
        profile=PROFILE,
        max_age_s=45,
        client_factory=lambda: client,
        clock=lambda: now[0],
    )
    store = LastGoodStore(
        "routing", fetch, build_engine(), source="appconfig", fallback=encode(routing_config), on_event=events.append
    )
    stubber.add_client_error(
        "start_configuration_session", service_error_code="InternalServerException", http_status_code=500
    )
    assert store.get().source == "bundled"
    # When more requests arrive within the next second (the Stubber fails any call it was not given)
    later = [store.get() for _ in range(5)]
    # Then they are served from the bundled copy without asking AppConfig, and the failure was reported once
    assert [s.source for s in later] == ["bundled"] * 5
    assert [e.kind for e in events] == ["fetch_failed"]
    stubber.assert_no_pending_responses()
    # And once the back-off has passed, AppConfig is asked again and its document served
    now[0] += 1.01
    stubber.add_response("start_configuration_session", session_response("token-9"), SESSION_PARAMS)
    stubber.add_response(
        "get_latest_configuration",
        configuration_response(encode(routing_config), "token-10"),
        {"ConfigurationToken": "token-9"},
    )
    assert store.get().source == "appconfig"


def test_an_empty_configuration_means_no_change(appconfig, events, routing_config):
    client, stubber = appconfig
    # Given a document is being served
    raw = encode(routing_config)
    stubber.add_response("start_configuration_session", session_response(), SESSION_PARAMS)
    stubber.add_response(
        "get_latest_configuration", configuration_response(raw, "token-2"), {"ConfigurationToken": "token-1"}
    )
    # and AppConfig then answers polls with an empty Configuration (its "nothing changed"), each with a new token
    stubber.add_response(
        "get_latest_configuration", configuration_response(b"", "token-3"), {"ConfigurationToken": "token-2"}
    )
    stubber.add_response(
        "get_latest_configuration", configuration_response(b"", "token-4"), {"ConfigurationToken": "token-3"}
    )
    store = appconfig_store(client, events)
    served = store.get()
    # When the router polls twice more
    polled = [store.get(), store.get()]
    # Then the same configuration keeps serving, without re-validation or a second "updated" report
    assert [s.version for s in polled] == [served.version, served.version]
    assert all(s.value is served.value for s in polled)
    assert [e.kind for e in events] == ["updated"]


def test_without_appconfig_or_a_bundled_copy_the_store_raises_config_unavailable(appconfig, events):
    client, stubber = appconfig
    # Given AppConfig is down at cold start and there is no bundled copy
    stubber.add_client_error(
        "start_configuration_session", service_error_code="InternalServerException", http_status_code=500
    )
    store = appconfig_store(client, events)
    # When the first request reads the configuration
    # Then there is nothing to serve, and the caller is told so (the API turns this into a 503)
    with pytest.raises(ConfigUnavailable):
        store.get()
    assert [e.kind for e in events] == ["fetch_failed"]


def test_a_router_with_no_configuration_answers_a_json_503(router_service, tmp_path, web_adapter):
    # Given the router's only configuration file is invalid (no fallback locally)
    path = tmp_path / "routing.json"
    path.write_text("{ not json")
    router_service(path)
    # When a request arrives
    result = web_adapter.request("POST", "/v1/route", {"prompt": "hi"})
    # Then the caller gets a JSON 503 saying so, not a stack trace
    assert result.status_code == 503
    body = result.json()
    assert body["error"]["code"] == "config_unavailable"
    assert "routing" in body["error"]["message"]


# --- local files -------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_changed_file_is_picked_up_after_the_check_interval(tmp_path, events, routing_config):
    # Given a store over a file, checked at most every 0.5 s
    path = tmp_path / "routing.json"
    path.write_bytes(encode(routing_config))
    clock = FakeClock()
    store = LastGoodStore(
        "routing", file_fetcher(str(path), clock=clock), build_engine(), source="file", on_event=events.append
    )
    assert store.get().value.config.routes["faq"].model == "claude-haiku"
    # When faq is pointed at claude-sonnet
    path.write_bytes(encode(with_faq_on(routing_config, "claude-sonnet")))
    # Then it is not re-read within the interval, and served once the interval has passed
    clock.now += 0.1
    assert store.get().value.config.routes["faq"].model == "claude-haiku"
    clock.now += 0.5
    snap = store.get()
    assert snap.value.config.routes["faq"].model == "claude-sonnet"
    assert snap.source == "file"
    assert [e.kind for e in events] == ["updated", "updated"]


def test_an_invalid_file_edit_is_kept_out_until_it_is_fixed(tmp_path, events, routing_config):
    # Given a store serving a good file
    path = tmp_path / "routing.json"
    path.write_bytes(encode(routing_config))
    clock = FakeClock()
    store = LastGoodStore(
        "routing", file_fetcher(str(path), clock=clock), build_engine(), source="file", on_event=events.append
    )
    good = store.get()
    # When the file is saved half-edited (invalid JSON), and read twice
    path.write_text(json.dumps(routing_config)[:-20])
    clock.now += 1
    first = store.get()
    clock.now += 1
    second = store.get()
    # Then the good configuration keeps serving and the rejection is reported once
    assert first.version == second.version == good.version
    assert [e.kind for e in events] == ["updated", "rejected"]
    assert "not valid JSON" in events[1].message
    # And once the edit is finished, the new configuration is served
    path.write_bytes(encode(with_faq_on(routing_config, "nova-pro")))
    clock.now += 1
    assert store.get().value.config.routes["faq"].model == "nova-pro"


def test_a_deleted_file_keeps_the_last_good_configuration(tmp_path, events, routing_config):
    # Given a store serving a file
    path = tmp_path / "routing.json"
    path.write_bytes(encode(routing_config))
    clock = FakeClock()
    store = LastGoodStore(
        "routing", file_fetcher(str(path), clock=clock), build_engine(), source="file", on_event=events.append
    )
    good = store.get()
    # When the file disappears (an editor's save-by-rename, say)
    path.unlink()
    clock.now += 1
    # Then the last good configuration serves and the failed read is reported
    assert store.get().version == good.version
    assert events[-1].kind == "fetch_failed"


def test_any_failure_building_a_new_document_keeps_the_last_good_one():
    from router.adapters.config_store import LastGoodStore

    documents = [b'{"n": 1}', b'{"n": 2}']
    events = []

    def build(raw, _version):
        if raw == b'{"n": 2}':
            raise RuntimeError("cannot build this one")
        return raw

    store = LastGoodStore("t", lambda: documents[0], build, source="test", on_event=events.append)
    assert store.get().value == b'{"n": 1}'
    documents.pop(0)
    assert store.get().value == b'{"n": 1}'
    assert [(e.kind, e.message) for e in events][-1] == ("rejected", "RuntimeError: cannot build this one")
