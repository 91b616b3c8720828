"""`distillguard demo` end to end: real broker, worker and API; a summary; nothing left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

EXE = str(Path(sys.executable).with_name("distillguard"))


@pytest.mark.slow
def test_demo_runs_summarises_and_stops_everything(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = os.environ | {"COLUMNS": "200"}
    r = subprocess.run(
        [EXE, "demo", "--out", str(out), "--scale", "0.05", "--exit-when-done"],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "hydra-1" in r.stdout and "harvested before flag" in r.stdout
    assert "/console" in r.stdout and "token (role lead): dg_" in r.stdout
    leftovers = [
        p.info for p in psutil.process_iter(["pid", "cmdline"]) if any(str(out) in a for a in (p.info["cmdline"] or []))
    ]
    assert leftovers == []
    assert (out / "demo.db").exists() and (out / "worker.log").exists()


@pytest.mark.slow
def test_demo_ctrl_c_stops_everything(tmp_path: Path) -> None:
    """While serving the console, Ctrl-C (SIGINT) stops the broker, the worker and the API, and the demo exits."""
    out = tmp_path / "demo"
    p = subprocess.Popen(
        [EXE, "demo", "--out", str(out), "--scale", "0.03"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
        start_new_session=True,
    )
    try:
        lines = []
        for line in p.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "Ctrl-C stops" in line:
                break
        assert any("/console" in line for line in lines), "".join(lines[-40:])
        children = psutil.Process(p.pid).children(recursive=True)
        assert len(children) >= 3  # broker, worker, API
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert "stopped broker, worker and API." in rest
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []


@pytest.mark.slow
@pytest.mark.broker
def test_demo_via_litellm_sends_each_event_through_the_proxy_and_the_worker_scores_them(tmp_path: Path) -> None:
    """`--via litellm`: the first 600 simulated events go as requests through a real LiteLLM proxy whose callback
    produces them; the worker scores every one (the verdicts count 600 requests) and nothing is left running."""
    out = tmp_path / "demo"
    r = subprocess.run(
        [EXE, "demo", "--out", str(out), "--scale", "0.02", "--via", "litellm", "--limit", "600", "--exit-when-done"],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | {"COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "sent through LiteLLM" in r.stdout and "600 / 600" in r.stdout and "hydra-1" in r.stdout
    (proxy_log,) = (out / "litellm").glob("litellm-*.log")
    assert proxy_log.read_text().count('"POST /v1/chat/completions HTTP/1.1" 200') == 600
    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines() if line.strip()]
    assert sum(v["n_requests"] for v in verdicts) == 600
    leftovers = [
        p.info for p in psutil.process_iter(["pid", "cmdline"]) if any(str(out) in a for a in (p.info["cmdline"] or []))
    ]
    assert leftovers == []
