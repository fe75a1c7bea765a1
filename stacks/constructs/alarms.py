"""CloudWatch alarms: per model on the router's own metrics (and AWS/Bedrock), and on the router.

Per model (key `k` of the routing configuration's catalog), names `model-router-<stage>-model-<k>-<kind>`:

* `error-rate`: Sum(ModelErrors) / calls, where calls = SampleCount(ModelLatency) (the router writes one
  ModelLatency sample per call and a ModelErrors/ModelThrottles 1 only for a failed call);
* `throttle-rate`: Sum(ModelThrottles) / calls;
* `latency-p90`: p90 of ModelLatency above the model's `latency_slo_ms`;
* `bedrock-server-errors`, `bedrock-throttles` (context `bedrock_metric_alarms`): AWS/Bedrock
  InvocationServerErrors / Invocations and InvocationThrottles / (Invocations + InvocationThrottles)
  for the model. They see every caller in the account, so they catch a service-side problem even
  while the router has already moved its own traffic away. Which `ModelId` a call through a
  cross-Region profile is published under (the profile id as called, or the foundation model) is
  not stated in the Bedrock user guide ("Monitor bedrock-runtime inference using CloudWatch
  metrics"; global cross-Region inference only says CloudWatch keeps recording in the source
  Region), so each metric is the sum over both, `ModelId` = the profile id and = its foundation
  model (metric math, FILL(m, 0) + FILL(m', 0)): whichever gets data, the alarm sees it.

The router's metrics come from `router.observability.model_attempt`: one EMF record per call
attempt with dimensions {Model, service} (EphemeralMetrics adds `service`), so the alarms use
exactly that dimension set. Each rate is metric math with a traffic guard,
`IF(calls >= alarm_min_invocations, rate, 0)`, and missing data is not breaching: a quiet model
(or one the flags have taken out of rotation) goes back to OK, which lets the failover
controller clear its flag and probe it again after the evaluation window.

These per-model alarms feed the failover controller, which finds them by their name prefix
(`model_alarm_prefix`) and reads the model back from the name (`failover_controller.alarm_names`,
the one module that builds and parses these names).
Router alarms (`model-router-<stage>-api-5xx-rate`, `-router-errors`, `-router-throttles`) and a
composite `model-router-<stage>-router-health` (5xx rate OR Lambda errors) watch the router
itself. `-routing-config-rejected` fires when routers reject the routing document AppConfig
serves them (ConfigRejected by {service, Store=routing}: they keep their last good one, so no
5xx would ever show it). The composite `model-router-<stage>-routing-rollout` (router-health OR
routing-config-rejected) is the routing environment's AppConfig monitor. A composite alarm is
INSUFFICIENT_DATA only for the moment after its creation, and AppConfig rolls a deployment back
on INSUFFICIENT_DATA as well as ALARM, so the monitor must not be a metric alarm that goes
INSUFFICIENT_DATA whenever traffic pauses.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from failover_controller.alarm_names import MODEL_ALARM_KINDS, model_alarm_name
from routing_engine.config import RoutingConfig
from routing_engine.config.geography import base_model_id

ROUTER_NAMESPACE = "ModelRouter"
ROUTER_SERVICE = "model-router"
BEDROCK_NAMESPACE = "AWS/Bedrock"
__all__ = ["MODEL_ALARM_KINDS", "RouterAlarms", "alarm_arn", "alarm_prefix", "model_alarm_prefix"]


def alarm_prefix(stage: str) -> str:
    return f"model-router-{stage}-"


def model_alarm_prefix(stage: str) -> str:
    """Every per-model alarm name starts with this; the controller's EventBridge rule matches on it."""
    return f"{alarm_prefix(stage)}model-"


def alarm_arn(scope: Construct, name: str) -> str:
    """An alarm's ARN from its (deterministic) name: usable before, and without a reference to, the alarm."""
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:{name}"


@dataclass(frozen=True)
class AlarmSettings:
    period_seconds: int
    evaluation_periods: int
    datapoints_to_alarm: int
    min_invocations: int
    error_rate: float
    throttle_rate: float
    bedrock_alarms: bool
    api_5xx_rate: float
    lambda_errors: int
    lambda_throttles: int


def model_metric(name: str, model: str, statistic: str, period: Duration) -> cw.Metric:
    return cw.Metric(
        namespace=ROUTER_NAMESPACE,
        metric_name=name,
        dimensions_map={"Model": model, "service": ROUTER_SERVICE},
        statistic=statistic,
        period=period,
    )


