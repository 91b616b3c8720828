"""The atheris harness (``tests/fuzz/fuzz_parse_event.py``) runs: seeds are written and a short fuzzing
session over them finds no input that breaks the parser's contract. Skipped where atheris is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris; wheels for Linux)")

HARNESS = Path(__file__).with_name("fuzz_parse_event.py")


SEEDS = 40  # valid and as many broken seeds
RUNS = 30_000  # `make fuzz` runs a long session


def test_a_short_atheris_session_over_the_seeds_finds_no_crash(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    subprocess.run(
        [sys.executable, str(HARNESS), "--write-seeds", str(seeds), str(SEEDS)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert len(list(seeds.iterdir())) >= 2 * SEEDS
    run = subprocess.run(
        [sys.executable, str(HARNESS), str(seeds), f"-runs={RUNS}", "-max_len=65536", f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0 and f"Done {RUNS} runs" in run.stderr, run.stderr[-3000:]
    assert not list(tmp_path.glob("crash-*"))
