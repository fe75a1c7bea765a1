"""The router Lambda: decorators and one call. Wiring lives in router.wiring."""

import warnings

from router import wiring
from router.api import app, use_service
from router.observability import capture_lambda_handler, logger, metrics

use_service(factory=wiring.service_from_env)
# GET /v1/models and /v1/health record no metrics; that is expected, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler
def lambda_handler(event, context):
    # API Gateway's request id ties our log line to its access log. The same key correlation_paths.API_GATEWAY_REST
    # names, read directly: the JMESPath lookup costs more than a tenth of the handler's whole overhead budget.
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    return app.resolve(event, context)
