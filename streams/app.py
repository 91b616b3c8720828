"""The faust-streaming application that hosts the stream worker.

faust provides the process: service lifecycle, signal handling, graceful shutdown, logging. The input
is consumed by :class:`~streams.worker.StreamWorker` in micro-batches straight from the aiokafka consumer
(faust's per-message stream path costs more per event than the whole detector; see the README).
"""

from __future__ import annotations

import logging
import os
import signal

import faust

from distillguard.detector.logs import get_logger
from distillguard.detector.model import DetectionModel
from distillguard.streams import metrics
from distillguard.streams.admin import ensure_topics, topic_specs
from distillguard.streams.settings import StreamSettings
from distillguard.streams.sinks import VerdictSink
from distillguard.streams.worker import StreamWorker, WorkerOptions

log = get_logger("app")


def build_app(settings: StreamSettings, options: WorkerOptions, model: DetectionModel, sink: VerdictSink) -> faust.App:
    """A faust app whose one task runs the batch worker (writing verdicts to ``sink``) until it stops."""
    app = faust.App(
        f"{options.group}-host",
        broker=f"kafka://{settings.kafka_bootstrap}",
        web_enabled=False,
        datadir=str(options.state_dir / "faust"),
        topic_allow_declare=False,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=6,
        consumer_auto_offset_reset="earliest",
    )
    worker = StreamWorker(settings, options, model, sink)

    @app.task
    async def consume() -> None:
        try:
            await worker.run()
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the faust worker stops the app gracefully

    return app


def run_worker(
    settings: StreamSettings,
    options: WorkerOptions,
    model: DetectionModel,
    sink: VerdictSink,
    partitions: int | None = None,
) -> int:
    """Create the topics, serve metrics, run the faust worker; return the exit code."""
    ensure_topics(settings.kafka_bootstrap, topic_specs(settings, partitions))
    metrics.serve(settings.metrics_port)
    app = build_app(settings, options, model, sink)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
    w = faust.Worker(
        app, loglevel="warn" if level not in ("debug", "info") else level, quiet=True, redirect_stdouts=False
    )
    try:
        w.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
