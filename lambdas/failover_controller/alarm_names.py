"""Per-model alarm names: `<prefix><model key>-<kind>`, built by the stack and read back by the controller.

The stack (`stacks.constructs.alarms`) names every per-model alarm with `model_alarm_name`; the
controller discovers them with one DescribeAlarms call on the prefix and recovers each alarm's
model with `model_of_alarm`. Nothing that grows with the catalog travels in the controller's
environment, and adding a model to the catalog needs no controller change.

Model keys may contain `-`, so a name is split on the known kind suffixes, never on the last
dash. No kind is a `-`-suffix of another (`error-rate` vs `throttle-rate` both end in `-rate`,
which is not a kind), so the split is unambiguous. Pure: no AWS imports.
"""

from __future__ import annotations

import re

from routing_engine.config import KEY_PATTERN

MODEL_ALARM_KINDS = ("error-rate", "throttle-rate", "latency-p90", "bedrock-server-errors", "bedrock-throttles")
MAX_ALARM_NAME = 255
_MODEL_KEY = re.compile(KEY_PATTERN)


def model_alarm_name(prefix: str, model: str, kind: str) -> str:
    if kind not in MODEL_ALARM_KINDS:
        raise ValueError(f"unknown model alarm kind {kind!r} (known: {', '.join(MODEL_ALARM_KINDS)})")
    name = f"{prefix}{model}-{kind}"
    if len(name) > MAX_ALARM_NAME:
        raise ValueError(f"alarm name {name!r} is longer than CloudWatch's {MAX_ALARM_NAME} characters")
    return name


def model_of_alarm(prefix: str, name: str) -> str | None:
    """The model key an alarm named by `model_alarm_name` watches; None for any other name."""
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix) :]
    for kind in sorted(MODEL_ALARM_KINDS, key=len, reverse=True):
        suffix = f"-{kind}"
        if rest.endswith(suffix):
            model = rest[: -len(suffix)]
            return model if _MODEL_KEY.match(model) else None
    return None
