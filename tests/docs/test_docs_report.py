"""The README's generated tables are what ``bench/report.py`` renders from the committed results and every component's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import bench_evaluation
from bench.report import RESULTS, main, render_evaluation, replace_block, settings_classes

ROOT = Path(__file__).resolve().parents[2]


def test_readme_generated_blocks_are_current(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    assert main(["--results", str(RESULTS), "--write", str(readme)]) == 0
    assert readme.read_text() == (ROOT / "README.md").read_text(), "README tables are stale: run `make report`"


def test_settings_table_lists_every_field() -> None:
    text = (ROOT / "README.md").read_text()
    block = text[text.index("<!-- report:settings -->") : text.index("<!-- /report:settings -->")]
    for cls in settings_classes():
        for name in cls.model_fields:
            assert f"| `{name.upper()}` |" in block, f"{cls.__name__}.{name} is not in the README's settings table"


def test_replace_block_needs_markers_and_is_idempotent() -> None:
    doc = "a\n<!-- report:x -->\nold\n<!-- /report:x -->\nb\n"
    once = replace_block(doc, "x", "| new |")
    assert once == "a\n<!-- report:x -->\n| new |\n<!-- /report:x -->\nb\n"
    assert replace_block(once, "x", "| new |") == once
    with pytest.raises(SystemExit, match="no <!-- report:y -->"):
        replace_block(doc, "y", "z")


@pytest.mark.slow
def test_evaluation_benchmark_renders_one_row_per_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """simulate -> detect -> evaluate through the CLI on three small days, then the README row of each."""
    monkeypatch.setattr(bench_evaluation, "SCALE", 0.05)
    doc = bench_evaluation.run(tmp_path)
    lines = render_evaluation(doc).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| standard", "| hard", "| redacted"]
    for day in ("standard", "hard", "redacted"):
        d = doc[day]["detector"]
        legit = d["accounts"] - d["attack_accounts"]
        assert f"({d['false_positives']:,} of {legit:,})" in lines[2 + list(bench_evaluation.DAYS).index(day)]
        assert {row["kind"] for row in doc[day]["campaigns"].values()} >= {"hydra", "low_and_slow"}
