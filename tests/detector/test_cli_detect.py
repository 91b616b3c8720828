"""`distillguard detect` / `evaluate` as a user runs them: bad lines reported, never a traceback."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from distillguard.detector.records import verdict_line
from tests.detector.conftest import SIMULATED_DAYS

pytestmark = SIMULATED_DAYS

EXE = str(Path(sys.executable).with_name("distillguard"))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)


def _with_garbage(day: Path, tmp_path: Path) -> Path:
    lines = gzip.decompress((day / "events.jsonl.gz").read_bytes()).splitlines()
    lines.insert(3, b"not json at all")
    lines.insert(10, b'{"schema_version": 1, "event_id": "x", "ts": "yesterday"}')
    out = tmp_path / "events.jsonl"
    out.write_bytes(b"\n".join(lines) + b"\n")
    return out


def test_detect_skips_malformed_lines_and_names_them(standard_day: dict, tmp_path: Path) -> None:
    events = _with_garbage(standard_day["day"], tmp_path)
    r = _run("detect", str(events), "--out", str(tmp_path / "v.jsonl"), "--clusters", str(tmp_path / "c.jsonl"))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert ":4: $: not valid JSON" in r.stderr and ":11: ts:" in r.stderr
    assert "2 malformed lines skipped" in r.stderr
    verdicts = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert {"account_id", "score", "flagged", "cluster_id", "flagged_at", "reasons"} <= set(verdicts[0])
    assert len(verdicts) == len(standard_day["verdicts"])
    flagged = {v["account_id"] for v in verdicts if v["flagged"]}
    assert flagged == {v.account_id for v in standard_day["verdicts"] if v.flagged}
    clusters = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert all({"cluster_id", "members", "score", "shared_indicators", "reasons"} <= set(c) for c in clusters)


def test_detect_strict_fails_on_the_first_bad_line(standard_day: dict, tmp_path: Path) -> None:
    events = _with_garbage(standard_day["day"], tmp_path)
    r = _run("detect", str(events), "--out", str(tmp_path / "v.jsonl"), "--strict")
    assert r.returncode == 1 and ":4:" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_reports_both_detectors(standard_day: dict, tmp_path: Path) -> None:
    day = standard_day["day"]
    shutil.copy(day / "labels.json", tmp_path / "labels.json")
    (tmp_path / "v.jsonl").write_bytes(b"".join(verdict_line(v) + b"\n" for v in standard_day["verdicts"]))
    r = _run(
        "evaluate",
        str(tmp_path / "labels.json"),
        str(tmp_path / "v.jsonl"),
        "--events",
        str(day / "events.jsonl.gz"),
        "--json",
        str(tmp_path / "r.json"),
    )
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["detector"]["recall"] > report["naive_peer"]["recall"]
    assert "naive_peer" in r.stdout


def test_bad_model_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("")
    r = _run(
        "detect",
        str(tmp_path / "e.jsonl"),
        "--out",
        str(tmp_path / "v.jsonl"),
        "--model",
        str(tmp_path / "missing.joblib"),
    )
    assert r.returncode == 2 and "model artifact not found" in r.stderr and "Traceback" not in r.stderr


def test_detect_uses_the_model_named_by_MODEL_PATH(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("")
    env = os.environ | {"MODEL_PATH": str(tmp_path / "from-env.joblib")}
    r = subprocess.run(
        [EXE, "detect", str(tmp_path / "e.jsonl"), "--out", str(tmp_path / "v.jsonl")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 2 and "from-env.joblib" in r.stderr  # the setting was used (and is missing)
