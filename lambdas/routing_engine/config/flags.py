"""The `failover-flags` AppConfig profile: operators' and alarms' verdicts on models, kept apart from the
routing profile so a flag flip never waits behind a slow rollout of routing rules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from routing_engine.config.base import Key, StrictModel


class ModelFlag(StrictModel):
    state: Literal["down", "up"] = Field(description="down: skip the model; up: force it healthy")
    source: Literal["alarm", "manual"] = Field(description="manual flags are never changed by the controller")
    reason: str = Field(default="", max_length=1000)
    set_by: str = Field(default="", max_length=512)
    updated_at: str = Field(default="", max_length=64, description="ISO 8601 UTC time of the change")


class FailoverFlags(StrictModel):
    """The `failover-flags` AppConfig profile, keyed by model key (alias)."""

    models: dict[Key, ModelFlag] = Field(default_factory=dict)

    def down_models(self) -> frozenset[str]:
        return frozenset(k for k, f in self.models.items() if f.state == "down")
