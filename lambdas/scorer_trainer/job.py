"""One scheduled run of the trainer: every labelled route of the deployed configuration, trained and reported.

The configuration a route is trained against is what the routers serve: the DEPLOYED `routing` document with the
DEPLOYED `learned-scorers` entries applied (routing_engine.config.apply_learned), so "the current scorer" and its
threshold are the learned ones where they apply. Proposals go to the `learned-scorers` profile only (one entry per
route: the scorer and the threshold calibrated for it); the hand-edited routing document is never written.

For each route with `labelling` in that configuration: load its labels, train (training.py), write the report
item, and collect the better candidates. Proposals are then made in at most two hosted versions of the
learned-scorers profile, so two better routes never overwrite each other:
1. the routes that opted in to `auto_deploy`: one version with their changes, deployed with the gradual strategy;
2. the other better routes: one version with their changes on top of (1), created and NOT deployed, for review.
A route whose training fails is reported (outcome `failed`) and the others still run. A proposal group whose
CreateHostedConfigurationVersion fails: its routes are `failed`, with the error in the reason, and the other
group still proceeds (on top of the deployed document when the first group's version was not created). A
deployment AppConfig refuses or that fails leaves the hosted version: "proposed, not deployed". Every route's
report is written, and its outcome counted, whatever happens to the proposals (a `finally`).

Collaborators are injected: the AppConfig store, the label store, the clock, a metric callback and a logger.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from routing_engine.config import (
    EMPTY_LEARNED,
    ConfigError,
    RoutingConfig,
    apply_learned,
    parse_learned_scorers,
    parse_routing_config,
)
from scorer_trainer.appconfig_store import AppConfigProfileStore, DeploymentRefused
from scorer_trainer.training import TrainingReport, propose_learned, train_from_config

FAILED = "failed"  # a run that could not train at all (an error), besides training.OUTCOMES


def _ignore_outcome(_route: str, _outcome: str) -> None:
    """The default when nobody counts run outcomes (tests, local runs)."""


class TrainerJob:
    def __init__(
        self,
        config_store: AppConfigProfileStore,
        label_store: Any,
        *,
        learned_store: AppConfigProfileStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_outcome: Callable[[str, str], None] | None = None,
        logger: Any = None,
    ):
        self._config = config_store
        self._learned = learned_store
        self._labels = label_store
        self._clock = clock
        self._on_outcome = on_outcome or _ignore_outcome
        self._logger = logger

    def run(self) -> dict:
        """{"config_version_label", "routes": {route: report dict}, "proposals": [...]}."""
        now = self._clock()
        deployed = self._config.read_deployed()
        routing = parse_routing_config(deployed.content)  # what serves passed this; a failure here is an alarm
        try:
            learned_raw = self._learned.read_deployed().content
        except LookupError:  # nothing deployed to learned-scorers yet: no route has a learned scorer
            learned_raw = EMPTY_LEARNED
        effective = apply_learned(routing, parse_learned_scorers(learned_raw))
        for route, why in sorted(effective.ignored.items()):
            self._log("warning", "learned scorer ignored", route=route, reason=why)
        config = effective.config
        reports: dict[str, TrainingReport] = {}
        failures: dict[str, str] = {}
        for route in sorted(config.routes):
            if config.routes[route].labelling is None:
                continue
            try:
                reports[route] = train_from_config(config, route, self._labels.labels(route), now=now)
            except Exception as exc:  # noqa: BLE001 - one route's failure must not stop the others' training
                failures[route] = f"{type(exc).__name__}: {exc}"
                self._log("error", "scorer training failed", route=route, error=failures[route])
        proposals: list[dict] = []
        out: dict[str, Any] = {
            "config_version_label": deployed.version_label,
            "learned": effective.applied,
            "routes": {},
            "proposals": proposals,
        }
        try:
            better = [r for r in sorted(reports) if reports[r].outcome == "proposed"]
            auto = [r for r in better if getattr(config.labelling_of(r), "auto_deploy", False)]
            manual = [r for r in better if r not in auto]
            base = learned_raw
            if auto:
                base, entry = self._propose_group(base, config, auto, reports, now, deploy=True)
                proposals.append(entry)
            if manual:
                _, entry = self._propose_group(base, config, manual, reports, now, deploy=False)
                proposals.append(entry)
        finally:  # every route's report is written and counted, whatever happened to the proposals
            for route, report in sorted(reports.items()):
                item = report.as_dict()
                self._finish(route, item, report.outcome, report.summary())
                out["routes"][route] = item
            for route, error in sorted(failures.items()):
                item = {
                    "route": route,
                    "outcome": FAILED,
                    "reason": error,
                    "trained_at": now.astimezone(UTC).isoformat(timespec="seconds"),
                }
                self._finish(route, item, FAILED, error)
                out["routes"][route] = item
        return out

    def _propose_group(
        self,
        base: bytes,
        config: RoutingConfig,
        routes: list[str],
        reports: dict[str, TrainingReport],
        now: datetime,
        *,
        deploy: bool,
    ) -> tuple[bytes, dict]:
        """_propose, with an error failing this group's routes only: (the base unchanged, the entry)."""
        try:
            return self._propose(base, config, routes, reports, now, deploy=deploy)
        except Exception as exc:  # noqa: BLE001 - e.g. CreateHostedConfigurationVersion throttled: the other group goes on
            error = f"{type(exc).__name__}: {exc}"
            failed = [r for r in routes if reports[r].outcome == "proposed"]  # not those already not_better
            for route in failed:
                reports[route] = reports[route].with_outcome(
                    FAILED, reason=f"{reports[route].reason}; the proposal was not created: {error}"
                )
            self._log("error", "learned scorers not proposed", routes=failed, error=error)
            return base, {"routes": [], "failed": failed, "hosted_version": None, "deployment": None, "error": error}

    def _propose(
        self,
        base: bytes,
        config: RoutingConfig,
        routes: list[str],
        reports: dict[str, TrainingReport],
        now: datetime,
        *,
        deploy: bool,
    ) -> tuple[bytes, dict]:
        doc = base
        applied = []
        for route in routes:
            try:
                doc = propose_learned(doc, config, route, reports[route])
                applied.append(route)
            except (ConfigError, ValueError) as exc:  # the candidate cannot be expressed (or is over AppConfig's
                # hosted limit, training.ProposalTooLarge): reported, not fatal
                reports[route] = reports[route].with_outcome("not_better", reason=f"proposal invalid: {exc}")
        if not applied:
            return base, {"routes": [], "hosted_version": None, "deployment": None}
        description = f"scorer trainer {now.astimezone(UTC):%Y-%m-%dT%H:%MZ}: " + " | ".join(
            reports[r].summary() for r in applied
        )
        # One run may create two versions (auto-deploy routes, then the rest for review): their labels differ.
        label = (
            reports[applied[0]].candidate_version
            if len(applied) == 1
            else f"scorer-trainer-{now.astimezone(UTC):%Y%m%dT%H%M}-{'auto' if deploy else 'review'}"
        )
        version = self._learned.propose(doc, description=description, label=label)
        deployment = None
        reason = None
        if deploy:
            try:
                deployment = self._learned.deploy(version, description=description)
            except DeploymentRefused as exc:
                reason = f"proposed as hosted version {version}, not deployed: {exc}"
            except Exception as exc:  # noqa: BLE001 - e.g. a connection error: the hosted version exists all the same
                reason = (
                    f"proposed as hosted version {version}, not deployed: StartDeployment failed "
                    f"({type(exc).__name__}: {exc})"
                )
                self._log("error", "deployment not started", hosted_version=version, error=reason)
        for route in applied:
            rep = reports[route]
            proposal = {
                "version": rep.candidate_version,
                "scorer": rep.candidate_name,
                "hosted_version": version,
                "deployment": deployment,
            }
            outcome = "deployed" if deployment is not None else "proposed"
            where = reason or (
                f"deployed as hosted version {version} (deployment {deployment}, gradual strategy)"
                if deployment is not None
                else f"proposed as hosted version {version} for review"
            )
            reports[route] = rep.with_outcome(outcome, reason=f"{rep.reason}; {where}", proposal=proposal)
        self._log("info", "learned scorers proposed", hosted_version=version, deployment=deployment, routes=applied)
        return doc, {"routes": applied, "hosted_version": version, "deployment": deployment}

    def _finish(self, route: str, item: dict, outcome: str, summary: str) -> None:
        try:
            self._labels.put_report(route, item)
        except Exception as exc:  # noqa: BLE001 - the report item is a record; the run's result is in the log too
            self._log("error", "report not stored", route=route, error=f"{type(exc).__name__}: {exc}")
        try:
            self._on_outcome(route, outcome)
        except Exception as exc:  # noqa: BLE001 - one metric must not stop the other routes' reports and metrics
            self._log("error", "outcome not counted", route=route, error=f"{type(exc).__name__}: {exc}")
        self._log("info", "scorer training report", route=route, outcome=outcome, summary=summary, report=item)

    def _log(self, level: str, message: str, **fields) -> None:
        if self._logger is not None:
            getattr(self._logger, level)(message, extra=fields)
