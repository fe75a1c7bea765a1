"""The reconcile rules, as an operator would state them. Pure: no AWS, no fakes."""

from __future__ import annotations

from failover_controller.reconcile import CONTROLLER, AlarmObservation, alarm_reason, plan
from routing_engine.config import FailoverFlags, ModelFlag

NOW = "2025-06-01T12:00:00Z"
EARLIER = "2025-06-01T11:00:00Z"
MODEL_ALARMS = {"claude-errors": "claude", "claude-latency": "claude", "nova-errors": "nova"}


def ok(name: str) -> AlarmObservation:
    return AlarmObservation(
        name, "OK", "Threshold Crossed: 1 datapoint [0.0] was not greater than the threshold (5.0)."
    )


def alarm(
    name: str, reason: str = "Threshold Crossed: 3 datapoints [12.0, 9.0, 8.0] were greater than 5.0."
) -> AlarmObservation:
    return AlarmObservation(name, "ALARM", reason)


def no_data(name: str) -> AlarmObservation:
    return AlarmObservation(name, "INSUFFICIENT_DATA", "Insufficient Data: 1 datapoint was unknown.")


def observed(*observations: AlarmObservation) -> dict[str, AlarmObservation]:
    return {o.name: o for o in observations}


def flags(**models: ModelFlag) -> FailoverFlags:
    return FailoverFlags(models=models)


def alarm_down(*alarms: AlarmObservation, at: str = EARLIER) -> ModelFlag:
    return ModelFlag(state="down", source="alarm", reason=alarm_reason(list(alarms)), set_by=CONTROLLER, updated_at=at)


def manual(state: str) -> ModelFlag:
    return ModelFlag(
        state=state, source="manual", reason="provider incident INC-42", set_by="alice", updated_at=EARLIER
    )


def test_an_alarm_in_alarm_takes_its_model_down_naming_the_alarm_and_why():
    # Given claude's error alarm fires, When reconciled
    result = plan(flags(), MODEL_ALARMS, observed(alarm("claude-errors"), ok("claude-latency"), ok("nova-errors")), NOW)

    # Then claude is down, owned by the controller, and the reason says which alarm and why
    flag = result.desired.models["claude"]
    assert (flag.state, flag.source, flag.set_by, flag.updated_at) == ("down", "alarm", "failover-controller", NOW)
    assert "claude-errors" in flag.reason and "Threshold Crossed" in flag.reason
    assert "claude-latency" not in flag.reason
    assert result.desired.down_models() == {"claude"}
    assert result.changes.set_down == ("claude",)


def test_a_long_state_reason_is_truncated_to_fit_the_flag():
    result = plan(flags(), MODEL_ALARMS, observed(alarm("nova-errors", "x" * 5000)), NOW)

    reason = result.desired.models["nova"].reason
    assert len(reason) <= 1000 and reason.startswith('alarms in ALARM: ["nova-errors"]')


def test_all_alarms_ok_clears_the_alarm_flag():
    current = flags(claude=alarm_down(alarm("claude-errors")))

    result = plan(current, MODEL_ALARMS, observed(ok("claude-errors"), ok("claude-latency"), ok("nova-errors")), NOW)

    assert "claude" not in result.desired.models
    assert result.changes.cleared == ("claude",)


def test_one_alarm_back_to_ok_while_another_fires_keeps_the_model_down():
    current = flags(claude=alarm_down(alarm("claude-errors")))

    result = plan(current, MODEL_ALARMS, observed(ok("claude-errors"), alarm("claude-latency"), ok("nova-errors")), NOW)

    flag = result.desired.models["claude"]
    assert flag.state == "down" and "claude-latency" in flag.reason and "claude-errors" not in flag.reason
    assert result.changes.updated == ("claude",)


def test_insufficient_data_keeps_the_current_alarm_flag():
    current = flags(claude=alarm_down(alarm("claude-errors")))

    result = plan(
        current, MODEL_ALARMS, observed(no_data("claude-errors"), ok("claude-latency"), ok("nova-errors")), NOW
    )

    assert result.desired == current
    assert not result.changes
    assert result.undecided == ("claude",)


def test_insufficient_data_does_not_take_a_healthy_model_down():
    result = plan(
        flags(), MODEL_ALARMS, observed(no_data("claude-errors"), no_data("claude-latency"), ok("nova-errors")), NOW
    )

    assert result.desired == flags()


def test_an_alarm_that_no_longer_exists_is_no_evidence_either_way():
    current = flags(nova=alarm_down(alarm("nova-errors")))

    result = plan(current, MODEL_ALARMS, observed(ok("claude-errors"), ok("claude-latency")), NOW)

    assert result.desired == current


