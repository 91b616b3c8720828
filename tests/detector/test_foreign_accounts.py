"""Accounts absorbed from other workers' summaries (foreign accounts): replaced whole, held without what only their
owner reads, and the detector's own verdicts unchanged by that."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from distillguard.detector.detector import Detector
from distillguard.detector.events import Event
from distillguard.detector.state import AccountState, AccountSummary

from .factory import ev

PROMPT = "Explain step by step how a heat pump moves heat from a cold room to a warm one, with all of the physics."
HOUR = 60.0  # minutes


def _traffic(account: str, start_hour: int, n: int, **fields) -> list[Event]:
    """``n`` requests of ``account``, one an hour from ``start_hour``."""
    return [ev(account, (start_hour + i) * HOUR, prompt=f"{PROMPT} ({account} {i})", **fields) for i in range(n)]


def _summaries(events: list[Event]) -> list[AccountSummary]:
    """Every account's summary from a state fed ``events`` (as its owner would publish them)."""
    st = AccountState()
    for e in events:
        st.add(e)
    return st.export_summaries(list(range(len({e.account_id for e in events}))))


def _held(st: AccountState, account: str) -> AccountSummary:
    """What the state holds of ``account``, as a summary."""
    (s,) = st.export_summaries([st.ids[account]])
    return s


def _encoded(s: AccountSummary) -> bytes:
    return msgspec.msgpack.encode(s)  # compared as bytes: NaN (no creation time) equals itself


def test_an_absorbed_account_replaced_by_a_newer_summary_keeps_nothing_of_the_old_one() -> None:
    old = _summaries(
        _traffic("before", 0, 3, ip="10.0.0.1")
        + _traffic("remote", 0, 4, ip="10.0.0.2", payment_fingerprint="card-old", model="frontier-4")
        + _traffic("after", 0, 3, ip="10.0.0.3")
    )
    (new,) = _summaries(_traffic("remote", 30, 2, ip="192.0.2.9", user_agent="other/1.0", model="frontier-5"))
    det = Detector()
    det.ingest_summaries(old)
    det.ingest_summaries([new])
    st = det.state
    assert _encoded(_held(st, "remote")) == _encoded(msgspec.structs.replace(new, samples=[]))
    for account, summary in zip(("before", "after"), (old[0], old[2]), strict=True):  # its neighbours keep theirs
        assert _encoded(_held(st, account)) == _encoded(msgspec.structs.replace(summary, samples=[]))
    ips = {list(st.interned["ip"])[k & 0xFFFFFFFF] for k in st.links["ip"]}
    assert ips == {"10.0.0.1", "10.0.0.3", "192.0.2.9"}
    assert "card-old" in st.interned["card"] and len(st.links["card"]) == 0


def test_foreign_accounts_are_held_without_sample_prompts_and_own_ones_keep_theirs() -> None:
    det = Detector()
    det.process(_traffic("own", 0, 3))
    det.ingest_summaries(_summaries(_traffic("remote", 0, 3)))
    det.flush()
    samples = {v.account_id: v.sample_prompts for v in det.verdicts()}
    assert samples["remote"] == [] and len(samples["own"]) == 3
    assert det.state.ids["remote"] not in det.state.samples


def test_own_verdicts_are_those_of_a_detector_holding_the_foreign_accounts_in_full() -> None:
    ring = dict(payment_fingerprint="card-ring", user_agent="harvest/0.1", tls_fingerprint="ja3-ring")
    own = _traffic("ring-a", 0, 6, **ring) + _traffic("chat", 0, 4)
    foreign = _summaries(_traffic("ring-b", 1, 6, **ring) + _traffic("ring-c", 2, 6, **ring))
    lean, full = Detector(), Detector()
    for det in (lean, full):
        det.process(own)
    lean.ingest_summaries(foreign)
    full.state.absorb_summaries(foreign)  # as an owner brings its own accounts back: everything held
    lean.flush()
    full.flush()
    assert {v.account_id: v for v in lean.verdicts()}["ring-a"].cluster_id is not None
    for a, b in zip(lean.verdicts(), full.verdicts(), strict=True):
        if a.account_id in ("ring-a", "chat"):
            assert a == b
        else:
            assert msgspec.structs.replace(b, sample_prompts=[]) == a
    assert lean.clusters() == full.clusters()


