"""One sample in, one label out: the other model's answer, two judge verdicts, a feature vector. Pure logic.

Bedrock comes in as a callable, `converse(model_key, model_id, region, system, messages, max_tokens, *,
inference=None) -> (text, input_tokens, output_tokens)`, which raises on failure (the batch item is then retried,
and finally lands in the dead-letter queue) or raises `ModelRejected` for a request the model will never take
(refused as invalid, access denied, unknown model: not retried). The other model is asked the way the served
model was: the same conversation and system texts, the caller's stop sequences, temperature and top_p (the
sample's `inference`), and the served answer's token bound capped at the other model's `max_output_tokens`.

The daily budget. Before any model call, the sample's worst-case cost is reserved on the day's budget item with
one atomic conditional update (`ADD spent_usd :estimate` if `spent_usd <= budget - estimate`); a failed condition
is `over_budget` (final, no call made). Once the calls are done (or one failed) the reservation is corrected to
what was really spent (`ADD real - estimate`). The estimate (`worst_case_cost`) prices, at the sample's prices,
the prompt at characters / 4 input tokens and every call's full `max_tokens` of output: the other model's answer
(the prompt), then twice the judge (the prompt, the served answer, the other answer at its token bound, the
judge's own instructions). So concurrent labellers no longer overshoot the budget together: each one's worst case
is on the item before it calls a model, and every other labeller sees it. The remaining bound is the estimate's
error: a sample whose prompt has more tokens than characters / 4 (CJK text, some code) can cost more than it
reserved, so the day can end over budget by that underestimate, one reservation's error for each sample in flight
when the budget ran out, and nothing beyond. A labeller that dies mid-sample leaves its reservation in place (the
day is then over-counted, never under-counted).

What is stored is only what training needs (labeller.store): the feature vector of the prompt, the models, the
verdicts, the target, the costs, the route and the configuration and scorer versions. The prompt and the answers
live only in this invocation's memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, get_args

from labeller.judge import JUDGE_MAX_TOKENS, JUDGE_SYSTEM, judge_messages, parse_verdict, question_text, strong_better
from labeller.store import LabelStore, MemoryLabelStore
from routing_engine.config.catalog import SamplingRule
from routing_engine.features import Message
from routing_engine.learning import target_from_verdicts
from routing_engine.scorer import split_prompt, vectorize

SCHEMA_VERSION = 1
DEFAULT_MAX_TOKENS = 1024  # the other model's answer, when the sample does not say what the served one had
MAX_OTHER_TOKENS = 8192
SAMPLING_RULES: tuple[str, ...] = get_args(SamplingRule)

CHARS_PER_TOKEN = 4  # the budget's estimate of a text's input tokens: characters / 4


class Converse(Protocol):
    def __call__(
        self,
        model_key: str,
        model_id: str,
        region: str | None,
        system: str | None,
        messages: list,
        max_tokens: int,
        /,
        *,
        inference: dict | None = None,
    ) -> tuple[str, int, int]: ...


STORED, OVER_BUDGET, UNPARSEABLE, INVALID, DUPLICATE, REJECTED = (
    "stored",
    "over_budget",
    "judge_unparseable",
    "invalid",
    "duplicate",
    "model_rejected",
)


class ModelRejected(Exception):
    """A model refused the request for good (invalid for that model, access denied, unknown model): retrying
    would only spend again. `error_class`: Bedrock's error code, for the log line."""

    def __init__(self, message: str, error_class: str | None = None):
        super().__init__(message)
        self.error_class = error_class


@dataclass(frozen=True, slots=True)
class LabelOutcome:
    kind: str  # stored | over_budget | judge_unparseable | invalid | duplicate | model_rejected
    route: str
    cost_usd: float = 0.0  # spent on this sample (the other model and the judge), added to the day's budget
    detail: str = ""
    label: dict | None = None
    pair: str | None = None  # "<weak> vs <strong>"
    error_class: str | None = None  # model_rejected: the model's error code (AccessDeniedException, ...)

    @property
    def target(self) -> float | None:
        return self.label["target"] if self.label is not None else None


class FailedAfterSpending(Exception):
    """A call failed after others were paid for: the sample is retried (the cause is `__cause__`), and what it
    spent is reported (the handler's LabelSpendUSD), as it already counts against the day's budget."""

    def __init__(self, route: str, cost_usd: float):
        super().__init__(f"failed after spending {cost_usd:.6f} USD on route {route}")
        self.route = route
        self.cost_usd = cost_usd


