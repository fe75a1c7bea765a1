"""One reconcile per invocation, level-triggered, with bounded retries on conflicts.

Whatever the event claims, the controller reads every watched alarm and the latest
flags, computes the flags the alarms imply (`reconcile.plan`), writes them only if
they differ, and makes sure the latest flags version is the one deployed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from failover_controller.alarm_names import model_of_alarm
from failover_controller.flag_store import AppConfigFlagStore, FlagsDocumentInvalid, WriteConflict
from failover_controller.reconcile import AlarmObservation, Changes, plan
from failover_controller.settings import ControllerSettings


class AlarmSource(Protocol):
    def discover(self, prefix: str) -> Mapping[str, AlarmObservation]: ...


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


class ReconcileConflict(RuntimeError):
    """Still conflicting when attempts or time ran out; raised so Lambda retries the event."""


class _DeploymentBlocked(WriteConflict):
    """The latest flags are not live and another deployment holds the environment."""


@dataclass(frozen=True)
class Outcome:
    changes: Changes
    version: int | None  # the flags version the environment now serves or is deploying
    deployment: int | None  # the deployment this reconcile started, if any
    attempts: int


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    # Time kept back for one more full attempt (list, get, create, deploy) after a pause.
    reserve_ms: int = 5_000


class FailoverController:
    def __init__(
        self,
        settings: ControllerSettings,
        alarms: AlarmSource,
        store: AppConfigFlagStore,
        *,
        logger: Any,
        metrics: MetricsSink,
        retry: RetryPolicy = RetryPolicy(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._alarms = alarms
        self._store = store
        self._logger = logger
        self._metrics = metrics
        self._retry = retry
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """Lambda entry: the event only names the trigger; the reconcile ignores its claims."""
        outcome = self.reconcile(context.get_remaining_time_in_millis, trigger=describe_trigger(event))
        return {
            "changed": bool(outcome.changes),
            "summary": outcome.changes.summary(),
            "version": outcome.version,
            "deployment": outcome.deployment,
        }

    def reconcile(self, remaining_ms: Callable[[], int], *, trigger: str = "direct") -> Outcome:
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = self._attempt(attempt, trigger)
            except WriteConflict as exc:
                delay = self._backoff(attempt)
                if attempt >= self._retry.max_attempts or remaining_ms() - delay * 1000 < self._retry.reserve_ms:
                    self._fail("conflict persisted", trigger, attempt, error=str(exc))
                    raise ReconcileConflict(
                        f"failover flags still conflicting after {attempt} attempts: {exc}"
                    ) from exc
                self._metrics.add_metric(name="ConflictsRetried", unit="Count", value=1)
                self._logger.warning(
                    "flags conflict, retrying",
                    extra={"attempt": attempt, "delay_s": round(delay, 3), "error": str(exc)},
                )
                self._sleep(delay)
                continue
            except FlagsDocumentInvalid as exc:
                self._metrics.add_metric(name="FlagsDocumentInvalid", unit="Count", value=1)
                self._fail(
                    "current flags document is invalid; not overwriting it",
                    trigger,
                    attempt,
                    error=str(exc),
                    version=exc.version,
                )
                raise
            except Exception as exc:
                self._fail("reconcile failed", trigger, attempt, error=repr(exc))
                raise
            return outcome

    def _attempt(self, attempt: int, trigger: str) -> Outcome:
        prefix = self.settings.alarm_prefix
        found = self._alarms.discover(prefix)
        model_alarms = {name: model for name in found if (model := model_of_alarm(prefix, name)) is not None}
        observed = {name: found[name] for name in model_alarms}
        unrecognised = sorted(set(found) - set(model_alarms))
        snapshot = self._store.read()
        now = self._clock().astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        result = plan(snapshot.flags, model_alarms, observed, now)
        if not model_alarms:
            # No per-model alarm under the prefix: a wrong prefix, missing permissions or a stack
            # being deleted. Nothing is retired on no evidence (see reconcile); say so loudly.
            self._metrics.add_metric(name="WatchedAlarmsMissing", unit="Count", value=1)

        version, deployment = snapshot.version, None
        if result.changes:
            version = self._store.write(
                result.desired,
                based_on=snapshot.version,
                description=f"failover-controller: {result.changes.summary()}",
            )
            # The new version exists now: count it even if its deployment has to be retried.
            self._metrics.add_metric(name="FlagsSet", unit="Count", value=len(result.changes.set_down))
            self._metrics.add_metric(name="FlagsCleared", unit="Count", value=len(result.changes.cleared))
            self._metrics.add_metric(name="FlagsRetired", unit="Count", value=len(result.changes.retired))
            self._metrics.add_metric(name="FlagsUpdated", unit="Count", value=len(result.changes.updated))
            deployment = self._store.deploy(version, description=f"failover-controller: {result.changes.summary()}")
        elif version is not None:
            live = self._store.live_state()
            if not live.serves(version):
                if live.in_progress:
                    raise _DeploymentBlocked(f"flags version {version} waits for a running deployment to finish")
                deployment = self._store.deploy(version, description="failover-controller: deploy latest flags")

        self._metrics.add_metric(name="Reconciles", unit="Count", value=1)
        self._logger.info(
            "failover flags reconciled",
            extra={
                "trigger": trigger,
                "changed": bool(result.changes),
                "summary": result.changes.summary(),
                "set_down": list(result.changes.set_down),
                "updated": list(result.changes.updated),
                "cleared": list(result.changes.cleared),
                "retired": list(result.changes.retired),
                "undecided": list(result.undecided),
                "down_models": sorted(result.desired.down_models()),
                "watched_alarms": len(model_alarms),
                "unrecognised_alarms": unrecognised,
                "firing_alarms": sorted(n for n, o in observed.items() if o.state == "ALARM"),
                "read_version": snapshot.version,
                "version": version,
                "deployment": deployment,
                "attempt": attempt,
            },
        )
        return Outcome(changes=result.changes, version=version, deployment=deployment, attempts=attempt)

    def _backoff(self, attempt: int) -> float:
        # Full jitter: concurrent controllers (an alarm event and the schedule) spread out.
        return self._rng.uniform(0, min(self._retry.max_delay_s, self._retry.base_delay_s * 2 ** (attempt - 1)))

    def _fail(self, message: str, trigger: str, attempt: int, **extra: Any) -> None:
        self._metrics.add_metric(name="ReconcileFailures", unit="Count", value=1)
        self._logger.error(message, extra={"trigger": trigger, "attempt": attempt, **extra})


def describe_trigger(event: Any) -> str:
    """A short label for the log: which alarm changed, the schedule, or something else."""
    if not isinstance(event, dict):
        return "unknown"
    raw_detail = event.get("detail")
    detail: dict = raw_detail if isinstance(raw_detail, dict) else {}
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        state = detail.get("state", {}).get("value", "?") if isinstance(detail.get("state"), dict) else "?"
        return f"alarm:{detail.get('alarmName', '?')}:{state}"
    if event.get("detail-type") == "Scheduled Event":
        return "schedule"
    return str(event.get("detail-type") or "unknown")