def test_absorbed_accounts_stay_absorbed_across_a_snapshot_and_an_eviction() -> None:
    det = Detector(retention_hours=14 * 24.0)
    clock = dict(ip="198.51.100.99")  # an unlinked account moving event time on
    det.process(sorted(_traffic("gone", 0, 2) + _traffic("clock", 0, 14 * 24, **clock), key=lambda e: e.ts))
    det.ingest_summaries(_summaries(_traffic("remote", 14 * 24 - 2, 2, ip="192.0.2.1")))
    det = Detector.restore(det.snapshot())
    assert "gone" in det.state.ids
    det.process(_traffic("clock", 14 * 24, 2 * 24, **clock))  # 'gone' leaves: the accounts after it are renumbered
    assert "gone" not in det.state.ids and det.stats["archived"] == 1
    remote = det.state.ids["remote"]
    assert det._absorbed == {remote}
    (newer,) = _summaries(_traffic("remote", 15 * 24, 1, ip="192.0.2.50"))
    det.ingest_summaries([newer])
    assert _encoded(_held(det.state, "remote")) == _encoded(msgspec.structs.replace(newer, samples=[]))


def test_a_version_1_snapshot_is_read_and_its_foreign_sample_prompts_are_dropped() -> None:
    det = Detector()
    det.process(_traffic("own", 0, 2))
    foreign = _summaries(_traffic("remote", 0, 2))
    det.state.absorb_summaries(foreign)  # version 1 held a foreign account's samples
    doc = msgspec.msgpack.decode(det.snapshot())
    remote = det.state.ids["remote"]
    key = (remote << 32) | 0
    doc |= {"v": 1, "absorbed": {"remote": [["links:ip", key]]}}  # version 1 named the keys each one contributed
    old = Detector.restore(msgspec.msgpack.encode(doc))
    assert old._absorbed == {remote} and remote not in old.state.samples and old.state.samples
    (newer,) = _summaries(_traffic("remote", 5, 1, ip="192.0.2.50"))
    old.ingest_summaries([newer])
    assert _encoded(_held(old.state, "remote")) == _encoded(msgspec.structs.replace(newer, samples=[]))
    doc["v"] = 99
    with pytest.raises(ValueError, match="unsupported detector snapshot version 99"):
        Detector.restore(msgspec.msgpack.encode(doc))


def test_replacing_many_absorbed_accounts_leaves_the_stores_as_absorbing_only_the_newest() -> None:
    first = _summaries([e for i in range(40) for e in _traffic(f"acct-{i:02d}", i % 5, 1 + i % 3, ip=f"10.1.0.{i}")])
    second = _summaries([e for i in range(0, 40, 3) for e in _traffic(f"acct-{i:02d}", 9, 2, ip=f"10.2.0.{i}")])
    twice, once = AccountState(), AccountState()
    twice.absorb_summaries(first, foreign=True)
    twice.absorb_summaries(second, foreign=True)
    newest = {s.account_id: s for s in first} | {s.account_id: s for s in second}
    once.absorb_summaries([newest[s.account_id] for s in first], foreign=True)
    for name in ("templates", "timeline", "model_first", "model_count"):
        assert sorted(getattr(twice, name).items()) == sorted(getattr(once, name).items())
    for kind in twice.links:
        assert len(twice.links[kind]) == len(once.links[kind])
    assert [_encoded(_held(twice, n)) for n in newest] == [_encoded(_held(once, n)) for n in newest]
    np.testing.assert_array_equal(twice.col("n"), once.col("n"))
