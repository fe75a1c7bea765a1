"""How fast each simulated model answers in local mode.

Local mode's own settings, kept out of the routing catalog that is deployed to AppConfig (no production model
has a simulated latency). The file maps a catalog key to the time of a typical answer in milliseconds; a model
without an entry (a catalog edited since, or another --config) answers at `default_ms`:

    {"default_ms": 300, "models": {"claude-haiku": 250, "claude-opus": 1200}}

local/simulated_backend.py turns that time into a pace (first token, then one token every L/100).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "config" / "local-latency.json"
DEFAULT_MS = 300.0
MAX_MS = 60_000  # a minute per answer is already far beyond any client's patience


class LatencyFileError(ValueError):
    """A latency file local mode cannot use; the message names the field."""


@dataclass(frozen=True, slots=True)
class SimulatedLatency:
    """Typical answer time per model key (ms); `default_ms` for any other model."""

    models: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    default_ms: float = DEFAULT_MS

    def of(self, key: str) -> float:
        return self.models.get(key, self.default_ms)

    @classmethod
    def parse(cls, raw: str | bytes) -> SimulatedLatency:
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise LatencyFileError(f"not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise LatencyFileError("the document must be a JSON object")
        unknown = sorted(set(doc) - {"default_ms", "models"})
        if unknown:
            raise LatencyFileError(f"{unknown[0]}: unknown field (known: default_ms, models)")
        models = doc.get("models", {})
        if not isinstance(models, dict):
            raise LatencyFileError("models: must be an object of model key -> milliseconds")
        return cls(
            models=MappingProxyType({key: _milliseconds(f"models.{key}", ms) for key, ms in models.items()}),
            default_ms=_milliseconds("default_ms", doc.get("default_ms", DEFAULT_MS)),
        )

    @classmethod
    def load(cls, path: str | Path) -> SimulatedLatency:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise LatencyFileError(f"cannot read {path}: {exc.strerror}") from None
        try:
            return cls.parse(raw)
        except LatencyFileError as exc:
            raise LatencyFileError(f"{path}: {exc}") from None


def _milliseconds(path: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LatencyFileError(f"{path}: must be a number of milliseconds, not {value!r}")
    if not 0 <= value <= MAX_MS:
        raise LatencyFileError(f"{path}: must be within [0, {MAX_MS}] ms, not {value}")
    return float(value)