class InvalidSample(ValueError):
    pass


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _text_or_none(sample: dict, name: str) -> None:
    if sample.get(name) is not None and not isinstance(sample[name], str):
        raise InvalidSample(f"{name} must be a string or null")


def validate(sample) -> None:
    """Raise InvalidSample saying which field is wrong."""
    if not isinstance(sample, dict):
        raise InvalidSample("the message is not a JSON object")
    if sample.get("v") != SCHEMA_VERSION:
        raise InvalidSample(f"v must be {SCHEMA_VERSION}, not {sample.get('v')!r}")
    for name in ("request_id", "route", "served_model", "weak_model", "strong_model", "judge_model", "sampled_at"):
        if not isinstance(sample.get(name), str) or not sample[name]:
            raise InvalidSample(f"{name} must be a non-empty string")
    try:
        datetime.fromisoformat(sample["sampled_at"].replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSample("sampled_at must be an ISO 8601 time") from None
    if sample["weak_model"] == sample["strong_model"]:
        raise InvalidSample("weak_model and strong_model must differ")
    if sample["served_model"] not in (sample["weak_model"], sample["strong_model"]):
        raise InvalidSample("served_model must be the weak or the strong model")
    if not _is_number(sample.get("daily_budget_usd")) or sample["daily_budget_usd"] <= 0:
        raise InvalidSample("daily_budget_usd must be a number above 0")
    models = sample.get("models")
    if not isinstance(models, dict):
        raise InvalidSample("models must be an object")
    for key in (sample["weak_model"], sample["strong_model"], sample["judge_model"]):
        spec = models.get(key)
        if not isinstance(spec, dict) or not isinstance(spec.get("model_id"), str) or not spec["model_id"]:
            raise InvalidSample(f"models.{key}.model_id must be a non-empty string")
        if spec.get("region") is not None and not isinstance(spec["region"], str):
            raise InvalidSample(f"models.{key}.region must be a string or null")
        for price in ("input_per_million", "output_per_million"):
            if not _is_number(spec.get(price)) or spec[price] < 0:
                raise InvalidSample(f"models.{key}.{price} must be a number of at least 0")
        if spec.get("max_output_tokens") is not None and not _is_positive_int(spec["max_output_tokens"]):
            raise InvalidSample(f"models.{key}.max_output_tokens must be a positive integer or null")
        if spec.get("sampling") is not None and spec["sampling"] not in SAMPLING_RULES:
            raise InvalidSample(f"models.{key}.sampling must be one of {', '.join(SAMPLING_RULES)} or null")
    messages = sample.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidSample("messages must be a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise InvalidSample(f"messages[{i}].role must be user or assistant")
        if not isinstance(m.get("text"), str) or not m["text"].strip():
            raise InvalidSample(f"messages[{i}].text must be a non-empty string")
    if messages[0]["role"] != "user":
        raise InvalidSample("messages must start with a user message")
    if not isinstance(sample.get("answer"), str):
        raise InvalidSample("answer must be a string")
    for name in ("system", "route_system", "config_version", "scorer", "scorer_version"):
        _text_or_none(sample, name)
    max_tokens = sample.get("max_tokens")
    if max_tokens is not None and not _is_positive_int(max_tokens):
        raise InvalidSample("max_tokens must be a positive integer or null")
    inference = sample.get("inference")
    if inference is None:
        return
    if not isinstance(inference, dict):
        raise InvalidSample("inference must be an object or null")
    stop = inference.get("stop")
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(x, str) and x for x in stop)):
        raise InvalidSample("inference.stop must be a list of non-empty strings or null")
    for name in ("temperature", "top_p"):
        value = inference.get(name)
        if value is not None and (not _is_number(value) or not 0 <= value <= 1):
            raise InvalidSample(f"inference.{name} must be a number from 0 to 1 or null")


def _is_positive_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


def cost_of(spec: dict, input_tokens: int, output_tokens: int) -> float:
    return input_tokens / 1_000_000 * spec["input_per_million"] + output_tokens / 1_000_000 * spec["output_per_million"]


