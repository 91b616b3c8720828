"""``pip install distillguard`` without extras: the CLI builds, ``simulate``, ``detect`` and ``ingest`` run and
``import distillguard as dg`` works with the stream and API dependencies unimportable, and the commands
of the missing layers name the extra to install.

A fresh interpreter blocks those dependencies (``sys.modules[name] = None`` makes their import fail), so
this runs in the development environment, where they are installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from distillguard.detector.cli import EXIT_MISSING_EXTRA, EXTRA_MODULES

BLOCKED = sorted({m for modules in EXTRA_MODULES.values() for m in modules} | {"faust", "starlette", "psycopg"})

SCRIPT = textwrap.dedent("""
    import json, sys
    for name in {blocked!r}:
        sys.modules[name] = None
    from typer.testing import CliRunner
    import distillguard as dg
    from distillguard.detector.cli import build_app

    def run(*args):
        res = CliRunner().invoke(build_app(), [str(a) for a in args])
        return {{"code": res.exit_code, "output": res.output}}

    day, out = sys.argv[1] + "/day", sys.argv[1] + "/verdicts.jsonl"
    log = sys.argv[1] + "/gateway.jsonl"
    with open(log, "w") as fh:
        fh.write(json.dumps({{"timestamp": "2026-03-02T10:00:00Z", "request_id": "r1", "account_id": "a1", "ip": "192.0.2.1",
                             "request": {{"model": "m"}}, "response": {{"usage": {{"prompt_tokens": 1, "completion_tokens": 2}}}}}}))
    print(json.dumps({{
        "help": run("--help"),
        "simulate": run("simulate", day, "--scale", "0.02"),
        "detect": run("detect", day + "/events.jsonl.gz", "--out", out),
        "ingest": run("ingest", log, "--from", "openai", "--out", log + ".events"),
        "worker_help": run("worker", "--help"),
        "worker": run("worker"),
        "api": run("api"),
        "token": run("token", "list"),
        "dg": dg.Detector.__name__,
        "loaded": sorted(m for m in {blocked!r} if sys.modules.get(m) is not None),
    }}))
""")


def test_core_commands_run_and_missing_layers_name_their_extra(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(blocked=BLOCKED), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["loaded"] == [] and got["dg"] == "Detector"
    assert got["help"]["code"] == 0 and "detect" in got["help"]["output"] and "worker" in got["help"]["output"]
    assert got["simulate"]["code"] == 0, got["simulate"]["output"]
    assert got["detect"]["code"] == 0 and (tmp_path / "verdicts.jsonl").stat().st_size > 0, got["detect"]["output"]
    assert got["ingest"]["code"] == 0 and b'"event_id":"r1"' in (tmp_path / "gateway.jsonl.events").read_bytes()
    assert "pip install 'distillguard[stream]'" in re.sub(
        r"[\s│]+", " ", got["worker_help"]["output"]
    )  # unwrap rich's box
    for name, extra in (("worker", "stream"), ("api", "api"), ("token", "api")):
        assert got[name]["code"] == EXIT_MISSING_EXTRA, got[name]
        assert f"needs: pip install 'distillguard[{extra}]'" in got[name]["output"], got[name]
