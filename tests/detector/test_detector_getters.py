"""The Detector's getters only read: they report the last re-scoring, and only process()/flush() re-score."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.detector.detector import Detector
from distillguard.detector.features import FEATURES, account_features
from distillguard.detector.model import DetectionModel, load_model

from .factory import ev


@pytest.fixture(scope="module")
def model() -> DetectionModel:
    return load_model()


PROMPT = "Explain step by step, with full reasoning, how to solve the following problem: {}"


def _scored(model) -> Detector:
    """A detector that has re-scored five accounts sharing a card (a cluster) and one on its own."""
    det = Detector(model)
    events = [ev(f"farm-{i}", i, payment_fingerprint="card-1", prompt=PROMPT.format(i)) for i in range(5)]
    events.append(ev("solo", 6, ip="198.51.100.4"))
    det.process(events)
    det.flush()
    assert [sorted(c.members) for c in det.clusters()] == [[f"farm-{i}" for i in range(5)]]
    return det


def _later(det: Detector) -> None:
    """Events after the last re-scoring, inside its window: a new account and one more prompt of a scored one."""
    det.process(
        [
            ev("newcomer", 7, payment_fingerprint="card-1"),
            ev("farm-0", 8, payment_fingerprint="card-1", prompt=PROMPT.format("x")),
        ]
    )


def test_getters_change_no_counter_and_no_snapshot_byte(model) -> None:
    det = _scored(model)
    _later(det)
    stats, rescores, snap = det.stats, det.rescores, det.snapshot()
    first = det.verdicts(), det.clusters(), det.features()
    second = det.verdicts(), det.clusters(), det.features()
    assert det.stats == stats and det.rescores == rescores and det.snapshot() == snap
    assert first[0] == second[0] and first[1] == second[1]
    assert first[2].account_ids == second[2].account_ids and np.array_equal(first[2].matrix, second[2].matrix)


def test_events_after_the_last_scoring_show_only_after_flush(model) -> None:
    det = _scored(model)
    before = det.verdicts(), det.clusters(), det.features()
    _later(det)
    assert det.verdicts() == before[0] and det.clusters() == before[1]
    assert det.features().account_ids == before[2].account_ids
    assert "newcomer" not in {v.account_id for v in det.verdicts()}
    det.flush()
    by_id = {v.account_id: v for v in det.verdicts()}
    assert "newcomer" in by_id and by_id["farm-0"].n_requests == 2 and len(by_id["farm-0"].sample_prompts) == 2
    assert det.features().account_ids[-1] == "newcomer"


def test_getters_before_any_scoring_are_empty_and_score_nothing(model) -> None:
    det = Detector(model)
    det.process([ev("a", 0), ev("b", 1)])
    assert det.verdicts() == [] and det.clusters() == []
    f = det.features()
    assert f.account_ids == () and f.names == FEATURES and f.matrix.shape == (0, len(FEATURES))
    assert det.rescores == 0 and det.stats["rescores"] == 0


def test_features_name_every_column_and_row_and_are_a_copy(model) -> None:
    det = _scored(model)
    f = det.features()
    assert f.names == FEATURES and f.matrix.shape == (len(det.state.names), len(FEATURES))
    assert f.account_ids == tuple(det.state.names)
    assert np.array_equal(f.matrix, account_features(det.state))
    f.matrix[:] = -1
    assert not np.array_equal(det.features().matrix, f.matrix)
