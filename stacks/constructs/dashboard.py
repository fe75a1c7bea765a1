"""One CloudWatch dashboard per stage: what the router is doing, and why.

Rows: traffic per route and the model mix; request latency percentiles per route and model-call
latency against each SLO; errors (by ErrorCode, per-model error/throttle rates, API 5XX); fallbacks,
estimated cost and tokens; configuration health and shadow agreement; every alarm's status; and
the failover controller's log of flag changes (which models are down, which alarms fired).
Metric dimensions are exactly those the router emits (see `router.observability`).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_logs as logs
from constructs import Construct

from routing_engine.config import RoutingConfig
from stacks.constructs.alarms import ROUTER_NAMESPACE, ROUTER_SERVICE, model_metric

WIDTH = 24
FLAG_CHANGES_QUERY = [
    "fields @timestamp, summary, down_models.0, down_models.1, firing_alarms.0, trigger, version, deployment",
    'filter message = "failover flags reconciled" and summary != "no change"',
    "sort @timestamp desc",
    "limit 50",
]
# Budgets: what each tier and caller spent, from the request lines (cost_usd of the model that answered).
COST_BY_TIER_QUERY = [
    'filter message = "request routed" and ispresent(cost_usd)',
    "stats sum(cost_usd) as usd, count(*) as requests by tier",
    "sort usd desc",
]
COST_BY_CALLER_QUERY = [
    'filter message = "request routed" and ispresent(cost_usd)',
    "stats sum(cost_usd) as usd, count(*) as requests by caller, tier",
    "sort usd desc",
    "limit 25",
]
CONTROLLER_ERRORS_QUERY = [
    "fields @timestamp, message, error, trigger, attempt",
    'filter level = "ERROR" or level = "WARNING"',
    "sort @timestamp desc",
    "limit 20",
]


def _route_metric(name: str, route: str, statistic: str, period: Duration) -> cw.Metric:
    return cw.Metric(namespace=ROUTER_NAMESPACE, metric_name=name,
                     dimensions_map={"Route": route, "service": ROUTER_SERVICE},
                     statistic=statistic, period=period, label=route)


def _by_model(name: str, model: str, statistic: str, period: Duration) -> cw.Metric:
    # The per-request {service, Model} dimension set: the model that answered.
    return cw.Metric(namespace=ROUTER_NAMESPACE, metric_name=name,
                     dimensions_map={"Model": model, "service": ROUTER_SERVICE},
                     statistic=statistic, period=period, label=model)


class RouterDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        config: RoutingConfig,
        api_stage: apigw.Stage,
        alarms: Sequence[cw.IAlarm],
        controller_log_group: logs.ILogGroup,
        router_log_group: logs.ILogGroup | None = None,
        period: Duration = Duration.minutes(1),
    ) -> None:
        super().__init__(scope, construct_id)
        routes = config.route_names()
        models = sorted(config.models)
        p = period
        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"model-router-{stage}",
                                      default_interval=Duration.hours(3))
        d = self.dashboard
        d.add_widgets(cw.TextWidget(
            width=WIDTH, height=2,
            markdown=f"## Model router `{stage}`\nRoutes: {', '.join(routes)}. Models: {', '.join(models)}. "
            "A model flagged `down` in the `failover-flags` profile is skipped; the controller's log below says "
            "which alarms took it down. Alarm names start with `model-router-" + stage + "-`.",
        ))
        d.add_widgets(
            cw.GraphWidget(title="Requests per route", width=8, stacked=True,
                           left=[_route_metric("Requests", r, "Sum", p) for r in routes]),
            cw.GraphWidget(title="Model mix (requests answered per model)", width=8, stacked=True,
                           left=[_by_model("Requests", m, "Sum", p) for m in models]),
            cw.GraphWidget(title="Model calls (attempts, fallbacks included)", width=8, stacked=True,
                           left=[model_metric("ModelLatency", m, "SampleCount", p).with_(label=m) for m in models]),
        )
        d.add_widgets(*[
            cw.GraphWidget(title=f"Request latency {stat} per route (ms)", width=8,
                           left=[_route_metric("RequestLatency", r, stat, p) for r in routes])
            for stat in ("p50", "p90", "p99")
        ])
        d.add_widgets(*[
            cw.GraphWidget(
                title=f"{m}: call latency p50/p90/p99 (ms), SLO {spec.latency_slo_ms}", width=max(4, WIDTH // max(1, len(models))),
                left=[model_metric("ModelLatency", m, stat, p).with_(label=stat) for stat in ("p50", "p90", "p99")],
                left_annotations=[cw.HorizontalAnnotation(value=spec.latency_slo_ms, label="SLO")],
            )
            for m, spec in sorted(config.models.items())
        ])
        d.add_widgets(
            cw.GraphWidget(
                title="Request errors by ErrorCode", width=8, stacked=True,
                left=[cw.MathExpression(
                    expression=f"SEARCH('{{{ROUTER_NAMESPACE},ErrorCode,service}} MetricName=\"RequestErrors\" "
                    f"service=\"{ROUTER_SERVICE}\"', 'Sum', {int(p.to_seconds())})",
                    period=p,
                )],
            ),
            cw.GraphWidget(
                title="Model errors and throttles (calls)", width=8,
                left=[model_metric("ModelErrors", m, "Sum", p).with_(label=f"{m} errors") for m in models]
                + [model_metric("ModelThrottles", m, "Sum", p).with_(label=f"{m} throttles") for m in models],
            ),
            cw.GraphWidget(
                title="API Gateway 4XX / 5XX", width=8,
                left=[api_stage.metric_client_error(statistic="Sum", period=p, label="4XX"),
                      api_stage.metric_server_error(statistic="Sum", period=p, label="5XX")],
                right=[api_stage.metric_count(statistic="Sum", period=p, label="requests")],
            ),
        )
        d.add_widgets(
            cw.GraphWidget(title="Time to first token p50 / p90 per answering model (ms, streamed requests)",
                           width=12,
                           left=[_by_model("TimeToFirstToken", m, stat, p).with_(label=f"{m} {stat}")
                                 for m in models for stat in ("p50", "p90")]),
            cw.GraphWidget(title="Access denied per model (needs model access or a Marketplace subscription), "
                           "client disconnects", width=12,
                           left=[model_metric("ModelAccessDenied", m, "Sum", p).with_(label=m) for m in models],
                           right=[_by_model("ClientDisconnects", m, "Sum", p).with_(label=f"{m} disconnects")
                                  for m in models]),
        )
        d.add_widgets(
            cw.GraphWidget(title="Fallbacks per route", width=8, stacked=True,
                           left=[_route_metric("Fallbacks", r, "Sum", p) for r in routes]),
            cw.GraphWidget(title="Estimated cost (USD) per model", width=8, stacked=True,
                           left=[_by_model("EstimatedCostUSD", m, "Sum", p) for m in models]),
            cw.GraphWidget(title="Tokens per route (input left, output right)", width=8,
                           left=[_route_metric("InputTokens", r, "Sum", p) for r in routes],
                           right=[_route_metric("OutputTokens", r, "Sum", p) for r in routes]),
        )
        shadow_routes = [r for r, spec in sorted(config.routes.items()) if spec.mode == "shadow"]
        store_metric = dict(namespace=ROUTER_NAMESPACE, statistic="Sum", period=p)
        d.add_widgets(
            cw.GraphWidget(
                title="Configuration rejected / fetch failed (router kept its last good one)", width=12,
                left=[cw.Metric(metric_name=name, dimensions_map={"service": ROUTER_SERVICE, "Store": store},
                                label=f"{name} {store}", **store_metric)
                      for name in ("ConfigRejected", "ConfigFetchFailed") for store in ("routing", "failover-flags")],
            ),
            cw.GraphWidget(
                title="Shadow routes: agreement with the static choice, cost delta (USD)", width=12,
                left=[cw.Metric(namespace=ROUTER_NAMESPACE, metric_name="ShadowAgreement", statistic="Average",
                                dimensions_map={"service": ROUTER_SERVICE, "Route": r}, period=p, label=f"{r} agreement")
                      for r in shadow_routes],
                right=[cw.Metric(namespace=ROUTER_NAMESPACE, metric_name="ShadowCostDeltaUSD", statistic="Sum",
                                 dimensions_map={"service": ROUTER_SERVICE, "Route": r}, period=p, label=f"{r} cost delta")
                       for r in shadow_routes],
            ),
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Budgets: requests refused or steered to cheaper models; spend store errors (fail open)",
                width=8 if router_log_group is not None else WIDTH,
                left=[cw.MathExpression(
                    expression=f"SEARCH('{{{ROUTER_NAMESPACE},Route,service}} MetricName=\"{name}\" "
                    f"service=\"{ROUTER_SERVICE}\"', 'Sum', {int(p.to_seconds())})", period=p, label=name)
                    for name in ("BudgetRejected", "BudgetSoftLimited")],
                right=[cw.Metric(metric_name="SpendStoreErrors", label="SpendStoreErrors",
                                 dimensions_map={"service": ROUTER_SERVICE, "Store": "spend"}, **store_metric)],
            ),
            *([cw.LogQueryWidget(title="Cost per tier (USD, dashboard period)", width=8, height=6,
                                 log_group_names=[router_log_group.log_group_name], query_lines=COST_BY_TIER_QUERY),
               cw.LogQueryWidget(title="Cost per caller (USD, top 25)", width=8, height=6,
                                 log_group_names=[router_log_group.log_group_name], query_lines=COST_BY_CALLER_QUERY)]
              if router_log_group is not None else []),
        )
        d.add_widgets(cw.AlarmStatusWidget(title="Alarms", width=WIDTH, height=8, alarms=list(alarms)))
        d.add_widgets(
            cw.LogQueryWidget(title="Failover flag changes (failover controller)", width=16, height=8,
                              log_group_names=[controller_log_group.log_group_name], query_lines=FLAG_CHANGES_QUERY),
            cw.LogQueryWidget(title="Failover controller errors and conflicts", width=8, height=8,
                              log_group_names=[controller_log_group.log_group_name],
                              query_lines=CONTROLLER_ERRORS_QUERY),
        )
