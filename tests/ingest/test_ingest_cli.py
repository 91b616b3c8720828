"""``distillguard ingest`` as a user runs it: events out, every dropped line counted by reason on stderr and
listed in ``--rejects``, documented exit codes, and output that ``detect`` reads (also through a pipe)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import msgspec
from typer.testing import CliRunner, Result

from distillguard.detector import commands
from distillguard.detector.cli import build_app
from distillguard.detector.events import parse_event
from tests.ingest.shapes import nginx_line, openai_line
from tests.ingest.test_ingest_properties import EVENT
from tests.ingest.test_mapping import LINE as MAPPED_LINE
from tests.ingest.test_mapping import SPEC

EXE = str(Path(sys.executable).with_name("distillguard"))
GOOD = msgspec.json.encode(openai_line(EVENT))
NO_ACCOUNT = msgspec.json.encode(openai_line(EVENT | {"account_id": ""}))
LOG = b"\n".join([GOOD, b"", b"not json", NO_ACCOUNT, NO_ACCOUNT, GOOD.replace(b'"e1"', b'"e2"')]) + b"\n"


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(build_app(), list(args), input=stdin)


def test_a_log_becomes_events_and_every_dropped_line_is_counted_and_listed(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_bytes(LOG)
    res = run(
        "ingest", str(tmp_path / "log.jsonl"), "--from", "openai", "--out", str(tmp_path / "ev.jsonl"),
        "--rejects", str(tmp_path / "rejects.jsonl"),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    events = [parse_event(line) for line in (tmp_path / "ev.jsonl").read_bytes().splitlines()]
    assert [e.event_id for e in events] == ["e1", "e2"]
    assert "dropped 2 lines: account_id: required field is missing" in res.output
    assert "dropped 1 line: $: not valid JSON" in res.output
    assert "5 lines" in res.output and "2 events, 3 dropped (openai)" in res.output
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejects] == [(3, "$"), (4, "account_id"), (5, "account_id")]
    assert rejects[0]["raw"] == "not json" and rejects[1]["reason"] == "required field is missing"


def test_standard_input_to_standard_output_with_prompts_hashed() -> None:
    res = CliRunner().invoke(build_app(), ["ingest", "-", "--from", "openai", "--prompts", "hash"], input=GOOD)
    assert res.exit_code == 0, res.output
    event = parse_event(res.stdout.splitlines()[0])
    assert event.prompt is not None and event.prompt != EVENT["prompt"] and len(event.prompt) == 32


def test_gzip_in_and_out_and_a_mapping_file(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps(SPEC))
    (tmp_path / "log.jsonl.gz").write_bytes(gzip.compress(json.dumps(MAPPED_LINE).encode() + b"\n"))
    res = run(
        "ingest", str(tmp_path / "log.jsonl.gz"), "--from", "mapping", "--mapping", str(tmp_path / "m.json"),
        "--out", str(tmp_path / "out" / "ev.jsonl.gz"),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert parse_event(gzip.decompress((tmp_path / "out" / "ev.jsonl.gz").read_bytes()).strip()).event_id == "e-1"


def test_bad_options_and_files_exit_2_saying_why(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_bytes(LOG)
    (tmp_path / "bad.json").write_text('{"fields": {"ts": {"path": "t", "time": "weekly"}}}')
    log = str(tmp_path / "log.jsonl")
    for args, message in (
        (["--from", "syslog"], "unknown format 'syslog'; one of: openai, nginx, envoy, litellm-spend, mapping"),
        (["--from", "mapping"], "--from mapping needs --mapping FILE"),
        (["--from", "mapping", "--mapping", str(tmp_path / "bad.json")], "fields.ts.time"),
        (["--from", "openai", "--out", str(tmp_path / "log.jsonl" / "x")], "cannot write"),
    ):
        res = run("ingest", log, *args)
        assert res.exit_code == 2 and message in res.output, (args, res.output)
    res = run("ingest", str(tmp_path / "absent.jsonl"), "--from", "openai")
    assert res.exit_code == 2 and "no such file" in res.output


def test_a_log_of_another_format_exits_1(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_bytes(msgspec.json.encode(nginx_line(EVENT)) + b"\n")
    res = run("ingest", str(tmp_path / "log.jsonl"), "--from", "openai")
    assert res.exit_code == 1 and "no line of" in res.output and "reads as --from openai" in res.output


def test_a_truncated_gzip_log_exits_1_after_writing_the_events_before_it(tmp_path: Path) -> None:
    whole = gzip.compress(b"\n".join([GOOD] * 2000) + b"\n")
    (tmp_path / "log.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    res = run("ingest", str(tmp_path / "log.jsonl.gz"), "--from", "openai", "--out", str(tmp_path / "ev.jsonl"))
    assert res.exit_code == 1 and "truncated gzip stream" in res.output


def test_ingest_pipes_into_detect() -> None:
    log = b"".join(msgspec.json.encode(openai_line(EVENT | {"event_id": f"e{i}"})) + b"\n" for i in range(50))
    ingest = subprocess.run([EXE, "ingest", "-", "--from", "openai"], input=log, capture_output=True, check=True)
    detect = subprocess.run(
        [EXE, "detect", "/dev/stdin", "--out", "/dev/stdout"], input=ingest.stdout, capture_output=True, check=False
    )
    assert detect.returncode == 0, detect.stderr.decode()
    assert "50 events" in detect.stderr.decode()
    assert [json.loads(v)["account_id"] for v in detect.stdout.splitlines()] == ["a1"]


def test_the_commonest_reasons_are_listed_and_the_others_counted(tmp_path: Path) -> None:
    broken = [b'{"a":' + b" " * k + b"x" for k in range(25)]  # 25 reasons: invalid JSON at 25 byte offsets
    (tmp_path / "log.jsonl").write_bytes(b"\n".join([GOOD, *broken]) + b"\n")
    res = run("ingest", str(tmp_path / "log.jsonl"), "--from", "openai", "--out", str(tmp_path / "ev.jsonl"))
    assert res.exit_code == 0, res.output
    assert res.output.count("dropped 1 line: $: not valid JSON") == commands.REPORTED_BAD_LINES
    assert f"... and {25 - commands.REPORTED_BAD_LINES} more reasons" in res.output
