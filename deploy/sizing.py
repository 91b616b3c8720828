"""Print the sizing table of deploy/README.md from the benchmark results (``bench/results/*.json``).

    python deploy/sizing.py                              # the measured figures
    python deploy/sizing.py --events-per-second 20000   # plus workers and partitions for that rate
    python deploy/sizing.py --update-readme             # write them into deploy/README.md's sizing block

Nothing here is a constant: every figure comes from a result file written by ``make bench`` on some
machine (named in the table). A worker's rate is the stream worker's measured rate (else detection's
alone, see ``WORKER_RATES``); memory is the largest ``*peak_rss_mb`` measured.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
README = Path(__file__).resolve().parent / "README.md"
BLOCK = re.compile(r"(<!-- BEGIN SIZING TABLE[^>]*-->\n).*?(\n<!-- END SIZING TABLE -->)", re.S)
# One worker's sustained rate: the stream worker end to end (Kafka in, detections and DB out) when
# bench_stream ran, else the detection core alone (`detect`, an upper bound for a worker).
WORKER_RATES = ("stream.worker.events_per_s", "detect.detect.events_per_s")
HEADROOM = 0.5  # plan a worker at half its measured rate: bursts, rebalances, catch-up after an outage


def figures(result: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a result as dotted paths (run metadata and the stated targets left out)."""
    out: dict[str, float] = {}
    for key, value in result.items():
        path = f"{prefix}{key}"
        if key in {"_meta", "targets"}:
            continue
        if isinstance(value, dict):
            out |= figures(value, f"{path}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[path] = value
    return out


def load(results: Path) -> dict[str, dict]:
    """Every result file, by benchmark name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}


def table(runs: dict[str, dict]) -> str:
    """The measured figures as a Markdown table."""
    rows = ["| benchmark | figure | value | machine |", "| --- | --- | ---: | --- |"]
    for name, result in runs.items():
        machine = result.get("_meta", {}).get("machine", "?")
        for path, value in figures(result).items():
            rows.append(f"| {name} | {path} | {value:,} | {machine} |")
    return "\n".join(rows)


def worker_rate(runs: dict[str, dict]) -> tuple[str, float] | None:
    """(figure, events/s) of one worker on one core: the first of ``WORKER_RATES`` measured, or None."""
    for figure in WORKER_RATES:
        name, path = figure.split(".", 1)
        value = figures(runs.get(name, {})).get(path)
        if value:
            return figure, value
    return None


def peak_memory(runs: dict[str, dict]) -> tuple[str, float] | None:
    """(figure, MB) of the largest peak RSS measured, or None."""
    peaks = {
        f"{name}.{path}": value
        for name, result in runs.items()
        for path, value in figures(result).items()
        if path.endswith("peak_rss_mb")
    }
    return max(peaks.items(), key=lambda kv: kv[1]) if peaks else None


def plan(runs: dict[str, dict], events_per_second: float) -> str:
    """Workers, partitions and memory for a sustained input rate, from the measured figures."""
    rate = worker_rate(runs)
    if rate is None:
        return f"none of {', '.join(WORKER_RATES)} in the results: run `make bench` first"
    figure, per_worker = rate
    workers = max(1, math.ceil(events_per_second / (per_worker * HEADROOM)))
    lines = [
        f"- input: {events_per_second:,.0f} events/s sustained",
        f"- one worker (one core): {per_worker:,.0f} events/s measured ({figure}), planned at {HEADROOM:.0%}",
        f"- workers: {workers}; `api-events` partitions: at least {2 * workers} (room to double without repartitioning)",
    ]
    memory = peak_memory(runs)
    if memory:
        lines.append(
            f"- memory per worker: request >= {memory[1]:,.0f} MB, the largest peak measured ({memory[0]}); "
            "state grows with the accounts a worker owns, so more partitions per worker means more memory"
        )
    return "\n".join(lines)


def update_readme(readme: Path, text: str) -> None:
    """Replace what stands between the README's sizing-table markers with ``text``."""
    doc = readme.read_text()
    if not BLOCK.search(doc):
        raise SystemExit(f"{readme}: no <!-- BEGIN SIZING TABLE --> ... <!-- END SIZING TABLE --> block")
    readme.write_text(BLOCK.sub(lambda m: m.group(1) + text + m.group(2), doc, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of benchmark result files")
    parser.add_argument("--events-per-second", type=float, help="size a deployment for this sustained input rate")
    parser.add_argument(
        "--update-readme",
        nargs="?",
        const=README,
        type=Path,
        metavar="README",
        help=f"write the output into the README's sizing block (default {README.name} beside this script)",
    )
    args = parser.parse_args(argv)
    runs = load(args.results)
    if not runs:
        print(f"no benchmark results in {args.results}: run `make bench` first", file=sys.stderr)
        return 1
    text = table(runs)
    if args.events_per_second:
        text += "\n\n" + plan(runs, args.events_per_second)
    print(text)
    if args.update_readme:
        update_readme(args.update_readme, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
