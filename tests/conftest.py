"""Settings of the whole test session."""

from __future__ import annotations

import os

import pytest

# scikit-learn's OpenMP threads (HistGradientBoosting fits) spin while they wait for each other. On the shared
# 2-core test machine, with other processes busy, `distillguard train --scale 0.05` spent 80 s fitting instead
# of 4 s (tests/test_train_decisions.py: 181 s instead of 21 s). One thread per process, for this process and
# every `distillguard` subprocess the tests start; the model is the same (same version hash and threshold).
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Hypothesis profiles (tests/fuzzing.py): derandomized "ci" for `make test` and CI, so a run fails or passes
# the same way every time; "fuzz" (`make fuzz`) draws fresh random inputs, many times more of them.
from tests.fuzzing import load_profile

load_profile()


# Tests whose xdist_group pytest-xdist could not keep together (see pytest_collection_finish).
UNGROUPED: set[str] = set()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under ``--dist loadgroup`` (``make test``), find the tests of an ``xdist_group`` that would not stay
    together: pytest-xdist groups them by suffixing their node ids with the group, and some pytest releases
    silently drop that suffix (pytest-xdist issue #1386, pytest 9.2), after which a group's session fixtures are
    built on every worker and tests that must not run side by side do. Each such test fails, saying why."""
    config = session.config
    if not hasattr(config, "workerinput") or not config.getoption("loadgroup", False):
        return
    UNGROUPED.update(
        item.nodeid
        for item in session.items
        if (groups := {str(m.args[0] if m.args else m.kwargs.get("name")) for m in item.iter_markers("xdist_group")})
        and not item.nodeid.endswith("@" + "_".join(sorted(groups)))
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.nodeid in UNGROUPED:
        pytest.fail(
            "--dist loadgroup did not keep this test's xdist_group together: this pytest and pytest-xdist do not "
            "group tests (see the pin of pytest in pyproject.toml)",
            pytrace=False,
        )
