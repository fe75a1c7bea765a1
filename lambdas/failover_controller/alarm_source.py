"""CloudWatch adapter: the current state of the watched alarms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from failover_controller.reconcile import AlarmObservation

_BATCH = 100  # DescribeAlarms accepts at most 100 AlarmNames
# Without AlarmTypes, DescribeAlarms returns metric alarms only; a model's health
# alarm may well be a composite one.
_ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]
_KNOWN_STATES = {"OK", "ALARM", "INSUFFICIENT_DATA"}


class CloudWatchAlarmSource:
    def __init__(self, cloudwatch_client: Any) -> None:
        self._cloudwatch = cloudwatch_client

    def observe(self, alarm_names: Iterable[str]) -> dict[str, AlarmObservation]:
        """Alarm name -> state for every named alarm that exists; missing alarms are left out."""
        names = sorted(set(alarm_names))
        found: dict[str, AlarmObservation] = {}
        paginator = self._cloudwatch.get_paginator("describe_alarms")
        for start in range(0, len(names), _BATCH):
            batch = names[start : start + _BATCH]
            for page in paginator.paginate(AlarmNames=batch, AlarmTypes=_ALARM_TYPES):
                for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    state = alarm.get("StateValue")
                    if state not in _KNOWN_STATES:  # a future state is no evidence either way
                        state = "INSUFFICIENT_DATA"
                    found[alarm["AlarmName"]] = AlarmObservation(
                        name=alarm["AlarmName"], state=state, reason=alarm.get("StateReason", "")
                    )
        return found
