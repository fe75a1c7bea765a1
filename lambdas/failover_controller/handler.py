"""Lambda entry point: EventBridge alarm state changes and a 1-minute schedule both land here.

`controller` is built on the first invocation (clients are then reused while the
execution environment lives); tests assign their own to it.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from failover_controller.controller import FailoverController
from failover_controller.wiring import build_controller

logger = Logger()
metrics = Metrics()
tracer = Tracer()

controller: FailoverController | None = None


def get_controller() -> FailoverController:
    global controller
    if controller is None:
        controller = build_controller(os.environ, logger=logger, metrics=metrics)
    return controller


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_controller().handle(event, context)
