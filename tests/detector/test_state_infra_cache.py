"""The per-combination cache of an event's infrastructure ids (card, address, subnet, ASN, client, key)."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.detector import state as state_module
from distillguard.detector.state import AccountState

from .factory import ev


def _events() -> list:
    return [
        ev(f"acct-{i % 7}", i, ip=f"198.51.100.{i % 3}", user_agent=f"app/{i % 2}", tls_fingerprint="ja3-x", asn=64500)
        for i in range(60)
    ]


def _state() -> AccountState:
    st = AccountState()
    for e in _events():  # each event decodes its own copy of every string
        st.add(e)
    st.fold()
    return st


def test_the_cache_holds_one_copy_of_each_string_however_many_events_and_combinations_carry_it() -> None:
    st = _state()
    assert len(st._infra) > 3  # several combinations share an address
    for field in range(6):
        values = [key[field] for key in st._infra if isinstance(key[field], str)]
        first: dict[str, str] = {}
        assert all(first.setdefault(v, v) is v for v in values), field
    ip_table = st.interned["ip"]
    assert all(any(k is key[1] for k in ip_table) for key in st._infra)  # the intern table's copy, not another


def test_ids_are_the_same_when_the_cache_is_emptied_every_few_combinations(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _state()
    monkeypatch.setattr(state_module, "INFRA_CACHE", 2)
    emptied = _state()
    assert len(emptied._infra) <= 2
    assert emptied.interned == whole.interned
    for kind, store in whole.links.items():
        for got, want in zip(emptied.links[kind].arrays(), store.arrays(), strict=True):
            np.testing.assert_array_equal(got, want)
