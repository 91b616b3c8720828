"""Streaming commands of the ``distillguard`` CLI: broker, replay, worker, demo (see :func:`commands`)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import DownloadColumn, TextColumn

from distillguard.detector.cli import LayerCommand
from distillguard.detector.terminal import err, fail, note, progress
from distillguard.streams.demo import demo

REVIEW_DB_SINK = "review-db"


def broker(port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: a free one).")] = 9092) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, in memory) until interrupted."""
    from distillguard.detector.logs import configure_logging
    from distillguard.streams.broker import BrokerError, EmbeddedBroker

    configure_logging()
    b = EmbeddedBroker(port or None)
    try:
        b.start()
    except BrokerError as exc:
        fail(str(exc))
    err.print(f"broker ready: KAFKA_BOOTSTRAP={b.bootstrap} (in-memory; Ctrl-C stops it)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if b.proc is None or b.proc.poll() is not None:
                fail("broker exited", 1)
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()


def replay(
    events: Annotated[
        Path, typer.Argument(help="api-event/v1 JSON Lines (plain or gzip).", exists=True, dir_okay=False)
    ],
    topic: Annotated[str | None, typer.Option("--topic", help="Input topic (default: EVENTS_TOPIC).")] = None,
    rate: Annotated[str, typer.Option("--rate", help="Events per second, or 'max'.")] = "max",
    bootstrap: Annotated[
        str | None, typer.Option("--bootstrap", help="Kafka bootstrap (default: KAFKA_BOOTSTRAP).")
    ] = None,
) -> None:
    """Produce an event file to the input topic, keyed by account_id; report events/s.

    Lines are sent as they are (the worker validates them). A line whose account_id cannot be read (not
    JSON, nested too deep, no string id) is sent without a key, so the worker dead-letters it with its reason;
    the replay lists such lines with line number and reason. Exit 1 when the broker fails or the file cannot
    be read through (a truncated or corrupt gzip stream: the lines before it were sent)."""
    from kafka.errors import KafkaError

    from distillguard.detector.events import EventFileError
    from distillguard.streams.replay import ReplayError
    from distillguard.streams.replay import replay as run
    from distillguard.streams.settings import get_stream_settings

    s = get_stream_settings()
    if rate != "max":
        try:
            per_s: float | None = float(rate)
        except ValueError:
            per_s = -1.0
        if per_s is None or per_s <= 0:
            fail(f"--rate must be a positive number or 'max', not {rate!r}")
    else:
        per_s = None
    size = events.stat().st_size
    with progress("replay", DownloadColumn(), TextColumn("{task.fields[sent]:,} events")) as bar:
        task = bar.add_task("replay", total=size, sent=0)
        try:
            rep = run(
                events,
                bootstrap or s.kafka_bootstrap,
                topic or s.events_topic,
                per_s,
                progress=lambda n, b: bar.update(task, completed=b, sent=n),
            )
        except KafkaError as exc:
            fail(f"cannot produce to {bootstrap or s.kafka_bootstrap}: {exc}", 1)
        except ReplayError as exc:
            fail(str(exc), 1)
        except EventFileError as exc:
            fail(f"{exc}; the lines before it were sent", 1)
    for b in rep.unkeyed_lines:
        note("no key", "yellow", f"{events}:{b.lineno}: {b.error}")
    unkeyed = (
        f", {rep.unkeyed:,} without a readable account_id sent unkeyed (the worker dead-letters them)"
        if rep.unkeyed
        else ""
    )
    resent = f", {rep.resent:,} re-sent after a failed send" if rep.resent else ""
    err.print(
        f"{rep.events:,} events in {rep.seconds:.1f}s ({rep.rate:,.0f} events/s{resent}{unkeyed}) -> {topic or s.events_topic}"
    )


def worker(
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions", help="Partitions of the topics created at start (default: TOPIC_PARTITIONS).", min=1
        ),
    ] = None,
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Where snapshots (detector state + offsets) are kept.")
    ] = Path(".distillguard/state"),
    batch_size: Annotated[int, typer.Option(help="Messages per micro-batch.", min=1)] = 5000,
    snapshot_every: Annotated[float, typer.Option(help="Seconds between snapshots while busy.", min=0.1)] = 10.0,
    exit_when_idle: Annotated[
        float, typer.Option(help="Exit after this many seconds with nothing left to do (0: never).", min=0)
    ] = 0.0,
    align_max_wait: Annotated[
        float | None,
        typer.Option(
            help="Seconds (wall time) a partition with unread messages may deliver nothing before the others stop "
            "waiting for it in event-time alignment (default: the worker's ALIGN_MAX_WAIT_S, 5).",
            min=0.1,
        ),
    ] = None,
    group: Annotated[str, typer.Option(help="Consumer group id.")] = "distillguard-worker",
    model: Annotated[
        Path | None, typer.Option("--model", help="Model artifact (default: MODEL_PATH or the packaged one).")
    ] = None,
    sink: Annotated[
        str,
        typer.Option(
            "--sink",
            help=f"Where verdicts go: {REVIEW_DB_SINK} (DATABASE_URL; needs distillguard[api]), jsonl:PATH, or none.",
        ),
    ] = REVIEW_DB_SINK,
) -> None:
    """Run the streaming detector (a faust-streaming app) over the input topic."""
    from distillguard.detector.logs import configure_logging
    from distillguard.detector.model import ModelError, load_model
    from distillguard.detector.policy import PolicyError, load_policy
    from distillguard.detector.settings import get_settings
    from distillguard.streams.app import run_worker
    from distillguard.streams.settings import get_stream_settings
    from distillguard.streams.sinks import SinkUnavailableError, open_sink
    from distillguard.streams.worker import WorkerOptions

    configure_logging()
    core = get_settings()
    try:
        m = load_model(model or core.model_path)
    except ModelError as exc:
        fail(str(exc))
    settings = get_stream_settings()
    try:
        policy = load_policy(settings.policy_path)
    except PolicyError as exc:
        fail(str(exc))
    try:
        verdict_sink = open_sink(sink)
    except SinkUnavailableError as exc:
        hint = " (pip install 'distillguard[api]', or --sink none / jsonl:PATH)" if sink == REVIEW_DB_SINK else ""
        fail(f"{exc}{hint}")
    opts = WorkerOptions(
        group=group,
        batch_size=batch_size,
        snapshot_every=snapshot_every,
        exit_when_idle=exit_when_idle,
        state_dir=state_dir,
        window_minutes=core.window_minutes,
        policy=policy,
        retention_hours=core.retention_hours or None,
    )
    if align_max_wait is not None:
        opts.align_max_wait = align_max_wait
    sys.exit(run_worker(settings, opts, m, verdict_sink, partitions))


def commands() -> list[LayerCommand]:
    """The ``distillguard.commands`` entry point: the streaming commands and what they need."""
    return [
        LayerCommand("broker", broker, "the embedded broker", ("stream",)),
        LayerCommand("replay", replay, "replay", ("stream",)),
        LayerCommand("worker", worker, "the stream worker", ("stream",)),
        LayerCommand("demo", demo, "the demo", ("stream", "api")),
    ]
