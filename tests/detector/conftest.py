"""Simulated days shared by the detection tests (small scale; seeds 1 and 2, never used to train or calibrate)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from distillguard.detector.detector import Detector
from distillguard.detector.evaluate import evaluate, load_labels
from distillguard.detector.events import read_events
from distillguard.detector.simulate import simulate

SCALE = 0.25
SEEDS = (1, 2)  # training uses seeds 101-109, calibration 201-204 (detector/recipe.py)
Days = Callable[[int, str, float], dict]
# The modules whose tests use these days run on one xdist worker (`make test`: --dist loadgroup), so that each day
# is simulated and detected once per run rather than once on every worker that happens to need it.
SIMULATED_DAYS = pytest.mark.xdist_group("simulated-days")


def _day(root: Path, seed: int, scenario: str, redact: float) -> Path:
    out = root / f"s{seed}-{scenario}-{redact:g}"
    simulate(out, seed=seed, scale=SCALE, scenario=scenario, redact=redact)
    return out


def _detect(day: Path) -> dict:
    det = Detector()
    det.process(read_events(day / "events.jsonl.gz"))
    det.flush()
    verdicts = det.verdicts()
    labels = load_labels(json.loads((day / "labels.json").read_text()))
    return {
        "detector": det,
        "verdicts": verdicts,
        "clusters": det.clusters(),
        "labels": labels,
        "report": evaluate(labels, verdicts, day / "events.jsonl.gz"),
        "day": day,
    }


@pytest.fixture(scope="session")
def days(tmp_path_factory: pytest.TempPathFactory) -> Days:
    """``days(seed, scenario, redact)``: that day simulated and detected, once per session."""
    done: dict[tuple[int, str, float], dict] = {}

    def get(seed: int, scenario: str, redact: float) -> dict:
        key = (seed, scenario, redact)
        if key not in done:
            done[key] = _detect(_day(tmp_path_factory.mktemp("sim"), seed, scenario, redact))
        return done[key]

    return get


@pytest.fixture(scope="session")
def standard_day(days: Days) -> dict:
    return days(1, "standard", 0.0)


@pytest.fixture(scope="session")
def hard_day(days: Days) -> dict:
    return days(1, "hard", 0.0)


@pytest.fixture(scope="session")
def redacted_day(days: Days) -> dict:
    return days(1, "standard", 1.0)
