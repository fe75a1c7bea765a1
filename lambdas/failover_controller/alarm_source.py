"""CloudWatch adapter: the current state of every alarm whose name starts with a prefix."""

from __future__ import annotations

from typing import Any

from failover_controller.reconcile import AlarmObservation

# Without AlarmTypes, DescribeAlarms returns metric alarms only; a model's health
# alarm may well be a composite one.
_ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]
_KNOWN_STATES = {"OK", "ALARM", "INSUFFICIENT_DATA"}
_PAGE_SIZE = 100  # DescribeAlarms' MaxRecords maximum


class CloudWatchAlarmSource:
    def __init__(self, cloudwatch_client: Any) -> None:
        self._cloudwatch = cloudwatch_client

    def discover(self, prefix: str) -> dict[str, AlarmObservation]:
        """Alarm name -> state for every alarm named `<prefix>...`, read across all pages.

        One prefix query instead of a list of names: the set of watched alarms follows the
        catalog the stack deployed, with nothing in the environment that grows with it.
        """
        found: dict[str, AlarmObservation] = {}
        paginator = self._cloudwatch.get_paginator("describe_alarms")
        pages = paginator.paginate(
            AlarmNamePrefix=prefix, AlarmTypes=_ALARM_TYPES, PaginationConfig={"PageSize": _PAGE_SIZE}
        )
        for page in pages:
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                state = alarm.get("StateValue")
                if state not in _KNOWN_STATES:  # a future state is no evidence either way
                    state = "INSUFFICIENT_DATA"
                found[alarm["AlarmName"]] = AlarmObservation(
                    name=alarm["AlarmName"], state=state, reason=alarm.get("StateReason", "")
                )
        return found
