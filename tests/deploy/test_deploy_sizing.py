"""deploy/sizing.py: given benchmark result files, the sizing table and plan printed from them."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

SIZING = Path(__file__).resolve().parents[2] / "deploy" / "sizing.py"


def sizing(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SIZING), *args], capture_output=True, text=True, timeout=30)


def write_results(folder: Path) -> None:
    meta = {"machine": "x86_64 2 cpus 24 GiB", "wall_seconds": 60}
    (folder / "detect.json").write_text(
        json.dumps(
            {
                "events": 1_000_000,
                "baseline_json_parse": {"events_per_s": 300_000},
                "detect": {"events_per_s": 30_000, "peak_rss_mb": 900, "cores": 1},
                "targets": {"events_per_s": 25_000},
                "meets_targets": True,
                "_meta": meta,
            }
        )
    )
    (folder / "stream.json").write_text(
        json.dumps(
            {
                "raw_aiokafka_consume": {"events_per_s": 90_000},
                "worker": {"events_per_s": 8_000, "peak_rss_mb": 1_200},
                "latency": {"produce_rate_events_per_s": 500, "p95_seconds": 1.5},  # a set load, not a capacity
                "_meta": meta,
            }
        )
    )


def test_table_lists_every_measured_figure_but_targets_and_metadata(tmp_path):
    write_results(tmp_path)
    out = sizing("--results", str(tmp_path))
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| detect") or line.startswith("| stream")]
    assert "| detect | detect.events_per_s | 30,000 | x86_64 2 cpus 24 GiB |" in rows
    assert "| stream | worker.peak_rss_mb | 1,200 | x86_64 2 cpus 24 GiB |" in rows
    assert len(rows) == 10  # events, baseline, detect x3; raw consume, worker x2, latency x2
    assert "targets" not in out.stdout and "wall_seconds" not in out.stdout and "meets_targets" not in out.stdout


def test_plan_sizes_from_the_slowest_stage_at_half_its_rate(tmp_path):
    write_results(tmp_path)
    out = sizing("--results", str(tmp_path), "--events-per-second", "20000")
    assert out.returncode == 0, out.stderr
    # the stream worker end to end (8,000/s) sizes a worker: not detection alone, a baseline or a set load
    assert "8,000 events/s measured (stream.worker.events_per_s)" in out.stdout
    assert "- workers: 5; `api-events` partitions: at least 10" in out.stdout
    assert "request >= 1,200 MB" in out.stdout


def test_no_results_is_a_clear_error(tmp_path):
    out = sizing("--results", str(tmp_path))
    assert out.returncode == 1 and "run `make bench` first" in out.stderr


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    write_results(tmp_path)
    readme = tmp_path / "README.md"
    before, after = "# Deploying\n\nintro\n\n", "\n\nafter the table\n"
    readme.write_text(
        before + "<!-- BEGIN SIZING TABLE: generated -->\nold placeholder\n<!-- END SIZING TABLE -->" + after
    )
    out = sizing("--results", str(tmp_path), "--events-per-second", "20000", "--update-readme", str(readme))
    assert out.returncode == 0, out.stderr
    doc = readme.read_text()
    assert doc.startswith(before + "<!-- BEGIN SIZING TABLE: generated -->\n| benchmark | figure |") and doc.endswith(
        "<!-- END SIZING TABLE -->" + after
    )
    assert "old placeholder" not in doc and "- workers: 5;" in doc
    # deploy/README.md carries a block the script can fill
    assert runpy.run_path(str(SIZING))["BLOCK"].search((SIZING.parent / "README.md").read_text())


def test_plan_falls_back_to_detection_alone(tmp_path):
    write_results(tmp_path)
    (tmp_path / "stream.json").unlink()
    out = sizing("--results", str(tmp_path), "--events-per-second", "20000")
    assert "30,000 events/s measured (detect.detect.events_per_s)" in out.stdout
    assert "- workers: 2; `api-events` partitions: at least 4" in out.stdout
