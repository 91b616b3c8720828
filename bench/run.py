"""Run the benchmarks (``python -m bench.run [NAME ...]``); each writes ``bench/results/<name>.json``.

A benchmark is a module ``bench/bench_<name>.py`` with ``run(workdir: Path) -> dict``. Figures that
depend on the machine are reported next to a baseline measured in the same run, as a ratio.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def available() -> list[str]:
    """Names of the benchmark modules present."""
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in names:
        mod = importlib.import_module(f"bench.bench_{name}")
        print(f"== bench {name}", flush=True)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"dg-bench-{name}-") as tmp:
            result = mod.run(Path(tmp))
        result["_meta"] = {
            "benchmark": name,
            "finished_at": datetime.now(UTC).isoformat(),
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "python": platform.python_version(),
            "machine": f"{platform.machine()} {psutil.cpu_count()} cpus {psutil.virtual_memory().total >> 30} GiB",
        }
        out = RESULTS / f"{name}.json"
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(json.dumps(result, indent=2, default=str))
        print(f"-> {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
