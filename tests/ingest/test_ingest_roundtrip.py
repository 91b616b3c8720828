"""A simulated day written as an OpenAI-compatible request log and ingested back is the same day: the same
events field by field (but what the log shape cannot say) and, through ``distillguard detect``, the same verdicts."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from distillguard.detector.events import parse_event
from tests.ingest.shapes import openai_line

pytestmark = pytest.mark.slow

EXE = str(Path(sys.executable).with_name("distillguard"))
SCALE = "0.1"  # ~28k events, ~450 accounts, every campaign kind
SEED = "11"


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([EXE, *args], capture_output=True, input=stdin, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return proc


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("roundtrip")
    _run("simulate", str(out / "day"), "--seed", SEED, "--scale", SCALE, "--scenario", "hard")
    return out


def test_a_day_through_the_openai_log_shape_gives_the_same_events_and_verdicts(day: Path) -> None:
    original = [
        json.loads(line) for line in gzip.decompress((day / "day" / "events.jsonl.gz").read_bytes()).splitlines()
    ]
    log = b"".join(msgspec.json.encode(openai_line(ev)) + b"\n" for ev in original)
    proc = _run("ingest", "-", "--from", "openai", "--out", str(day / "ingested.jsonl.gz"), stdin=log)
    assert f"{len(original):,} events, 0 dropped" in proc.stderr.decode()

    ingested = [parse_event(line) for line in gzip.decompress((day / "ingested.jsonl.gz").read_bytes()).splitlines()]
    assert len(ingested) == len(original)
    for raw, after in zip(original, ingested, strict=True):
        before = parse_event(msgspec.json.encode(raw))
        if before.status >= 400:  # an error response reads back as the error stop reason
            assert after.stop_reason == "error"
            after = msgspec.structs.replace(after, stop_reason=before.stop_reason)
        if before.turn_index is None:  # a request always has a turn index: the user messages before its last
            assert after.turn_index == 0
            after = msgspec.structs.replace(after, turn_index=None)
        assert after == before

    for name, events in (("original", day / "day" / "events.jsonl.gz"), ("ingested", day / "ingested.jsonl.gz")):
        _run("detect", str(events), "--out", str(day / f"{name}.verdicts.jsonl"))
    verdicts = {name: (day / f"{name}.verdicts.jsonl").read_text().splitlines() for name in ("original", "ingested")}
    assert len(verdicts["original"]) > 100 and any(json.loads(v)["flagged"] for v in verdicts["original"])
    assert verdicts["ingested"] == verdicts["original"]
