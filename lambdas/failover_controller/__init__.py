"""Failover controller: keeps the `failover-flags` AppConfig profile in line with model-health alarms.

`handler` (Lambda entry) -> `controller` (retry loop, metrics, the reconcile log line) ->
`reconcile` (pure rules) with the adapters `alarm_source` (CloudWatch) and `flag_store`
(AppConfig). `settings` validates the environment; `wiring` builds it all with boto3 clients.
"""
