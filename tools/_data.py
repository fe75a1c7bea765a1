"""Loading labelled routing data (JSONL: id, source, category, prompt, weak_score, strong_score)."""

from __future__ import annotations

import json
import math
from pathlib import Path

REQUIRED = ("prompt", "weak_score", "strong_score")


class DataError(Exception):
    """A user-facing, one-line problem with the input data."""


def load_jsonl(path: str | Path) -> list[dict]:
    """Read and validate a labelled JSONL file.

    ``id``/``source``/``category`` are optional (defaults: line number,
    ``"all"``, and the source).  Raises :class:`DataError` naming the line on
    malformed input.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file not found: {p}")
    rows: list[dict] = []
    try:
        fh = p.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc.strerror or exc}") from None
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{p}:{lineno}: invalid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise DataError(f"{p}:{lineno}: expected a JSON object")
                for key in REQUIRED:
                    if key not in obj:
                        raise DataError(f"{p}:{lineno}: missing field '{key}'")
                if not isinstance(obj["prompt"], str):
                    raise DataError(f"{p}:{lineno}: 'prompt' must be a string")
                try:
                    weak = float(obj["weak_score"])
                    strong = float(obj["strong_score"])
                except (TypeError, ValueError):
                    raise DataError(f"{p}:{lineno}: 'weak_score' and 'strong_score' must be numbers") from None
                if not (math.isfinite(weak) and math.isfinite(strong)):
                    raise DataError(f"{p}:{lineno}: scores must be finite numbers")
                source = str(obj.get("source") or "all")
                rows.append(
                    {
                        "id": obj.get("id", f"line-{lineno}"),
                        "source": source,
                        "category": str(obj.get("category") or source),
                        "prompt": obj["prompt"],
                        "weak_score": weak,
                        "strong_score": strong,
                    }
                )
        except UnicodeDecodeError as exc:
            raise DataError(f"{p}: not valid UTF-8 ({exc.reason})") from None
    if not rows:
        raise DataError(f"{p}: no data rows")
    return rows
