"""The labeller's environment variables and time limits.

The names are constants here and `stacks/constructs/label_loop.py` sets the function's environment with them (and
sizes its timeout from WORST_SAMPLE_S), so the stack and the code cannot drift apart. This module imports nothing
but the standard library: the CDK app imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Set by the stack.
LABELS_TABLE_NAME = "LABELS_TABLE_NAME"
# Set by Lambda itself.
AWS_REGION = "AWS_REGION"
AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"

# One model call: a read timeout per attempt, and attempts with standard retries (a throttled call may as well
# wait and try again). A sample makes three calls one after another; the function's timeout (stacks/constructs/
# label_loop.py) is WORST_SAMPLE_S plus a margin, so Lambda never kills a sample mid-way (its spend unrecorded).
CALL_TIMEOUT_S = 100.0
CONNECT_TIMEOUT_S = 5.0
CALL_ATTEMPTS = 2
MAX_BACKOFF_S = 20.0  # botocore's standard retry mode caps its back-off at 20 s
WORST_CALL_S = CALL_ATTEMPTS * (CONNECT_TIMEOUT_S + CALL_TIMEOUT_S) + MAX_BACKOFF_S
WORST_SAMPLE_S = 3 * WORST_CALL_S


@dataclass(frozen=True)
class LabellerSettings:
    table_name: str  # the labels table
    region: str | None  # the function's region: models without a region of their own are called there

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LabellerSettings:
        table = environ.get(LABELS_TABLE_NAME)
        if not table:
            raise RuntimeError(f"environment variable {LABELS_TABLE_NAME} is required (set by the CDK stack)")
        return cls(table_name=table, region=region_from_env(environ))


def region_from_env(environ: Mapping[str, str]) -> str | None:
    return environ.get(AWS_REGION) or environ.get(AWS_DEFAULT_REGION)
