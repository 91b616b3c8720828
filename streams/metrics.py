"""Prometheus metrics of the stream worker (served by prometheus_client on ``StreamSettings.metrics_port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry()

EVENTS = Counter("distillguard_events", "Valid events consumed (rate() gives events/s).", registry=REGISTRY)
DUPLICATES = Counter(
    "distillguard_duplicate_events", "Events ignored because their event_id was already seen.", registry=REGISTRY
)
DLQ = Counter("distillguard_dlq_messages", "Messages sent to the dead-letter topic.", ["reason"], registry=REGISTRY)
LAG = Gauge("distillguard_consumer_lag", "Messages behind the end of the assigned input partitions.", registry=REGISTRY)
FLAGGED_ACCOUNTS = Gauge(
    "distillguard_flagged_accounts", "Accounts currently flagged (owned by this worker).", registry=REGISTRY
)
FLAGGED_CLUSTERS = Gauge(
    "distillguard_flagged_clusters", "Clusters currently flagged (written by this worker).", registry=REGISTRY
)
DETECTIONS = Counter(
    "distillguard_detections", "Changes written to the detections topic.", ["kind", "change"], registry=REGISTRY
)
ENFORCEMENT = Counter(
    "distillguard_enforcement_actions",
    "Automated ladder moves published to enforcement-actions (would_<rung> in shadow mode).",
    ["kind", "action"],
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "distillguard_batch_seconds",
    "Latency of one micro-batch: validate, features, scoring.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
SNAPSHOT_SECONDS = Histogram("distillguard_snapshot_seconds", "Time to write a state snapshot.", registry=REGISTRY)
# The metric names keep "db": the review database is the default sink, and dashboards and alerts use them.
SINK_ERRORS = Counter(
    "distillguard_db_write_errors", "Failed writes to the verdict sink (retried with backoff).", registry=REGISTRY
)
SINK_PENDING = Gauge(
    "distillguard_db_pending",
    "1 while the verdict sink lags the worker's verdicts after a failed write.",
    registry=REGISTRY,
)
IDLE = Gauge(
    "distillguard_idle", "1 when the worker has drained its partitions and flushed its verdicts.", registry=REGISTRY
)
PAUSED = Gauge(
    "distillguard_paused_partitions",
    "Partitions not fetched while they hold too many messages for event-time alignment.",
    registry=REGISTRY,
)
HELD = Gauge(
    "distillguard_held_messages",
    "Fetched messages held back for event-time alignment of the partitions.",
    registry=REGISTRY,
)
ACCOUNTS = Gauge(
    "distillguard_accounts_held", "Accounts the worker holds in memory (its own and absorbed ones).", registry=REGISTRY
)
ARCHIVED = Gauge(
    "distillguard_archived_accounts",
    "Accounts idle past the retention horizon, archived on disk as of the last snapshot.",
    registry=REGISTRY,
)
PARTITIONS = Gauge("distillguard_assigned_partitions", "Input partitions assigned to this worker.", registry=REGISTRY)


def serve(port: int) -> None:
    """Start the /metrics HTTP server (port 0 disables it)."""
    if port:
        start_http_server(port, addr="0.0.0.0", registry=REGISTRY)
