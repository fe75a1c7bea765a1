"""One CloudWatch dashboard per stage: what the router is doing, and why.

Rows: traffic per route and the model mix; request latency percentiles per route and model-call
latency against each SLO; errors (by ErrorCode, per-model error/throttle rates, API 5XX); fallbacks,
estimated cost and tokens; configuration health and shadow agreement; the label loop (samples,
labels, judged win rates, label spend against each daily budget, training runs, the scorer version
serving each route); every alarm's status; and the failover controller's log of flag changes
(which models are down, which alarms fired).
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
from stacks.constructs.alarms import ROUTER_NAMESPACE, ROUTER_SERVICE, model_metric, store_metric
from stacks.constructs.label_loop import LabelLoop

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


# The label loop: which scorer version served each route (the request lines carry route and scorer_version).
SCORER_VERSION_QUERY = [
    "fields route, scorer_version",
    'filter message = "request routed" and ispresent(scorer_version)',
    "stats count(*) as requests by route, scorer_version",
    "sort route asc, requests desc",
]


def _search(metric: str, dimensions: Sequence[str], statistic: str, period: Duration) -> cw.MathExpression:
    """Every series of `metric` with exactly `dimensions` (+ service), whoever wrote it: routes labelled only
    through AppConfig show too. Each series is labelled with its own dimension values (a dynamic label)."""
    schema = ",".join([ROUTER_NAMESPACE, *sorted([*dimensions, "service"])])
    return cw.MathExpression(
        expression=f"SEARCH('{{{schema}}} MetricName=\"{metric}\"', '{statistic}', {int(period.to_seconds())})",
        period=period,
        label=" ".join(f"${{PROP('Dim.{d}')}}" for d in dimensions),
    )


def label_loop_widgets(
    label_loop: LabelLoop, config: RoutingConfig, period: Duration, router_log_group: logs.ILogGroup | None
) -> list[list[cw.IWidget]]:
    """Rows of the label loop: samples, labels, judged win rates, spend against the budget, training, scorers."""
    p, day = period, Duration.days(1)
    budgets = [
        cw.HorizontalAnnotation(value=labelling.daily_budget_usd, label=f"{name} daily budget")
        for name, route in sorted(config.routes.items())
        if (labelling := getattr(route, "labelling", None)) is not None
    ]
    rows: list[list[cw.IWidget]] = [
        [
            cw.TextWidget(
                width=WIDTH,
                height=1,
                markdown="### Label loop: sampled requests, judged labels, scorer "
                "training (routes opt in with `labelling`)",
            ),
        ],
        [
            cw.GraphWidget(
                title="Label samples by outcome (router: queued, sent, failed, too large)",
                width=8,
                stacked=True,
                left=[_search("LabelSamples", ["Outcome"], "Sum", p)],
            ),
            cw.GraphWidget(
                title="Labels stored per route; skipped by reason (right)",
                width=8,
                left=[_search("LabelsStored", ["Route"], "Sum", p)],
                right=[_search("LabelsSkipped", ["Route", "Reason"], "Sum", p)],
            ),
            cw.GraphWidget(
                title="Judged strong-win rate per route and pair (weak>strong)",
                width=8,
                left=[_search("StrongWinRate", ["Route", "Pair"], "Average", p)],
                left_y_axis=cw.YAxisProps(min=0, max=1),
            ),
        ],
        [
            cw.GraphWidget(
                title="Label spend per route per UTC day (USD) against each daily budget",
                width=8,
                period=day,
                left=[_search("LabelSpendUSD", ["Route"], "Sum", day)],
                left_annotations=budgets,
            ),
            cw.GraphWidget(
                title="Scorer training runs per route by outcome (proposed, deployed, not better, too few)",
                width=8,
                period=day,
                stacked=True,
                left=[_search("ScorerTrainingRuns", ["Route", "Outcome"], "Sum", day)],
            ),
            cw.GraphWidget(
                title="Label queue: waiting, oldest (s, right); dead letters",
                width=8,
                left=[
                    label_loop.queue.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=p, label="waiting"
                    ),
                    label_loop.dead_letters.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=p, label="dead letters"
                    ),
                ],
                right=[
                    label_loop.queue.metric_approximate_age_of_oldest_message(
                        statistic="Maximum", period=p, label="oldest (s)"
                    )
                ],
            ),
        ],
    ]
    if router_log_group is not None:
        rows.append(
            [
                cw.LogQueryWidget(
                    title="Scorer version serving each route (requests, dashboard period)",
                    width=WIDTH,
                    height=6,
                    log_group_names=[router_log_group.log_group_name],
                    query_lines=SCORER_VERSION_QUERY,
                )
            ]
        )
    return rows


def _route_metric(name: str, route: str, statistic: str, period: Duration) -> cw.Metric:
    return cw.Metric(
        namespace=ROUTER_NAMESPACE,
        metric_name=name,
        dimensions_map={"Route": route, "service": ROUTER_SERVICE},
        statistic=statistic,
        period=period,
        label=route,
    )


def _by_model(name: str, model: str, statistic: str, period: Duration) -> cw.Metric:
    # The per-request {service, Model} dimension set: the model that answered.
    return cw.Metric(
        namespace=ROUTER_NAMESPACE,
        metric_name=name,
        dimensions_map={"Model": model, "service": ROUTER_SERVICE},
        statistic=statistic,
        period=period,
        label=model,
    )


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
        label_loop: LabelLoop | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        routes = config.route_names()
        models = sorted(config.models)
        p = period
        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=f"model-router-{stage}", default_interval=Duration.hours(3)
        )
        d = self.dashboard
        d.add_widgets(
            cw.TextWidget(
                width=WIDTH,
                height=2,
                markdown=f"## Model router `{stage}`\nRoutes: {', '.join(routes)}. Models: {', '.join(models)}. "
                "A model flagged `down` in the `failover-flags` profile is skipped; the controller's log below says "
                "which alarms took it down. Alarm names start with `model-router-" + stage + "-`.",
            )
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Requests per route",
                width=8,
                stacked=True,
                left=[_route_metric("Requests", r, "Sum", p) for r in routes],
            ),
            cw.GraphWidget(
                title="Model mix (requests answered per model)",
                width=8,
                stacked=True,
                left=[_by_model("Requests", m, "Sum", p) for m in models],
            ),
            cw.GraphWidget(
                title="Model calls (attempts, fallbacks included)",
                width=8,
                stacked=True,
                left=[model_metric("ModelLatency", m, "SampleCount", p).with_(label=m) for m in models],
            ),
        )
        d.add_widgets(
            *[
                cw.GraphWidget(
                    title=f"Request latency {stat} per route (ms)",
                    width=8,
                    left=[_route_metric("RequestLatency", r, stat, p) for r in routes],
                )
                for stat in ("p50", "p90", "p99")
            ]
        )
        d.add_widgets(
            *[
                cw.GraphWidget(
                    title=f"{m}: call latency p50/p90/p99 (ms), SLO {spec.latency_slo_ms}",
                    width=max(4, WIDTH // max(1, len(models))),
                    left=[model_metric("ModelLatency", m, stat, p).with_(label=stat) for stat in ("p50", "p90", "p99")],
                    left_annotations=[cw.HorizontalAnnotation(value=spec.latency_slo_ms, label="SLO")],
                )
                for m, spec in sorted(config.models.items())
            ]
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Request errors by ErrorCode",
                width=8,
                stacked=True,
                left=[
                    cw.MathExpression(
                        expression=f'SEARCH(\'{{{ROUTER_NAMESPACE},ErrorCode,service}} MetricName="RequestErrors" '
                        f"service=\"{ROUTER_SERVICE}\"', 'Sum', {int(p.to_seconds())})",
                        period=p,
                    )
                ],
            ),
            cw.GraphWidget(
                title="Model errors and throttles (calls)",
                width=8,
                left=[model_metric("ModelErrors", m, "Sum", p).with_(label=f"{m} errors") for m in models]
                + [model_metric("ModelThrottles", m, "Sum", p).with_(label=f"{m} throttles") for m in models],
            ),
            cw.GraphWidget(
                title="API Gateway 4XX / 5XX",
                width=8,
                left=[
                    api_stage.metric_client_error(statistic="Sum", period=p, label="4XX"),
                    api_stage.metric_server_error(statistic="Sum", period=p, label="5XX"),
                ],
                right=[api_stage.metric_count(statistic="Sum", period=p, label="requests")],
            ),
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Time to first token p50 / p90 per answering model (ms, streamed requests)",
                width=12,
                left=[
                    _by_model("TimeToFirstToken", m, stat, p).with_(label=f"{m} {stat}")
                    for m in models
                    for stat in ("p50", "p90")
                ],
            ),
            cw.GraphWidget(
                title="Access denied per model (needs model access or a Marketplace subscription), client disconnects",
                width=12,
                left=[model_metric("ModelAccessDenied", m, "Sum", p).with_(label=m) for m in models],
                right=[_by_model("ClientDisconnects", m, "Sum", p).with_(label=f"{m} disconnects") for m in models],
            ),
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Fallbacks per route",
                width=8,
                stacked=True,
                left=[_route_metric("Fallbacks", r, "Sum", p) for r in routes],
            ),
            cw.GraphWidget(
                title="Estimated cost (USD) per model",
                width=8,
                stacked=True,
                left=[_by_model("EstimatedCostUSD", m, "Sum", p) for m in models],
            ),
            cw.GraphWidget(
                title="Tokens per route (input left, output right)",
                width=8,
                left=[_route_metric("InputTokens", r, "Sum", p) for r in routes],
                right=[_route_metric("OutputTokens", r, "Sum", p) for r in routes],
            ),
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Prompt-cache tokens per route (read from the cache left, written to it right)",
                width=24,
                left=[_route_metric("CacheReadInputTokens", r, "Sum", p) for r in routes],
                right=[_route_metric("CacheWriteInputTokens", r, "Sum", p) for r in routes],
            ),
        )
        shadow_routes = [r for r, spec in sorted(config.routes.items()) if spec.mode == "shadow"]
        d.add_widgets(
            cw.GraphWidget(
                title="Configuration rejected / fetch failed (router kept its last good one)",
                width=12,
                left=[
                    store_metric(name, store, p, label=f"{name} {store}")
                    for name in ("ConfigRejected", "ConfigFetchFailed")
                    for store in ("routing", "failover-flags")
                ],
            ),
            cw.GraphWidget(
                title="Shadow routes: agreement with the static choice, cost delta (USD)",
                width=12,
                left=[
                    cw.Metric(
                        namespace=ROUTER_NAMESPACE,
                        metric_name="ShadowAgreement",
                        statistic="Average",
                        dimensions_map={"service": ROUTER_SERVICE, "Route": r},
                        period=p,
                        label=f"{r} agreement",
                    )
                    for r in shadow_routes
                ],
                right=[
                    cw.Metric(
                        namespace=ROUTER_NAMESPACE,
                        metric_name="ShadowCostDeltaUSD",
                        statistic="Sum",
                        dimensions_map={"service": ROUTER_SERVICE, "Route": r},
                        period=p,
                        label=f"{r} cost delta",
                    )
                    for r in shadow_routes
                ],
            ),
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Budgets: requests refused or steered to cheaper models; spend store errors (fail open)",
                width=8 if router_log_group is not None else WIDTH,
                left=[
                    cw.MathExpression(
                        expression=f'SEARCH(\'{{{ROUTER_NAMESPACE},Route,service}} MetricName="{name}" '
                        f"service=\"{ROUTER_SERVICE}\"', 'Sum', {int(p.to_seconds())})",
                        period=p,
                        label=name,
                    )
                    for name in ("BudgetRejected", "BudgetSoftLimited")
                ],
                right=[store_metric("SpendStoreErrors", "spend", p, label="SpendStoreErrors")],
            ),
            *(
                [
                    cw.LogQueryWidget(
                        title="Cost per tier (USD, dashboard period)",
                        width=8,
                        height=6,
                        log_group_names=[router_log_group.log_group_name],
                        query_lines=COST_BY_TIER_QUERY,
                    ),
                    cw.LogQueryWidget(
                        title="Cost per caller (USD, top 25)",
                        width=8,
                        height=6,
                        log_group_names=[router_log_group.log_group_name],
                        query_lines=COST_BY_CALLER_QUERY,
                    ),
                ]
                if router_log_group is not None
                else []
            ),
        )
        if label_loop is not None:
            for row in label_loop_widgets(label_loop, config, p, router_log_group):
                d.add_widgets(*row)
        d.add_widgets(cw.AlarmStatusWidget(title="Alarms", width=WIDTH, height=8, alarms=list(alarms)))
        d.add_widgets(
            cw.LogQueryWidget(
                title="Failover flag changes (failover controller)",
                width=16,
                height=8,
                log_group_names=[controller_log_group.log_group_name],
                query_lines=FLAG_CHANGES_QUERY,
            ),
            cw.LogQueryWidget(
                title="Failover controller errors and conflicts",
                width=8,
                height=8,
                log_group_names=[controller_log_group.log_group_name],
                query_lines=CONTROLLER_ERRORS_QUERY,
            ),
        )
