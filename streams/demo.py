"""``distillguard demo``: the whole product on one machine, on simulated traffic.

Starts the embedded broker, the stream worker and the review API as real processes (SQLite in the demo
directory), replays a simulated day of legit traffic with hydra and low-and-slow campaigns mixed in at
an accelerated rate, shows live progress from the worker's metrics, then prints per-campaign results
and the console URL with a ready token. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import enum
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from distillguard.streams.gateways.litellm_proxy import LiteLLMProxy

console = Console(soft_wrap=True)  # URLs and tokens must stay copyable on one line
EXE = str(Path(sys.executable).with_name("distillguard"))
REPLAY_RATE = 4000.0  # events a second produced straight to the topic
LITELLM_RATE = 150.0  # requests a second through the LiteLLM proxy, which shares two cores with the worker
PRODUCED = 'distillguard_gateway_events_total{outcome="produced"}'


class Via(enum.StrEnum):
    """How the simulated day reaches the input topic."""

    REPLAY = "replay"  # the events file produced as it is
    LITELLM = "litellm"  # each event sent as its request through a LiteLLM proxy whose callback produces it


def _metrics(port: int) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())) + "}" if s.labels else "")
            out[key] = s.value
    return out


def _argv(p: subprocess.Popen) -> list[str]:
    """The argument list a child was started with: every child here is started from a list of str
    (``Popen.args`` is typed as any accepted command form: str, bytes, a path or a sequence)."""
    if not isinstance(p.args, list):
        raise TypeError(f"child started from {type(p.args).__name__}, not an argument list")
    return p.args


def _wait(predicate, timeout: float, what: str, procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{' '.join(_argv(p)[1:3])} exited with {p.returncode} while waiting for {what}")
        time.sleep(0.3)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def _status(m: dict[str, float], sent: int, total: int, t0: float, phase: str, via: Via = Via.REPLAY) -> Table:
    t = Table(title=f"DistillGuard demo — {phase}", show_header=False, min_width=60)
    events = m.get("distillguard_events_total", 0.0)
    t.add_row("replayed" if via is Via.REPLAY else "sent through LiteLLM", f"{sent:,} / {total:,}")
    t.add_row("events scored", f"{events:,.0f} ({events / max(time.monotonic() - t0, 1e-9):,.0f}/s)")
    t.add_row("duplicates ignored", f"{m.get('distillguard_duplicate_events_total', 0):,.0f}")
    t.add_row("consumer lag", f"{m.get('distillguard_consumer_lag', 0):,.0f}")
    t.add_row("accounts flagged", f"{m.get('distillguard_flagged_accounts', 0):,.0f}")
    t.add_row("clusters flagged", f"{m.get('distillguard_flagged_clusters', 0):,.0f}")
    dlq = sum(v for k, v in m.items() if k.startswith("distillguard_dlq_messages_total"))
    t.add_row("dead-lettered", f"{dlq:,.0f}")
    return t


def demo(
    out: Annotated[Path, typer.Option("--out", help="Demo directory (database, state, logs, simulated day).")] = Path(
        "demo-out"
    ),
    scale: Annotated[
        float, typer.Option(help="Size of the simulated day (1.0 is ~250k events).", min=0.02, max=2.0)
    ] = 0.3,
    rate: Annotated[
        float | None,
        typer.Option(
            help=f"Events (requests through LiteLLM) per second; default {REPLAY_RATE:g}, through LiteLLM {LITELLM_RATE:g}.",
            min=1,
        ),
    ] = None,
    via: Annotated[
        Via,
        typer.Option(
            "--via",
            help="replay: produce the simulated day to the topic; litellm: send each event as its request through a "
            "LiteLLM proxy (mock answers) whose DistillGuard callback produces it (needs distillguard[litellm]).",
        ),
    ] = Via.REPLAY,
    seed: Annotated[int, typer.Option(help="Simulation seed (1 is the evaluation seed: never trained on).")] = 1,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Send only the first N events of the day (a short run).", min=1)
    ] = None,
    exit_when_done: Annotated[
        bool, typer.Option("--exit-when-done", help="Stop everything after the summary instead of serving the console.")
    ] = False,
) -> None:
    """Run broker, worker and API on a simulated day with attacks mixed in; summarise; serve the console.

    Through LiteLLM, event times are the proxy's clock and tokens its mock answer's, so the day is compressed into
    minutes and every answer is the same length: verdicts differ from the replay's."""
    from distillguard.detector.evaluate import evaluate, load_labels
    from distillguard.detector.events import read_events
    from distillguard.detector.records import verdict_from_json
    from distillguard.streams.broker import EmbeddedBroker, free_port
    from distillguard.streams.gateways.litellm_proxy import LiteLLMProxy
    from distillguard.streams.gateways.litellm_traffic import send_events
    from distillguard.streams.replay import replay

    out = out.resolve()
    for stale in ("demo.db", "demo.db-wal", "demo.db-shm", "state"):
        path = out / stale
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    sim = out / f"sim-s{seed}-x{scale:g}"
    if not (sim / "labels.json").exists():
        console.print(f"simulating a day (seed {seed}, scale {scale:g}) ...")
        subprocess.run(
            [EXE, "simulate", str(sim), "--seed", str(seed), "--scale", str(scale)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    events = sim / "events.jsonl.gz"
    total = min(json.loads((sim / "manifest.json").read_text())["events"], limit or sys.maxsize)

    procs: list[subprocess.Popen] = []
    broker = EmbeddedBroker(log_path=out / "broker.log")
    proxy: LiteLLMProxy | None = None
    interrupted = False

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started in the background, where SIGINT is inherited as ignored
    try:
        broker.start()
        metrics_port, api_port = free_port(), free_port()
        env = os.environ | {
            "KAFKA_BOOTSTRAP": broker.bootstrap,
            "DATABASE_URL": f"sqlite:///{out / 'demo.db'}",
            "METRICS_PORT": str(metrics_port),
            "API_PORT": str(api_port),
            "API_HOST": "127.0.0.1",
            "TOPIC_PARTITIONS": "2",
            "LOG_LEVEL": "WARNING",
        }

        def spawn(name: str, *args: str) -> subprocess.Popen:
            log = open(out / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            p = subprocess.Popen([EXE, *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(p)
            return p

        spawn("worker", "worker", "--state-dir", str(out / "state"), "--partitions", "2")
        _wait(
            lambda: (
                "distillguard_assigned_partitions" in _metrics(metrics_port)
                and _metrics(metrics_port)["distillguard_assigned_partitions"] > 0
            ),
            90,
            "the worker to join its consumer group",
            procs,
        )
        spawn("api", "api", "--port", str(api_port))
        _wait(lambda: _ok(f"http://127.0.0.1:{api_port}/health"), 60, "the review API", procs)

        if via is Via.LITELLM:
            models = sorted({e.model for e in read_events(events)})
            proxy = LiteLLMProxy(out / "litellm", models, env={"KAFKA_BOOTSTRAP": broker.bootstrap})
            console.print(f"starting a LiteLLM proxy for {len(models)} models ...")
            proxy.start()

        sent = [0]
        done = threading.Event()
        t0 = time.monotonic()

        def produce() -> None:
            try:
                if proxy is not None:
                    send_events(
                        itertools.islice(read_events(events), limit),
                        proxy.url,
                        rate or LITELLM_RATE,
                        lambda n: sent.__setitem__(0, n),
                    )
                else:
                    replay(
                        events,
                        broker.bootstrap,
                        env.get("EVENTS_TOPIC", "api-events"),
                        rate or REPLAY_RATE,
                        progress=lambda n, _b: sent.__setitem__(0, n),
                        limit=limit,
                    )
            finally:
                done.set()

        threading.Thread(target=produce, daemon=True).start()
        with Live(_status({}, 0, total, t0, "sending", via), console=console, refresh_per_second=4) as live:
            while True:
                m = _metrics(metrics_port)
                produced = _produced(proxy, sent[0])
                drained = (
                    done.is_set()
                    and m.get("distillguard_idle") == 1
                    and (
                        m.get("distillguard_events_total", 0) + m.get("distillguard_duplicate_events_total", 0)
                        >= produced
                    )
                )
                phase = "drained" if drained else "sending" if not done.is_set() else "scoring"
                live.update(_status(m, sent[0], total, t0, phase, via))
                if drained:
                    break
                for p in procs:
                    if p.poll() is not None:
                        raise RuntimeError(f"{_argv(p)[1]} exited with {p.returncode}; see {out}/{_argv(p)[1]}.log")
                time.sleep(0.5)
        elapsed = time.monotonic() - t0

        verdicts_file = out / "verdicts.jsonl"  # the review service's own commands: this layer never imports it
        subprocess.run(
            [EXE, "export-verdicts", "--out", str(verdicts_file)], env=env, check=True, capture_output=True, text=True
        )
        verdicts = [verdict_from_json(line) for line in verdicts_file.read_bytes().splitlines() if line.strip()]
        token = subprocess.run(
            [EXE, "token", "create", "--role", "lead", "--name", "demo"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        report = evaluate(load_labels(json.loads((sim / "labels.json").read_text())), verdicts, events)
        _summary(report, elapsed, total)
        console.print(
            f"\nReview console: [bold]http://127.0.0.1:{api_port}/console[/bold]   token (role lead): [bold]{token}[/bold]"
        )
        console.print(f"API: http://127.0.0.1:{api_port}/docs   logs and database: {out}")
        if not exit_when_done:
            console.print("Ctrl-C stops the broker, the worker and the API.")
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
    except subprocess.CalledProcessError as exc:
        console.print(
            f"[red]demo failed:[/red] {' '.join(exc.cmd[1:3])} exited with {exc.returncode}: {exc.stderr or ''}".rstrip()
        )
        raise typer.Exit(1) from None
    except RuntimeError as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if proxy is not None:
            proxy.stop()
        broker.stop()
        if interrupted:
            console.print("stopped broker, worker and API.")


def _produced(proxy: LiteLLMProxy | None, sent: int) -> int:
    """Events produced so far: every line replayed, or what the proxy's callback has had acknowledged once each
    request it answered is produced or counted as dropped (its Prometheus counters)."""
    if proxy is None:
        return sent
    m = proxy.metrics()
    gone = sum(v for k, v in m.items() if k.startswith("distillguard_gateway_events_total"))
    return int(m.get(PRODUCED, 0)) if gone >= sent else sys.maxsize


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _summary(report: dict, elapsed: float, total: int) -> None:
    d, peer = report["detector"], report.get("naive_peer", {})
    console.print(f"\n{total:,} events streamed and scored in {elapsed:.0f}s.")
    t = Table(title="Campaigns (requests harvested before each account's first flag)")
    for c in ("campaign", "kind", "accounts", "flagged", "requests", "harvested before flag"):
        t.add_column(c, justify="left" if c in ("campaign", "kind") else "right")
    for name, row in report["campaigns"].items():
        before = round(row.get("share_before_flag", 0) * row.get("requests", 0))
        t.add_row(
            name,
            row["kind"],
            str(row["accounts"]),
            str(row["flagged"]),
            f"{row.get('requests', 0):,}",
            f"{before:,} ({100 * row.get('share_before_flag', 0):.1f}%)",
        )
    console.print(t)
    console.print(
        f"Accounts: {d['flagged']} flagged, recall {d['recall']:.3f}, false positives {d['false_positives']} "
        f"(FPR {100 * d['fpr']:.2f}%). Naive peer (IsolationForest on aggregates): recall {peer.get('recall', 0):.3f}, "
        f"FPR {100 * peer.get('fpr', 0):.2f}%."
    )
