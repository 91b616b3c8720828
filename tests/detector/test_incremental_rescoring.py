"""Incremental re-scoring: what a re-scoring reuses from the last ones (own reasons, ladder rungs, final-stage cells)
gives what recomputing everything gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import distillguard.detector.verdicts as verdicts
from distillguard.detector.context import groups_of
from distillguard.detector.detector import Detector, cluster_medians
from distillguard.detector.events import read_events
from distillguard.detector.features import IDX
from distillguard.detector.reasons import RATE_LIMITED_MIN_REQUESTS
from distillguard.detector.scoring import Scorer
from distillguard.detector.verdicts import AccountMemo, Records
from tests.detector.conftest import SIMULATED_DAYS

CHUNK = 100  # events per process() call: well under a window's, so a chunk re-scores at most once


def _run(events: list, full: bool) -> tuple[Detector, list, list]:
    """Feed ``events`` in chunks; ``full``: forget everything reusable before every chunk (so every re-scoring)."""
    det = Detector()
    changes, moves = [], []
    for i in range(0, len(events), CHUNK):
        if full:
            det.scorer, det._memo = Scorer(det.model), AccountMemo(det.policy)
        before = det.rescores
        changes.append(det.process(events[i : i + CHUNK]))
        moves.append(det.action_changes)
        assert det.rescores - before <= 1
    changes.append(det.flush())
    moves.append(det.action_changes)
    return det, changes, moves


@pytest.fixture(scope="module")
def fed(standard_day: dict) -> dict:
    """The standard day through an incremental and a full-recompute detector, with own-reason computations counted."""
    events = list(read_events(standard_day["day"] / "events.jsonl.gz"))
    counted = {"calls": 0}
    account_reasons = verdicts.account_reasons

    def counting(*args: object) -> list[str]:
        counted["calls"] += 1
        return account_reasons(*args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(verdicts, "account_reasons", counting)
        out = {}
        for name, full in (("incremental", False), ("full", True)):
            counted["calls"] = 0
            out[name] = (*_run(events, full), counted["calls"])
    return out


@SIMULATED_DAYS
def test_reused_reasons_rungs_and_cells_equal_a_full_recompute_at_every_rescoring(fed: dict) -> None:
    inc, inc_changes, inc_moves, inc_calls = fed["incremental"]
    full, full_changes, full_moves, full_calls = fed["full"]
    assert inc.rescores == full.rescores >= 10
    assert inc_changes == full_changes and inc_moves == full_moves
    assert any(inc_moves) and any(inc_changes)
    assert inc.verdicts() == full.verdicts() and inc.clusters() == full.clusters()
    assert inc_calls < 0.7 * full_calls  # most accounts' reasons were reused, not recomputed


@SIMULATED_DAYS
def test_an_accounts_reasons_are_recomputed_when_an_input_changes_and_callers_get_copies(fed: dict) -> None:
    det = fed["incremental"][0]
    s, st_ = det.last, det.state
    memo = AccountMemo(det.policy)
    fresh = lambda scoring: Records(scoring, st_, det.model, det.policy)  # noqa: E731
    n = st_.col("n")
    a = next(
        a
        for a in range(s.accounts)
        if fresh(s).own_reasons(a) and n[a] >= RATE_LIMITED_MIN_REQUESTS and s.X[a, IDX["share_429"]] < 0.5
    )
    first = Records(s, st_, det.model, det.policy, memo).own_reasons(a)
    first.append("a caller's addition")
    assert Records(s, st_, det.model, det.policy, memo).own_reasons(a) == fresh(s).own_reasons(a)
    X = s.X.copy()
    X[a, IDX["share_429"]] = 1.0  # every request rate-limited: a reason of its own
    moved = dataclasses.replace(s, X=X, newest_model="model-released-later")
    again = Records(moved, st_, det.model, det.policy, memo).own_reasons(a)
    assert again == fresh(moved).own_reasons(a) != fresh(s).own_reasons(a)


@SIMULATED_DAYS
def test_a_memo_of_another_policy_is_not_read(fed: dict) -> None:
    det = fed["incremental"][0]
    s = det.last
    other = AccountMemo(det.policy.model_copy())
    rec = Records(s, det.state, det.model, det.policy, other)
    assert [rec.account_action(a) for a in range(s.accounts)] == [
        Records(s, det.state, det.model, det.policy).account_action(a) for a in range(s.accounts)
    ]
    assert not other.reasons and not other.decisions


@SIMULATED_DAYS
def test_a_scorer_looks_up_the_cells_of_rows_whose_inputs_moved_since_its_last_scoring(fed: dict) -> None:
    det = fed["incremental"][0]
    s = det.last
    groups = groups_of(s.link)
    scorer = Scorer(det.model)
    score, behaviour, anomaly, cells = scorer.score(s.X, groups, s.hoods, s.context, None)
    mine = dataclasses.replace(s, score=score, behaviour=behaviour, anomaly=anomaly, final_cells=cells)
    ctx = s.context.copy()
    ctx[: s.accounts // 2] = ctx[::-1][: s.accounts // 2]  # half the rows in another cluster's static context...
    solo = np.arange(s.accounts)  # ...and every linked account in another behaviour context (a group of its own)
    again = scorer.score(s.X, solo, s.hoods, ctx, mine)
    full = Scorer(det.model).score(s.X, solo, s.hoods, ctx, None)
    assert all(np.array_equal(a, b) for a, b in zip(again, full, strict=True))
    assert not np.array_equal(again[3], cells)


@SIMULATED_DAYS
def test_a_scoring_another_scorer_made_has_its_cells_looked_up_in_full(fed: dict) -> None:
    det = fed["incremental"][0]
    s = det.last
    solo = np.arange(s.accounts)  # every account a group of its own: another behaviour context than s's
    scorer = Scorer(det.model)
    scorer.score(s.X, solo, s.hoods, s.context, None)
    cells = scorer.score(s.X, solo, s.hoods, s.context, s)[3]
    assert np.array_equal(cells, Scorer(det.model).score(s.X, solo, s.hoods, s.context, None)[3])
    assert not np.array_equal(cells, s.final_cells)


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(0, 40), elements=st.floats(0.0, 1.0)),
    st.data(),
)
def test_cluster_medians_equal_numpy_median_per_cluster(values: np.ndarray, data: st.DataObject) -> None:
    labels = np.array(data.draw(st.lists(st.integers(-1, 4), min_size=len(values), max_size=len(values))), dtype=int)
    present = np.unique(labels[labels >= 0])
    dense = np.where(labels >= 0, np.searchsorted(present, labels), -1)
    expected = np.array([float(np.median(values[dense == k])) for k in range(len(present))])
    assert cluster_medians(values, dense, len(present)).tobytes() == expected.tobytes()
