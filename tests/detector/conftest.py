"""Simulated days shared by the detection tests (small scale, evaluation seed 1: never trained on)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillguard.detector.detector import Detector
from distillguard.detector.evaluate import evaluate, load_labels
from distillguard.detector.events import read_events
from distillguard.detector.simulate import simulate

SCALE = 0.25


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
def standard_day(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _detect(_day(tmp_path_factory.mktemp("sim"), 1, "standard", 0.0))


@pytest.fixture(scope="session")
def hard_day(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _detect(_day(tmp_path_factory.mktemp("sim"), 1, "hard", 0.0))


@pytest.fixture(scope="session")
def redacted_day(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _detect(_day(tmp_path_factory.mktemp("sim"), 1, "standard", 1.0))
