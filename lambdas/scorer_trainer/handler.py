"""Lambda entry point of the scorer trainer: a daily schedule (EventBridge) lands here; the event is not read.

Environment (set by the stack): see scorer_trainer.settings.
Metric ScorerTrainingRuns by {service, Route, Outcome}: one per labelled route per run.
`job` is built on the first invocation; tests assign their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from scorer_trainer.job import TrainerJob
from scorer_trainer.settings import TrainerSettings

logger = Logger()
metrics = Metrics()

job: TrainerJob | None = None


def count_run(route: str, outcome: str) -> None:
    """ScorerTrainingRuns{Route, Outcome}: its own EMF document, since each route has its own dimensions."""
    with single_metric(
        name="ScorerTrainingRuns",
        unit=MetricUnit.Count,
        value=1,
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ModelRouter"),
    ) as metric:
        metric.add_dimension(name="service", value=os.environ.get("POWERTOOLS_SERVICE_NAME", "scorer-trainer"))
        metric.add_dimension(name="Route", value=route)
        metric.add_dimension(name="Outcome", value=outcome)


def build_job(
    environ: Mapping[str, str], *, data_client: Any = None, control_client: Any = None, dynamodb_client: Any = None
) -> TrainerJob:
    settings = TrainerSettings.from_env(environ)
    import boto3
    from botocore.config import Config

    from aws_adapters.appconfig_writer import AppConfigTarget
    from labeller.store import LabelStore
    from scorer_trainer.appconfig_store import AppConfigProfileStore

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)
    data = data_client or boto3.client("appconfigdata", config=config)
    control = control_client or boto3.client("appconfig", config=config)

    def store(profile_id: str) -> AppConfigProfileStore:
        target = AppConfigTarget(
            settings.application_id, settings.environment_id, profile_id, settings.deployment_strategy_id
        )
        return AppConfigProfileStore(data_client=data, control_client=control, target=target)

    labels = LabelStore(settings.labels_table_name, dynamodb_client or boto3.client("dynamodb", config=config))
    return TrainerJob(
        store(settings.profile_id),
        labels,
        learned_store=store(settings.learned_profile_id),
        on_outcome=count_run,
        logger=logger,
    )


def get_job() -> TrainerJob:
    global job
    if job is None:
        job = build_job(os.environ)
    return job


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
    result = get_job().run()  # the schedule's event says nothing the job needs
    return {
        "routes": {route: item["outcome"] for route, item in result["routes"].items()},
        "proposals": result["proposals"],
    }
