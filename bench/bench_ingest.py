"""``distillguard ingest`` throughput per source format, on one core, next to a plain JSON decode of the same lines.

One simulated day is written in each format ``ingest`` reads (``tests/ingest/shapes.py``: the OpenAI-compatible
request log, nginx and Envoy access logs, LiteLLM spend log rows, a log read through a mapping file). For each, in
this process pinned to one core and with the lines in memory: the CPU time of ``msgspec.json.decode`` of every line
(the cheapest thing a tool can do with the file: the baseline, in the same run) and of the ingest loop converting
every line to a validated ``api-event/v1`` line (best of ``REPEATS``). Then the real CLI on the OpenAI log, file to
file, in a pinned subprocess: lines per CPU second, start-up and gzip-free I/O included.
``BENCH_INGEST_SCALE`` sets the day's size (0.5: ~140k lines).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import psutil

from distillguard.detector.ingest.formats import FORMATS, AdapterOptions, build_adapter
from distillguard.detector.ingest.pipeline import ingest
from tests.ingest.shapes import MAPPING, envoy_line, litellm_row, mapped_line, nginx_line, openai_line

SCALE = float(os.environ.get("BENCH_INGEST_SCALE", "0.5"))
SEED = 7
REPEATS = 3
TARGET_LINES_PER_S = 100_000
WRITERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "openai": openai_line,
    "nginx": nginx_line,
    "envoy": envoy_line,
    "litellm-spend": litellm_row,
    "mapping": mapped_line,
}
PINNED_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cpu(work: Callable[[], object]) -> float:
    """The least CPU time of ``REPEATS`` runs of ``work``."""
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.process_time()
        work()
        best = min(best, time.process_time() - t0)
    return best


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _format(name: str, path: Path, mapping: Path) -> dict:
    lines = [line.rstrip(b"\n") for line in path.read_bytes().splitlines()]
    numbered = list(enumerate(lines, 1))
    adapter = build_adapter(name, AdapterOptions(mapping=mapping))
    decode = msgspec.json.decode

    def decode_all() -> None:
        for line in lines:
            decode(line)

    baseline = _cpu(decode_all)
    written: list[int] = []
    reports = []

    def run() -> None:
        written.clear()
        reports.append(ingest(numbered, adapter, lambda b: written.append(len(b))))

    seconds = _cpu(run)
    report = reports[-1]
    return {
        "lines": len(lines),
        "events": report.events,
        "dropped": report.dropped_lines,
        "bytes_per_line": round(sum(map(len, lines)) / len(lines)),
        "lines_per_s": round(len(lines) / seconds),
        "decode_lines_per_s": round(len(lines) / baseline),
        "ratio_to_decode": round(baseline / seconds, 3),
    }


def _cli(exe: str, log: Path, out: Path) -> dict:
    before = _children_cpu()
    proc = psutil.Popen(
        [exe, "ingest", str(log), "--from", "openai", "--out", str(out)],
        env=os.environ | PINNED_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    with contextlib.suppress(AttributeError, psutil.Error):
        proc.cpu_affinity([0])
    _, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"ingest failed:\n{stderr.decode()}")
    cpu = _children_cpu() - before
    lines = sum(1 for _ in log.open("rb"))
    return {"lines": lines, "cpu_seconds": round(cpu, 2), "lines_per_cpu_s": round(lines / cpu)}


def run(workdir: Path) -> dict:
    exe = str(Path(sys.executable).with_name("distillguard"))
    day = workdir / "day"
    subprocess.run(
        [exe, "simulate", str(day), "--seed", str(SEED), "--scale", f"{SCALE:g}"], check=True, stdout=subprocess.DEVNULL
    )
    with gzip.open(day / "events.jsonl.gz", "rb") as fh:
        events = [json.loads(line) for line in fh]
    mapping = workdir / "mapping.json"
    mapping.write_text(json.dumps(MAPPING))
    encode = msgspec.json.encode
    paths = {}
    for name, write in WRITERS.items():
        paths[name] = workdir / f"{name}.jsonl"
        paths[name].write_bytes(b"".join(encode(write(ev)) + b"\n" for ev in events))
    del events
    with contextlib.suppress(AttributeError, psutil.Error):
        psutil.Process().cpu_affinity([0])
    formats = {name: _format(name, paths[name], mapping) for name in FORMATS}
    return {
        "scale": SCALE,
        "seed": SEED,
        "formats": formats,
        "cli_openai": _cli(exe, paths["openai"], workdir / "events.jsonl"),
        "targets": {"lines_per_s": TARGET_LINES_PER_S},
    }
