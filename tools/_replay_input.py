"""Reading the router's decision log as people actually get it, for tools.replay.

Three shapes, told apart by their content, not their file name:
- JSON lines, as the router prints them (local server stdout, a CloudWatch log stream saved as text);
- a CloudWatch Logs Insights result with an `@message` field: the console's CSV or JSON export, or
  `aws logs get-query-results` output ({"results": [[{"field": "@message", "value": ...}, ...], ...]});
- `aws logs filter-log-events` / `get-log-events` output ({"events": [{"message": ...}, ...]}), one document or
  several pages written one after another.

`read_records(path)` yields each log message as text or as an already-decoded dict; `decode_message()` turns one
into the router's JSON object (or None when it is not JSON at all).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator


class InputError(Exception):
    """The decisions file cannot be read as any of the supported shapes; the message says why."""


def read_text(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise InputError(f"cannot read the decisions file {path}: {exc.strerror or exc}") from None
    if raw.startswith(b"\xef\xbb\xbf"):  # the console's CSV export may carry a byte-order mark
        raw = raw[3:]
    return raw.decode("utf-8", errors="replace")


def detect(text: str) -> str:
    """'jsonl', 'json' (one or more JSON documents: an export) or 'csv' (a header naming @fields)."""
    stripped = text.lstrip()
    if not stripped:
        return "jsonl"
    if stripped[0] == "[":
        return "json"
    if stripped[0] == "{":
        first = stripped.split("\n", 1)[0].strip()
        try:
            head = json.loads(first)
        except ValueError:
            return "json"  # a pretty-printed document: its first line is "{"
        if isinstance(head, dict) and ("events" in head or "results" in head):
            return "json"
        return "jsonl"
    header = stripped.split("\n", 1)[0]
    if header.startswith(("@", '"@')) or ",@" in header or ',"@' in header:  # Logs Insights fields: @timestamp...
        return "csv"
    return "jsonl"  # text lines (a saved log stream): the JSON ones are read, the rest counted


def read_records(path: str) -> tuple[str, Iterator[str | dict]]:
    """(the shape found, the log messages in file order)."""
    text = read_text(path)
    shape = detect(text)
    if shape == "jsonl":
        return "jsonl", iter(text.splitlines())
    if shape == "csv":
        return "logs-insights-csv", _csv_messages(text, path)
    documents = _documents(text, path)
    kind, messages = _export_messages(documents, path)
    return kind, iter(messages)


def _csv_messages(text: str, path: str) -> Iterator[str]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    field = next((c for c in columns if c.strip() in ("@message", "message")), None)
    if field is None:
        raise InputError(
            f"{path} looks like CSV, but has no @message column (columns: {', '.join(columns) or 'none'}); "
            "export a Logs Insights query that includes `fields @timestamp, @message`"
        )
    for row in reader:
        value = row.get(field)
        if value:
            yield value


def _documents(text: str, path: str) -> list:
    decoder = json.JSONDecoder()
    out: list = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return out
        try:
            value, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not valid JSON near line {text.count(chr(10), 0, i) + 1}: {exc.msg}") from None
        out.append(value)


def _export_messages(documents: list, path: str) -> tuple[str, list[str | dict]]:
    messages: list[str | dict] = []
    kinds: set[str] = set()
    for doc in documents:
        if isinstance(doc, dict) and isinstance(doc.get("events"), list):  # filter-log-events / get-log-events
            kinds.add("cloudwatch-log-events")
            messages.extend(e["message"] for e in doc["events"] if isinstance(e, dict) and "message" in e)
        elif isinstance(doc, dict) and isinstance(doc.get("results"), list):  # aws logs get-query-results
            kinds.add("logs-insights-json")
            for row in doc["results"]:
                fields = (
                    {f.get("field"): f.get("value") for f in row if isinstance(f, dict)}
                    if isinstance(row, list)
                    else (row if isinstance(row, dict) else {})
                )
                message = fields.get("@message")
                if message is not None:
                    messages.append(message)
        elif isinstance(doc, list):  # the console's JSON export: [{"@timestamp": ..., "@message": ...}, ...]
            kinds.add("logs-insights-json")
            for row in doc:
                if isinstance(row, dict):
                    value = row.get("@message", row.get("message"))
                    if value is not None:
                        messages.append(value)
        elif isinstance(doc, dict):  # a single router line, pretty-printed
            kinds.add("json")
            messages.append(doc)
        else:
            raise InputError(
                f"{path}: a JSON {type(doc).__name__} is no log export this tool knows "
                "(expected router JSON lines, a Logs Insights export or filter-log-events output)"
            )
    return ("+".join(sorted(kinds)) or "json"), messages


def decode_message(message: str | dict) -> dict | None:
    """The router's JSON object from one log message, or None if it is not one.

    A message may carry a prefix before the JSON (a runtime's timestamp and request id), and a log platform may
    have wrapped the router's line in its own JSON object under "message"; both are unwrapped."""
    if isinstance(message, dict):
        obj = message
    else:
        text = message.strip()
        if not text:
            return None
        if text[0] != "{":
            start = text.find("{")
            if start < 0:
                return None
            text = text[start:]
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
    inner = obj.get("message")
    if "features" not in obj and "requested" not in obj and inner is not None:
        if isinstance(inner, dict):
            return inner
        if isinstance(inner, str) and inner.lstrip().startswith("{"):
            unwrapped = decode_message(inner)
            if unwrapped is not None:
                return unwrapped
    return obj
