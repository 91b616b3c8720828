"""Account state: duplicates, time rules, snapshots."""

from __future__ import annotations

import numpy as np

from distillguard.detector import state as state_module
from distillguard.detector.state import AccountState

from .factory import ev


def test_duplicate_event_ids_are_counted_once() -> None:
    st = AccountState()
    e = ev("a")
    for _ in range(3):
        st.add(e)
    st.fold()
    assert st.col("n")[0] == 1 and st.stats["duplicates"] == 2


def test_far_future_and_beyond_horizon_events_are_rejected_with_reasons() -> None:
    st = AccountState(dedup_horizon_hours=24)
    assert st.add(ev("a", 0)) is None
    future = st.add(ev("a", ts="2999-01-01T00:00:00Z"))
    assert future is not None and "future" in future.reason
    st.add(ev("a", 60 * 30))
    old = st.add(ev("a", 0))
    assert old is not None and "de-duplication horizon" in old.reason
    st.fold()
    assert st.col("n")[0] == 2 and st.stats["rejected"] == 2


def test_late_event_within_horizon_is_still_counted() -> None:
    st = AccountState()
    st.add(ev("a", 120))
    assert st.add(ev("a", 0)) is None
    st.fold()
    assert st.col("n")[0] == 2 and st.stats["late"] == 1


def test_snapshot_restores_an_equal_state_that_still_dedups() -> None:
    st = AccountState()
    events = [ev("a", 0, prompt="Explain step by step: 1+1"), ev("b", 1, payment_fingerprint="c")]
    for e in events:
        st.add(e)
    again = AccountState.restore(st.snapshot())
    assert again.names == st.names and (again.col("n") == st.col("n")).all()
    again.add(events[0])
    assert again.stats["duplicates"] == 1


def test_summaries_replace_rather_than_add() -> None:
    src = AccountState()
    for i in range(3):
        src.add(ev("a", i, ip=f"10.0.0.{i}"))
    dst = AccountState()
    dst.absorb_summaries(src.export_summaries(), foreign=True)
    dst.absorb_summaries(src.export_summaries([0]), foreign=True)
    dst.fold()
    assert dst.col("n")[0] == 3
    assert len(dst.links["ip"]) == 3


def _week(det_hours: float | None = None):
    """A detector fed five days of two accounts' traffic, with a new model released on day 1."""
    from distillguard.detector.detector import Detector

    det = Detector()
    if det_hours is not None:
        det.state.timeline_hours = det_hours
    events = []
    for h in range(0, 5 * 24, 3):
        model = "frontier-5" if h >= 10 else "frontier-4"
        events += [ev("a", h * 60, model=model), ev("b", h * 60 + 7), ev("b", h * 60 + 9, model=model)]
    det.process(events)
    det.flush()
    return det


def test_old_timeline_hours_are_folded_without_changing_features() -> None:
    from distillguard.detector.features import account_features

    folded, whole = _week(), _week(det_hours=1e9)
    assert len(folded.state.timeline) < len(whole.state.timeline) and folded.state.retired_hours.sum() > 0
    assert (account_features(folded.state) == account_features(whole.state)).all()
    again = AccountState.restore(folded.state.snapshot())
    assert (account_features(again) == account_features(whole.state)).all()
    absorbed = AccountState()
    absorbed.absorb_summaries(folded.state.export_summaries([0, 1]))
    assert (account_features(absorbed) == account_features(whole.state)).all()


def test_an_account_first_seen_after_absorbed_summaries_starts_empty() -> None:
    src = AccountState()
    src.add(ev("remote", 0))
    st = AccountState()
    st.absorb_summaries(src.export_summaries())
    st.add(ev("local", 5, verification_path=None))
    st.fold()
    a = st.ids["local"]
    assert st.col("first_ts")[a] == st.col("last_ts")[a] == ev("x", 5).ts.timestamp()
    assert st.col("gap_n")[a] == 0 and st.col("verification")[a] == -1


def test_flag_and_hour_counts_past_the_int32_range_stay_exact() -> None:
    src = AccountState()
    src.add(ev("a", 0, turn_index=1))
    (summary,) = src.export_summaries()
    big = 2**31 + 5  # an account's requests beyond what int32 counts hold
    summary.flags = [big if c else 0 for c in summary.flags]
    summary.hours = [big if c else 0 for c in summary.hours]
    summary.acc[0] = big
    st = AccountState()
    st.absorb_summaries([summary])
    st.add(ev("a", 1, turn_index=1))
    st.add(ev("b", 2, turn_index=1))
    st.fold()
    for state in (st, AccountState.restore(st.snapshot())):
        assert state.flag_count(state_module.MULTI_TURN).tolist() == [big + 1, 1]
        assert state.hour_hist()[:, 0].tolist() == [big + 1, 1]


def test_summaries_export_the_accounts_changed_since_the_last_export_also_after_others_left() -> None:
    st = AccountState()
    for i, name in enumerate(("a", "b", "c")):
        st.add(ev(name, i))
    assert [s.account_id for s in st.export_summaries()] == ["a", "b", "c"]
    assert st.export_summaries() == []
    st.add(ev("c", 3))
    st.add(ev("b", 4))
    st.remove(np.array([0]))
    assert [s.account_id for s in st.export_summaries()] == ["b", "c"]
    st.add(ev("c", 5))
    assert [s.account_id for s in AccountState.restore(st.snapshot()).export_summaries()] == []
    assert [s.account_id for s in st.export_summaries()] == ["c"]