def store_metric(name: str, store: str, period: Duration, label: str | None = None) -> cw.Metric:
    """A fleet-wide count the router writes by {service, Store} (configuration stores, the spend table)."""
    return cw.Metric(
        namespace=ROUTER_NAMESPACE,
        metric_name=name,
        statistic="Sum",
        period=period,
        dimensions_map={"service": ROUTER_SERVICE, "Store": store},
        label=label,
    )


def bedrock_model_ids(model_id: str) -> tuple[str, ...]:
    """The `ModelId` values AWS/Bedrock may publish a call to `model_id` under: the id as called and, for a
    cross-Region profile, its foundation model."""
    base = base_model_id(model_id)
    return (model_id,) if base == model_id else (model_id, base)


def bedrock_metric(name: str, model_id: str, period: Duration) -> cw.Metric:
    return cw.Metric(
        namespace=BEDROCK_NAMESPACE,
        metric_name=name,
        dimensions_map={"ModelId": model_id},
        statistic="Sum",
        period=period,
    )


class RouterAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        config: RoutingConfig,
        settings: AlarmSettings,
        api_stage: apigw.Stage,
        router_function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.settings = settings
        self.period = Duration.seconds(settings.period_seconds)
        self.model_alarms: dict[str, cw.Alarm] = {}  # alarm name -> alarm
        for key, spec in sorted(config.models.items()):
            self._model_alarms(
                key, spec.model_id, spec.latency_slo_ms, bedrock=settings.bedrock_alarms and not spec.region
            )

        n = settings.min_invocations
        self.api_5xx = self._alarm(
            "Api5xxRate",
            "api-5xx-rate",
            cw.MathExpression(
                expression=f"IF(requests >= {n}, FILL(errors, 0) / requests, 0)",
                using_metrics={
                    "requests": api_stage.metric_count(statistic="Sum", period=self.period),
                    "errors": api_stage.metric_server_error(statistic="Sum", period=self.period),
                },
                label="API 5XX rate",
                period=self.period,
            ),
            settings.api_5xx_rate,
            "Share of API requests answered 5XX (router crash, timeout or every model failing)",
        )
        self.router_errors = self._alarm(
            "RouterErrors",
            "router-errors",
            router_function.metric_errors(statistic="Sum", period=self.period),
            settings.lambda_errors,
            "Router Lambda invocations that raised (not handled error responses)",
        )
        self.router_throttles = self._alarm(
            "RouterThrottles",
            "router-throttles",
            router_function.metric_throttles(statistic="Sum", period=self.period),
            settings.lambda_throttles,
            "Router Lambda invocations throttled by Lambda concurrency",
        )
        self.health_name = f"{alarm_prefix(stage)}router-health"
        self.health = cw.CompositeAlarm(
            self,
            "RouterHealth",
            composite_alarm_name=self.health_name,
            alarm_description="The router is failing (API 5XX rate or Lambda errors). Monitors routing rollouts: "
            "AppConfig rolls a routing deployment back while this is in ALARM.",
            alarm_rule=cw.AlarmRule.any_of(self.api_5xx, self.router_errors),
        )
        self.routing_config_rejected = self._alarm(
            "RoutingConfigRejected",
            "routing-config-rejected",
            store_metric("ConfigRejected", "routing", self.period),
            1,
            "Routers rejected the routing configuration AppConfig served (they keep their last good one)",
            evaluation_periods=1,
            datapoints_to_alarm=1,
        )
        self.rollout_name = f"{alarm_prefix(stage)}routing-rollout"
        self.rollout = cw.CompositeAlarm(
            self,
            "RoutingRollout",
            composite_alarm_name=self.rollout_name,
            alarm_description="Monitors routing rollouts: AppConfig rolls a routing deployment back while this is in "
            "ALARM (the router is failing, or routers reject the new document). Context "
            "routing_rollout_monitor=false detaches it (escape hatch).",
            alarm_rule=cw.AlarmRule.any_of(self.health, self.routing_config_rejected),
        )
        # Budgets fail open (a DynamoDB problem never fails a request), so a broken spend store is silent
        # overspending unless someone is told.
        self.spend_store_errors = self._alarm(
            "SpendStoreErrors",
            "spend-store-errors",
            store_metric("SpendStoreErrors", "spend", self.period),
            1,
            "The router could not read or record spend in the DynamoDB spend table: budgets are not enforced "
            "(requests are served, fail open) until it recovers",
        )
        self.router_alarms: list[cw.Alarm] = [
            self.api_5xx,
            self.router_errors,
            self.router_throttles,
            self.routing_config_rejected,
            self.spend_store_errors,
        ]

    def _alarm(
        self,
        construct_id: str,
        suffix: str,
        metric: cw.IMetric,
        threshold: float,
        description: str,
        *,
        model: str | None = None,
        comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods: int | None = None,
        datapoints_to_alarm: int | None = None,
    ) -> cw.Alarm:
        name = (
            model_alarm_name(model_alarm_prefix(self.stage), model, suffix)
            if model
            else f"{alarm_prefix(self.stage)}{suffix}"
        )
        alarm = cw.Alarm(
            self,
            construct_id,
            alarm_name=name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods or self.settings.evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm or self.settings.datapoints_to_alarm,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        if model is not None:
            self.model_alarms[name] = alarm
        return alarm

    def _model_alarms(self, key: str, model_id: str, slo_ms: int, *, bedrock: bool) -> None:
        s, p, n = self.settings, self.period, self.settings.min_invocations
        calls = model_metric("ModelLatency", key, "SampleCount", p)
        cid = "".join(
            part.capitalize() for part in key.replace(".", "-").replace(":", "-").replace("_", "-").split("-")
        )
        rates = (  # (construct id, name suffix, metric, metric-math id, threshold, what it measures)
            (
                "ErrorRate",
                "error-rate",
                "ModelErrors",
                "errors",
                s.error_rate,
                "share of calls failing with a retryable error (throttles excluded)",
            ),
            (
                "ThrottleRate",
                "throttle-rate",
                "ModelThrottles",
                "throttles",
                s.throttle_rate,
                "share of calls throttled (Throttling, quota, model not ready)",
            ),
        )
        for suffix, kind, metric, var, threshold, what in rates:
            self._alarm(
                f"{cid}{suffix}",
                kind,
                cw.MathExpression(
                    expression=f"IF(calls >= {n}, FILL({var}, 0) / calls, 0)",
                    using_metrics={"calls": calls, var: model_metric(metric, key, "Sum", p)},
                    label=f"{key} {kind.replace('-', ' ')}",
                    period=p,
                ),
                threshold,
                f"{key}: {what}",
                model=key,
            )
        self._alarm(
            f"{cid}LatencyP90",
            "latency-p90",
            cw.MathExpression(
                expression=f"IF(calls >= {n}, latency, 0)",
                using_metrics={"calls": calls, "latency": model_metric("ModelLatency", key, "p90", p)},
                label=f"{key} p90 latency (ms)",
                period=p,
            ),
            slo_ms,
            f"{key}: p90 call latency above its latency_slo_ms ({slo_ms} ms)",
            model=key,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        if not bedrock:
            return
        # Each metric under every ModelId a call to `model_id` may be published as (invocations0, invocations1, ...),
        # summed. Were a call counted under both, a rate would not change; only the traffic guard would trip sooner.
        ids = bedrock_model_ids(model_id)

        def summed(metric: str, var: str) -> tuple[str, dict[str, cw.IMetric]]:
            metrics: dict[str, cw.IMetric] = {f"{var}{i}": bedrock_metric(metric, m, p) for i, m in enumerate(ids)}
            return "(" + " + ".join(f"FILL({name}, 0)" for name in metrics) + ")", metrics

        invocations, inv_metrics = summed("Invocations", "invocations")
        errors, err_metrics = summed("InvocationServerErrors", "errors")
        throttles, thr_metrics = summed("InvocationThrottles", "throttles")
        named = " or ".join(ids)
        self._alarm(
            f"{cid}BedrockServerErrors",
            "bedrock-server-errors",
            cw.MathExpression(
                expression=f"IF({invocations} >= {n}, {errors} / {invocations}, 0)",
                using_metrics={**inv_metrics, **err_metrics},
                label=f"{model_id} server error rate (AWS/Bedrock)",
                period=p,
            ),
            s.error_rate,
            f"{key}: Bedrock server-side errors for {model_id}, all callers in the account (ModelId {named})",
            model=key,
        )
        self._alarm(
            f"{cid}BedrockThrottles",
            "bedrock-throttles",
            cw.MathExpression(
                expression=f"IF({invocations} + {throttles} >= {n}, {throttles} / ({invocations} + {throttles}), 0)",
                using_metrics={**inv_metrics, **thr_metrics},
                label=f"{model_id} throttle rate (AWS/Bedrock)",
                period=p,
            ),
            s.throttle_rate,
            f"{key}: Bedrock throttles for {model_id}, all callers in the account (ModelId {named})",
            model=key,
        )