def judge_twice(
    converse: Converse, judge_key: str, judge: dict, question: str, weak_answer: str, strong_answer: str, costs: dict
) -> list[float | None]:
    """The judge's two verdicts as strong-better values (1, 0.5, 0; None: no verdict line), first with the weak
    answer in position A, then swapped, so a judge that favours a position cancels out. Adds the calls' cost to
    `costs["judge"]` as each returns (a failure after the first still leaves it counted)."""
    verdicts: list[float | None] = []
    for a, b, strong_position in ((weak_answer, strong_answer, "B"), (strong_answer, weak_answer, "A")):
        reply, j_in, j_out = converse(
            judge_key,
            judge["model_id"],
            judge.get("region"),
            JUDGE_SYSTEM,
            judge_messages(question, a, b),
            JUDGE_MAX_TOKENS,
        )
        costs["judge"] += cost_of(judge, j_in, j_out)
        verdict = parse_verdict(reply)
        verdicts.append(None if verdict is None else strong_better(verdict, strong_position))
    return verdicts


def day_of(now: datetime) -> str:
    """The UTC day the budget counts against (a naive time is taken as UTC)."""
    return (now if now.tzinfo is None else now.astimezone(UTC)).date().isoformat()


def converse_messages(messages: list[dict]) -> list[dict]:
    """The sample's turns in Converse's shape, neighbours of one role merged (Converse wants them alternating)."""
    out: list[dict] = []
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            out[-1]["content"].append({"text": m["text"]})
        else:
            out.append({"role": m["role"], "content": [{"text": m["text"]}]})
    return out


def other_model(sample: dict) -> str:
    """The model of the pair that did not serve the request: it is asked now."""
    return sample["strong_model"] if sample["served_model"] == sample["weak_model"] else sample["weak_model"]


def other_max_tokens(sample: dict) -> int:
    """The other model's token bound: the served answer's (the route's), capped at that model's own limit and at
    MAX_OTHER_TOKENS."""
    bound = min(sample.get("max_tokens") or DEFAULT_MAX_TOKENS, MAX_OTHER_TOKENS)
    limit = sample["models"][other_model(sample)].get("max_output_tokens")
    return min(bound, limit) if limit else bound


def inference_of(sample: dict) -> dict | None:
    """The caller's sampling settings the served model had (stop sequences, temperature, top_p), or None."""
    inference = sample.get("inference") or {}
    out = {name: inference[name] for name in ("stop", "temperature", "top_p") if inference.get(name) is not None}
    return out or None


def _system_of(sample: dict) -> str | None:
    return "\n\n".join(s for s in (sample.get("route_system"), sample.get("system")) if s) or None


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def worst_case_cost(sample: dict) -> float:
    """What labelling this (valid) sample may cost at most, input tokens estimated at characters / 4: the other
    model's answer at its full token bound, and two judge calls reading the prompt, the served answer and the other
    answer at that bound, each answering JUDGE_MAX_TOKENS. Reserved on the day's budget before any call."""
    models = sample["models"]
    other, judge = models[other_model(sample)], models[sample["judge_model"]]
    max_tokens = other_max_tokens(sample)
    prompt_chars = sum(len(m["text"]) for m in sample["messages"]) + len(_system_of(sample) or "")
    question_chars = len(question_text(sample["messages"], sample.get("system")))
    framing_chars = len(JUDGE_SYSTEM) + len(judge_messages("", "", "")[0]["content"][0]["text"])
    judge_in = _tokens(question_chars + len(sample["answer"]) + framing_chars) + max_tokens
    return cost_of(other, _tokens(prompt_chars), max_tokens) + 2 * cost_of(judge, judge_in, JUDGE_MAX_TOKENS)


def features_of(sample: dict) -> dict:
    """The feature vector the router's scorer would compute for this prompt (its system text included)."""
    messages = [Message(m["role"], (("text", m["text"]),)) for m in sample["messages"]]
    instruction, context = split_prompt(messages, sample.get("system"))
    return vectorize(instruction, context).to_json()


