"""`distillguard simulate`: writes the three files and refuses bad options with a clear message."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from distillguard.detector.cli import build_app

runner = CliRunner()


def test_simulate_command_writes_the_day(tmp_path):
    out = tmp_path / "day"
    res = runner.invoke(
        build_app(), ["simulate", str(out), "--seed", "3", "--scale", "0.05", "--scenario", "hard", "--redact", "0.5"]
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"] == "hard" and manifest["redact"] == 0.5 and manifest["seed"] == 3
    assert (out / "events.jsonl.gz").stat().st_size > 0 and json.loads((out / "labels.json").read_text())
    assert f"{manifest['events']:,} events" in res.output


def test_simulate_command_refuses_bad_options(tmp_path):
    for args, message in (
        (["--scale", "0"], "--scale must be > 0"),
        (["--redact", "1.5"], "--redact must be within [0, 1]"),
        (["--scenario", "easy"], "--scenario must be one of"),
        (["--days", "0.1"], "--days must be >= 0.25"),
        (["--evasive-requests", "0"], "--evasive-requests must be > 0"),
    ):
        res = runner.invoke(build_app(), ["simulate", str(tmp_path / "x"), *args])
        assert res.exit_code == 2 and message in res.output, res.output
        assert not (tmp_path / "x").exists()
