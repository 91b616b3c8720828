"""Every benchmark module imports and has the ``run(workdir)`` that ``python -m bench.run`` calls: a benchmark that
rots (an import renamed under it) fails here, not on the day someone runs ``make bench``. The growth block renders its
worker rows, and without them."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import msgspec
import pytest

from bench import bench_growth
from bench.report import render_growth
from bench.run import available
from distillguard.detector.records import AccountVerdict, verdict_line
from tests.detector.factory import ev


@pytest.mark.parametrize("name", available())
def test_benchmark_module_imports_and_runs_a_workdir(name: str) -> None:
    module = importlib.import_module(f"bench.bench_{name}")
    assert list(inspect.signature(module.run).parameters) == ["workdir"]


def _growth_result(workers: dict | None, churn: dict | None = None) -> dict:
    """A small fake ``growth.json``: one account scale, one day, and the given churn and worker parts."""
    return {
        "accounts": {
            "rows": [
                {
                    "scale": 1.0,
                    "events": 1000,
                    "accounts": 40,
                    "events_per_s": 900,
                    "detect_vs_json_parse": 6.0,
                    "peak_rss_mb": 200,
                }
            ],
            "bytes_per_further_account": 4000,
            "per_event_cost_largest_vs_smallest": 1.0,
        },
        "days": {
            "days": [{"day": 1, "events": 500, "accounts_seen": 30, "us_per_event": 100.0, "rss_mb": 210.0}],
            "per_event_cost_last_day_vs_first": 1.0,
            "rss_growth_from_day_7_mb": 0.0,
        },
        "churn": churn,
        "workers": workers,
        "targets": bench_growth.TARGETS,
    }


def _worker_part(peaks: dict[int, list[int]], jaccard: dict[int, float]) -> dict:
    rows = [
        {
            "workers": n,
            "partitions": 4,
            "events_per_cpu_s": 700 - 100 * n,
            "peak_rss_mb_max": max(p),
            "peak_rss_mb_mean": round(sum(p) / n),
            "flagged_jaccard": jaccard[n],
        }
        for n, p in peaks.items()
    ]
    ratio = max(peaks[4]) / max(peaks[1])
    return {
        "scale": 1.0,
        "events": 1000,
        "accounts": 40,
        "detect": {"peak_rss_mb": 205, "flagged": 7},
        "rows": rows,
        "rss_per_worker_4_vs_1": round(ratio, 3),
        "flagged_jaccard": min(jaccard.values()),
        "meets_targets": {
            "rss_per_worker_4_vs_1": ratio <= bench_growth.TARGETS["rss_per_worker_4_vs_1"],
            "flagged_jaccard": min(jaccard.values()) >= bench_growth.TARGETS["flagged_jaccard"],
        },
    }


def test_growth_renders_a_row_per_worker_count_and_the_ratio_against_its_target() -> None:
    part = _worker_part({1: [300], 2: [280, 290], 4: [250, 270, 260, 240]}, {1: 1.0, 2: 0.995, 4: 0.98})
    text = render_growth(_growth_result(part))
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ")]
    assert [r for r in rows if "worker" in r] == [
        "| 1 worker, 4 partitions, scale 1",
        "| 2 workers, 4 partitions, scale 1",
        "| 4 workers, 4 partitions, scale 1",
    ]
    assert "| 270 MB per worker (mean 255) |" in text
    assert "with 4 workers 0.9x one worker's (target <= 0.4x: not met)" in text
    assert "Jaccard 0.98 (by workers 1: 1.0, 2: 0.995, 4: 0.98; target >= 0.99: not met)" in text


def test_growth_renders_without_the_worker_part() -> None:
    text = render_growth(_growth_result(None))
    assert "worker," not in text
    assert "Worker rows: not run" in text
    assert "Memory per further account: 4,000 bytes" in text


def test_flagged_union_and_jaccard(tmp_path: Path) -> None:
    """The union of the flagged accounts over verdict files, compared as |a & b| / |a | b|."""

    def line(account: str, flagged: bool) -> bytes:
        v = AccountVerdict(account_id=account, score=0.5, flagged=flagged, cluster_id=None, flagged_at=None, reasons=[])
        return verdict_line(v) + b"\n"

    (tmp_path / "a.jsonl").write_bytes(line("x", True) + line("y", False))
    (tmp_path / "b.jsonl").write_bytes(line("z", True))
    union = bench_growth._flagged([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    assert union == {"x", "z"}
    assert bench_growth._jaccard(union, {"x", "y"}) == 1 / 3
    assert bench_growth._jaccard(set(), set()) == 1.0


def test_growth_parts_not_run_keep_when_they_were_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_growth, "RUN_PARTS", ("workers",))
    old = {"_meta": {"finished_at": "day 1"}}
    result = {"accounts": {"rows": []}, "days": {"days": []}, "workers": {"rows": []}}
    first = bench_growth._measured_at(old, result, "day 2")
    assert first == {"accounts": "day 1", "days": "day 1", "churn": None, "workers": "day 2"}
    again = bench_growth._measured_at({"measured_at": first, "_meta": {"finished_at": "day 2"}}, result, "day 3")
    assert again == {"accounts": "day 1", "days": "day 1", "churn": None, "workers": "day 3"}
    assert bench_growth._measured_at(old, result | {"days": None}, "day 2")["days"] is None


def test_growth_renders_the_churn_rows_and_what_retention_held() -> None:
    day = {"events": 500, "us_per_event": 100.0}
    churn = {
        "retention_hours": 336.0,
        "days": [
            {**day, "day": 1, "accounts_held": 30, "accounts_seen": 30, "rss_mb": 210.0},
            {**day, "day": 16, "accounts_held": 450, "accounts_seen": 480, "rss_mb": 260.0},
            {**day, "day": 30, "accounts_held": 450, "accounts_seen": 900, "rss_mb": 262.5},
        ],
        "accounts_seen": 900,
        "settled_day": 16,
        "rss_growth_after_settled_mb": 2.5,
    }
    text = render_growth(_growth_result(None, churn))
    assert "| churn: day 30 of 30, every account new | 500 | 450 held of 900 |" in text
    assert "on day 30 the detector held 450 of the 900 it had seen, and RSS grew 2.5 MB from day 16" in text
    assert "Churn rows: not run" in render_growth(_growth_result(None))


def test_the_churn_stream_makes_every_account_new_each_day(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    events = [ev(f"acct-{a}", day * 24 * 60.0 + a) for day in range(3) for a in range(2)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in events))
    for churn, new in ((True, [2, 2, 2]), (False, [2, 0, 0])):
        bench_growth._days_child(str(path), churn)
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [r["new_accounts"] for r in rows] == new
        assert [r["accounts_seen"] for r in rows] == [sum(new[: i + 1]) for i in range(3)]