def label_sample(sample, *, converse: Converse, store: LabelStore | MemoryLabelStore, now: datetime) -> LabelOutcome:
    """Label one sample, within the route's daily budget. Raises what `converse` or the store raise (retried)."""
    named = sample.get("route") if isinstance(sample, dict) else None
    try:
        validate(sample)
    except InvalidSample as exc:
        return LabelOutcome(INVALID, named if isinstance(named, str) and named else "unknown", detail=str(exc))
    route: str = sample["route"]
    weak, strong, served = sample["weak_model"], sample["strong_model"], sample["served_model"]
    pair = f"{weak} vs {strong}"
    if store.has_label(route, sample["sampled_at"], sample["request_id"]):
        return LabelOutcome(DUPLICATE, route, detail="this sample is already labelled", pair=pair)
    day = day_of(now)
    budget = float(sample["daily_budget_usd"])
    estimate = worst_case_cost(sample)
    if not store.reserve_spend(route, day, estimate, budget):
        spent = store.spent_on(route, day)
        return LabelOutcome(
            OVER_BUDGET,
            route,
            pair=pair,
            detail=(f"spent {spent:.4f} of {budget:.4f} USD on {day}; this sample may cost up to {estimate:.4f}"),
        )

    models = sample["models"]
    other = other_model(sample)
    system = _system_of(sample)
    max_tokens = other_max_tokens(sample)
    inference = inference_of(sample)
    judge = models[sample["judge_model"]]
    costs = {"other": 0.0, "judge": 0.0}
    try:
        spec = models[other]
        messages = converse_messages(sample["messages"])
        if inference is not None and spec.get("sampling"):  # what the other model takes (the catalog's rule)
            inference = {**inference, "sampling": spec["sampling"]}
        text, tokens_in, tokens_out = converse(
            other, spec["model_id"], spec.get("region"), system, messages, max_tokens, inference=inference
        )
        costs["other"] = cost_of(spec, tokens_in, tokens_out)
        answers = {served: sample["answer"], other: text}
        question = question_text(sample["messages"], sample.get("system"))
        verdicts = judge_twice(converse, sample["judge_model"], judge, question, answers[weak], answers[strong], costs)
    except ModelRejected as exc:
        return LabelOutcome(
            REJECTED,
            route,
            cost_usd=_settle(store, route, day, costs, estimate),
            detail=str(exc)[:300],
            pair=pair,
            error_class=exc.error_class,
        )
    except Exception as exc:
        spent = _settle(store, route, day, costs, estimate)  # what was spent counts against the day, retry or not
        if spent:
            raise FailedAfterSpending(route, spent) from exc
        raise
    except BaseException:
        _settle(store, route, day, costs, estimate)
        raise
    total = _settle(store, route, day, costs, estimate)
    if any(v is None for v in verdicts):
        return LabelOutcome(
            UNPARSEABLE,
            route,
            cost_usd=total,
            pair=pair,
            detail=f"the judge gave no VERDICT line in {sum(v is None for v in verdicts)} of 2 replies",
        )
    strong_wins = [float(v) for v in verdicts if v is not None]
    label = {
        "route": route,
        "request_id": sample["request_id"],
        "sampled_at": sample["sampled_at"],
        "labelled_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "features": features_of(sample),
        "weak_model": weak,
        "strong_model": strong,
        "served_model": served,
        "judge_model": sample["judge_model"],
        "verdicts": strong_wins,
        "target": target_from_verdicts(strong_wins),
        # what labelling cost, beside what the judged answer cost the caller
        "cost_usd": {
            "other": round(costs["other"], 8),
            "judge": round(costs["judge"], 8),
            "total": round(total, 8),
            "served": sample.get("served_cost_usd"),
        },
        "config_version": sample.get("config_version"),
        "scorer": sample.get("scorer"),
        "scorer_version": sample.get("scorer_version"),
    }
    if not store.put_label(label):
        return LabelOutcome(
            DUPLICATE, route, cost_usd=total, detail="labelled meanwhile by another delivery", pair=pair
        )
    return LabelOutcome(STORED, route, cost_usd=total, label=label, pair=pair)


def _settle(store: LabelStore | MemoryLabelStore, route: str, day: str, costs: dict, estimate: float) -> float:
    """Correct the day's reservation to what was really spent; the real spend."""
    total = costs["other"] + costs["judge"]
    store.add_spend(route, day, total - estimate)
    return total


__all__ = [
    "DUPLICATE",
    "INVALID",
    "OVER_BUDGET",
    "REJECTED",
    "STORED",
    "UNPARSEABLE",
    "Converse",
    "InvalidSample",
    "LabelOutcome",
    "ModelRejected",
    "converse_messages",
    "cost_of",
    "features_of",
    "inference_of",
    "label_sample",
    "other_max_tokens",
    "other_model",
    "validate",
    "worst_case_cost",
]
