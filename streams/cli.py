"""Streaming commands of the ``distillguard`` CLI: broker, replay, worker, export-verdicts."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def broker(port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: a free one).")] = 9092) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, in memory) until interrupted."""
    from distillguard.detector.logs import configure_logging
    from distillguard.streams.broker import BrokerError, EmbeddedBroker

    configure_logging()
    b = EmbeddedBroker(port or None)
    try:
        b.start()
    except BrokerError as exc:
        _fail(str(exc))
    err.print(f"broker ready: KAFKA_BOOTSTRAP={b.bootstrap} (in-memory; Ctrl-C stops it)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if b.proc is None or b.proc.poll() is not None:
                _fail("broker exited", 1)
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()


def replay(
    events: Annotated[Path, typer.Argument(help="api-event/v1 JSON Lines (plain or gzip).", exists=True, dir_okay=False)],
    topic: Annotated[str | None, typer.Option("--topic", help="Input topic (default: EVENTS_TOPIC).")] = None,
    rate: Annotated[str, typer.Option("--rate", help="Events per second, or 'max'.")] = "max",
    bootstrap: Annotated[str | None, typer.Option("--bootstrap", help="Kafka bootstrap (default: KAFKA_BOOTSTRAP).")] = None,
) -> None:
    """Produce an event file to the input topic, keyed by account_id; report events/s.

    Lines are sent as they are (the worker validates them). A line whose account_id cannot be read (not
    JSON, nested too deep, no string id) is sent without a key, so the worker dead-letters it with its reason;
    the replay lists such lines with line number and reason. Exit 1 when the broker fails or the file cannot
    be read through (a truncated or corrupt gzip stream: the lines before it were sent)."""
    from kafka.errors import KafkaError

    from distillguard.detector.events import EventFileError
    from distillguard.detector.settings import get_settings
    from distillguard.streams.replay import ReplayError
    from distillguard.streams.replay import replay as run

    s = get_settings()
    if rate != "max":
        try:
            per_s: float | None = float(rate)
        except ValueError:
            per_s = -1.0
        if per_s is None or per_s <= 0:
            _fail(f"--rate must be a positive number or 'max', not {rate!r}")
    else:
        per_s = None
    size = events.stat().st_size
    with Progress(TextColumn("[bold]replay"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[sent]:,} events"),
                  TimeElapsedColumn(), console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task("replay", total=size, sent=0)
        try:
            rep = run(events, bootstrap or s.kafka_bootstrap, topic or s.events_topic, per_s,
                      progress=lambda n, b: bar.update(task, completed=b, sent=n))
        except KafkaError as exc:
            _fail(f"cannot produce to {bootstrap or s.kafka_bootstrap}: {exc}", 1)
        except ReplayError as exc:
            _fail(str(exc), 1)
        except EventFileError as exc:
            _fail(f"{exc}; the lines before it were sent", 1)
    for b in rep.unkeyed_lines:
        err.print(f"[yellow]no key[/yellow] {escape(f'{events}:{b.lineno}: {b.error}')}")
    unkeyed = f", {rep.unkeyed:,} without a readable account_id sent unkeyed (the worker dead-letters them)" if rep.unkeyed else ""
    resent = f", {rep.resent:,} re-sent after a failed send" if rep.resent else ""
    err.print(f"{rep.events:,} events in {rep.seconds:.1f}s ({rep.rate:,.0f} events/s{resent}{unkeyed}) -> {topic or s.events_topic}")


def worker(
    partitions: Annotated[int | None, typer.Option("--partitions", help="Partitions of the topics created at start (default: TOPIC_PARTITIONS).", min=1)] = None,
    state_dir: Annotated[Path, typer.Option("--state-dir", help="Where snapshots (detector state + offsets) are kept.")] = Path(".distillguard/state"),
    batch_size: Annotated[int, typer.Option(help="Messages per micro-batch.", min=1)] = 5000,
    snapshot_every: Annotated[float, typer.Option(help="Seconds between snapshots while busy.", min=0.1)] = 10.0,
    exit_when_idle: Annotated[float, typer.Option(help="Exit after this many seconds with nothing left to do (0: never).", min=0)] = 0.0,
    group: Annotated[str, typer.Option(help="Consumer group id.")] = "distillguard-worker",
    model: Annotated[Path | None, typer.Option("--model", help="Model artifact (default: MODEL_PATH or the packaged one).")] = None,
    no_db: Annotated[bool, typer.Option("--no-db", help="Do not write verdicts to the review database.")] = False,
) -> None:
    """Run the streaming detector (a faust-streaming app) over the input topic."""
    from distillguard.detector.logs import configure_logging
    from distillguard.detector.model import ModelError, load_model
    from distillguard.detector.settings import get_settings
    from distillguard.streams.app import run_worker
    from distillguard.streams.worker import WorkerOptions

    configure_logging()
    s = get_settings()
    try:
        m = load_model(model or s.model_path)
    except ModelError as exc:
        _fail(str(exc))
    opts = WorkerOptions(group=group, batch_size=batch_size, snapshot_every=snapshot_every, exit_when_idle=exit_when_idle,
                         state_dir=state_dir, write_db=not no_db)
    sys.exit(run_worker(s, opts, m, partitions))


def export_verdicts(
    out: Annotated[Path, typer.Option("--out", help="Write one verdict per account (detect's --out format).")],
    database_url: Annotated[str | None, typer.Option("--database-url", help="Default: DATABASE_URL.")] = None,
) -> None:
    """Write the verdicts in the review database as `detect --out` JSON Lines (to compare stream and batch)."""
    from sqlalchemy.exc import SQLAlchemyError

    from distillguard.api.database import session_scope
    from distillguard.api.detections.service import export_verdicts as fetch
    from distillguard.detector.records import verdict_line
    from distillguard.detector.settings import get_settings

    url = database_url or get_settings().database_url
    try:
        with session_scope(url) as session:
            verdicts = list(fetch(session))
    except SQLAlchemyError as exc:
        _fail(f"cannot read verdicts from the review database: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}", 1)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as fh:
            for v in verdicts:
                fh.write(verdict_line(v) + b"\n")
    except OSError as exc:
        _fail(f"cannot write {exc.filename or out}: {exc.strerror or exc}")
    err.print(f"{len(verdicts):,} verdicts ({sum(v.flagged for v in verdicts):,} flagged) -> {out}")


def register(app: typer.Typer) -> None:
    """Add the streaming commands to the root ``distillguard`` app."""
    app.command("broker")(broker)
    app.command("replay")(replay)
    app.command("worker")(worker)
    app.command("export-verdicts")(export_verdicts)
    from distillguard.streams.demo import demo

    app.command("demo")(demo)
