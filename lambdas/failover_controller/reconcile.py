"""Pure reconcile rules: the flags the alarms imply, given the flags there are now.

No AWS imports. `model_alarms` maps each watched alarm to its model: the per-model alarms the
controller found under its prefix (`alarm_names.model_of_alarm`). Rules, per model:

* a `manual` flag is never changed or removed, whatever its alarms say (or if it has none);
* any of its alarms in ALARM -> a `down` flag with `source: alarm`;
* all of its alarms OK -> no alarm flag (an existing one is removed);
* otherwise (INSUFFICIENT_DATA, or an alarm that no longer exists) -> the current
  alarm flag, or its absence, stays as it is: missing data is not evidence;
* an alarm flag (`source: alarm`) of a model with no alarm at all is retired: the model left
  the catalog (the stack deleted its alarms), so no alarm will ever clear the flag. Only when
  at least one per-model alarm was found: an empty discovery means a broken prefix or a stack
  being deleted, not a catalog without models, and retiring every flag then would be wrong.

An alarm flag that is already down for the same alarms keeps its reason and time, so a
reconcile with nothing new to say produces flags equal to the current ones and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from routing_engine.config import FailoverFlags, ModelFlag

CONTROLLER = "failover-controller"
AlarmStateValue = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]

_REASON_MAX = 1000  # ModelFlag.reason max_length
_STATE_REASON_MAX = 200  # per alarm, so several alarms fit in one reason


@dataclass(frozen=True)
class AlarmObservation:
    name: str
    state: AlarmStateValue
    reason: str = ""


@dataclass(frozen=True)
class Changes:
    set_down: tuple[str, ...] = ()  # models newly taken down by an alarm
    updated: tuple[str, ...] = ()  # alarm flags whose firing alarms changed
    cleared: tuple[str, ...] = ()  # alarm flags removed because the alarms are OK
    retired: tuple[str, ...] = ()  # alarm flags removed because the model has no alarms left (left the catalog)

    def __bool__(self) -> bool:
        return bool(self.set_down or self.updated or self.cleared or self.retired)

    def summary(self) -> str:
        parts = [
            f"{label} {', '.join(models)}"
            for label, models in (
                ("down", self.set_down),
                ("updated", self.updated),
                ("cleared", self.cleared),
                ("retired", self.retired),
            )
            if models
        ]
        return "; ".join(parts) or "no change"


@dataclass(frozen=True)
class Plan:
    desired: FailoverFlags
    changes: Changes
    undecided: tuple[str, ...] = field(default=())  # models left as they were for lack of data


def alarm_prefix(firing: list[str]) -> str:
    """The start of an alarm flag's reason: which alarms fired, in a form that is prefix-free.

    A JSON list ends with `]`, so the prefix of one set of alarms never starts another's.
    """
    return "alarms in ALARM: " + json.dumps(sorted(firing))


def alarm_reason(firing: list[AlarmObservation]) -> str:
    details = "; ".join(f"{a.name}: {_truncate(a.reason, _STATE_REASON_MAX)}" for a in sorted(firing, key=_name))
    return _truncate(f"{alarm_prefix([a.name for a in firing])} - {details}", _REASON_MAX)


def plan(
    current: FailoverFlags,
    model_alarms: Mapping[str, str],
    observations: Mapping[str, AlarmObservation],
    now: str,
) -> Plan:
    """Desired flags and what differs from `current`.

    `model_alarms` maps alarm name -> model key; `observations` maps alarm name -> its
    state (an alarm missing from it is treated as having no data); `now` is ISO 8601 UTC.
    """
    alarms_by_model: dict[str, list[str]] = {}
    for alarm, model in model_alarms.items():
        alarms_by_model.setdefault(model, []).append(alarm)

    flags = dict(current.models)
    set_down: list[str] = []
    updated: list[str] = []
    cleared: list[str] = []
    undecided: list[str] = []
    for model in sorted(alarms_by_model):
        existing = flags.get(model)
        if existing is not None and existing.source == "manual":
            continue
        seen = [observations.get(name) for name in alarms_by_model[model]]
        firing = [o for o in seen if o is not None and o.state == "ALARM"]
        if firing:
            if _down_for(existing, firing):
                continue
            flags[model] = ModelFlag(
                state="down", source="alarm", reason=alarm_reason(firing), set_by=CONTROLLER, updated_at=now
            )
            (set_down if existing is None or existing.state != "down" else updated).append(model)
        elif all(o is not None and o.state == "OK" for o in seen):
            if existing is not None:
                del flags[model]
                cleared.append(model)
        else:
            undecided.append(model)

    retired = []
    if alarms_by_model:
        for model in sorted(set(flags) - set(alarms_by_model)):
            if flags[model].source == "alarm":
                del flags[model]
                retired.append(model)

    return Plan(
        desired=FailoverFlags(models=flags),
        changes=Changes(tuple(set_down), tuple(updated), tuple(cleared), tuple(retired)),
        undecided=tuple(undecided),
    )


def _down_for(flag: ModelFlag | None, firing: list[AlarmObservation]) -> bool:
    if flag is None or flag.state != "down" or flag.set_by != CONTROLLER:
        return False
    # Compare only what survives truncation: a reason is cut to 997 characters plus "...".
    prefix = " ".join(alarm_prefix([a.name for a in firing]).split())
    cut = min(len(prefix), _REASON_MAX - 3)
    return flag.reason[:cut] == prefix[:cut]


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name(observation: AlarmObservation) -> str:
    return observation.name
