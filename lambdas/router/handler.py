"""The router Lambda: decorators and one call. Wiring lives in router.wiring."""

import warnings

from aws_lambda_powertools.logging import correlation_paths

from router import wiring
from router.api import app, use_service
from router.observability import capture_lambda_handler, logger, metrics

use_service(factory=wiring.service_from_env)
# GET /v1/models and /v1/health record no metrics; that is expected, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler
def lambda_handler(event, context):
    return app.resolve(event, context)
