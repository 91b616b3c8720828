"""Every benchmark module imports and has the ``run(workdir)`` that ``python -m bench.run`` calls: a benchmark that
rots (an import renamed under it) fails here, not on the day someone runs ``make bench``."""

from __future__ import annotations

import importlib
import inspect

import pytest

from bench.run import available


@pytest.mark.parametrize("name", available())
def test_benchmark_module_imports_and_runs_a_workdir(name: str) -> None:
    module = importlib.import_module(f"bench.bench_{name}")
    assert list(inspect.signature(module.run).parameters) == ["workdir"]