def test_a_manual_force_down_is_never_overwritten_or_cleared():
    current = flags(claude=manual("down"))

    for states in (
        observed(ok("claude-errors"), ok("claude-latency")),
        observed(alarm("claude-errors"), ok("claude-latency")),
        observed(no_data("claude-errors"), no_data("claude-latency")),
    ):
        assert plan(current, MODEL_ALARMS, states, NOW).desired.models["claude"] == manual("down")


def test_a_manual_force_up_wins_over_a_firing_alarm():
    current = flags(nova=manual("up"))

    result = plan(current, MODEL_ALARMS, observed(alarm("nova-errors")), NOW)

    assert result.desired.models["nova"] == manual("up")
    assert "nova" not in result.desired.down_models()
    assert not result.changes


def test_an_alarm_flag_of_a_model_with_no_alarms_left_is_retired():
    # Given old-model left the catalog: the stack deleted its alarms, so none will ever clear its flag
    current = flags(**{"old-model": alarm_down(alarm("old-model-errors"))})

    result = plan(current, MODEL_ALARMS, observed(ok("claude-errors"), ok("claude-latency"), ok("nova-errors")), NOW)

    assert "old-model" not in result.desired.models
    assert result.changes.retired == ("old-model",)
    assert "retired old-model" in result.changes.summary()


def test_a_manual_flag_of_a_model_with_no_alarms_is_never_retired():
    current = flags(llama=manual("down"), mistral=manual("up"))

    result = plan(current, MODEL_ALARMS, observed(ok("claude-errors"), ok("claude-latency"), ok("nova-errors")), NOW)

    assert result.desired == current
    assert not result.changes


def test_nothing_is_retired_when_no_per_model_alarm_was_found():
    # An empty discovery is a broken prefix or a stack being deleted, not an empty catalog.
    current = flags(claude=alarm_down(alarm("claude-errors")))

    result = plan(current, {}, {}, NOW)

    assert result.desired == current
    assert not result.changes


def test_a_model_already_down_for_the_same_alarms_keeps_its_reason_and_time():
    # Given claude went down an hour ago for claude-errors
    current = flags(claude=alarm_down(alarm("claude-errors", "Threshold Crossed: [12.0]"), at=EARLIER))

    # When the alarm is still firing, with a fresh state reason
    result = plan(
        current, MODEL_ALARMS, observed(alarm("claude-errors", "Threshold Crossed: [30.0]"), ok("claude-latency")), NOW
    )

    # Then nothing changes, so nothing would be written
    assert result.desired == current
    assert not result.changes
    assert result.desired.models["claude"].updated_at == EARLIER


def test_reconcile_is_idempotent():
    states = observed(alarm("claude-errors"), no_data("claude-latency"), ok("nova-errors"))
    first = plan(flags(nova=alarm_down(alarm("nova-errors")), llama=manual("down")), MODEL_ALARMS, states, EARLIER)

    second = plan(first.desired, MODEL_ALARMS, states, NOW)

    assert first.changes  # the first pass had work to do
    assert second.desired == first.desired
    assert not second.changes


def test_an_alarm_flag_written_by_someone_else_is_replaced_not_trusted():
    # A hand-written source=alarm flag is the controller's to manage.
    current = flags(claude=ModelFlag(state="up", source="alarm", reason="typed by hand", set_by="bob"))

    result = plan(current, MODEL_ALARMS, observed(alarm("claude-errors"), ok("claude-latency")), NOW)

    assert result.desired.models["claude"].state == "down"
    assert result.desired.models["claude"].set_by == "failover-controller"
    assert result.changes.set_down == ("claude",)


# --- alarm names: the stack builds them, the controller reads the model back -------------------


def test_every_alarm_name_the_stack_builds_reads_back_to_its_model():
    from hypothesis import given
    from hypothesis import strategies as st

    from failover_controller.alarm_names import MODEL_ALARM_KINDS, model_alarm_name, model_of_alarm

    keys = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,40}\Z")

    @given(key=keys, kind=st.sampled_from(MODEL_ALARM_KINDS))
    def round_trip(key, kind):
        assert model_of_alarm("model-router-dev-model-", model_alarm_name("model-router-dev-model-", key, kind)) == key

    round_trip()
    # Model keys that end like a kind are still split on the real kind.
    assert model_of_alarm("p-", "p-nova-error-rate-throttle-rate") == "nova-error-rate"
    assert model_of_alarm("p-", "p-claude-custom") is None
    assert model_of_alarm("p-", "q-claude-error-rate") is None
