"""Linking's evidence weights, rule by rule, as the table in detector/linking.py documents them.

Each test builds the smallest traffic that shares one kind of evidence and reads the summed weight between two
accounts (:meth:`Ties.weight`), or the clusters and per-account counts :func:`link_accounts` returns.
"""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest

from distillguard.detector.events import Event
from distillguard.detector.linking import (
    RULE_SPECS,
    Linkage,
    link_accounts,
    popularity,
    ties,
)
from distillguard.detector.state import AccountState

from .factory import ev

RUBRIC = "Grade the following answer against the rubric below and justify each point. Answer: {} Give a score out of ten at the end, with reasons."
WORDS = ["apple", "river", "stone", "cloud", "music", "garden", "window", "paper", "silver", "forest", "candle"]
SDK = {"tls_fingerprint": "ja3-sdk", "user_agent": "sdk/1.0"}


def state_of(events: list[Event]) -> AccountState:
    st = AccountState()
    for e in sorted(events, key=lambda e: e.ts):
        st.add(e)
    st.fold()
    return st


def weight(events: list[Event], a: str = "a", b: str = "b", **kw: float) -> float:
    """The summed non-identity evidence weight between accounts ``a`` and ``b``."""
    st = state_of(events)
    return ties(st, **kw).weight(st.names.index(a), st.names.index(b))


def labels(events: list[Event]) -> dict[str, int]:
    st = state_of(events)
    link = link_accounts(st)
    return {name: int(link.labels[i]) for i, name in enumerate(st.names)}


def created(hour: int) -> str:
    """An account creation time on 2026-02-27 at ``hour`` UTC (bursts are 6-hour buckets from midnight UTC)."""
    return f"2026-02-27T{hour:02d}:00:00Z"


def chat(seed: int) -> str:
    """A first-turn prompt of free chat: long enough to be checked for a template, shared with no one."""
    r = random.Random(seed)
    return " ".join(r.choice(WORDS) for _ in range(30))


def account(name: str, templated: int, free: int, ip: str, client: str) -> list[Event]:
    """``templated`` requests filling the rubric template, then ``free`` requests of free chat."""
    out = [ev(name, i, ip=ip, tls_fingerprint=client, prompt=RUBRIC.format(f"q {name} {i}")) for i in range(templated)]
    out += [ev(name, 100 + i, ip=ip, tls_fingerprint=client, prompt=chat(1000 * len(name) + i)) for i in range(free)]
    return out


# --- network rules ------------------------------------------------------------------------------------------------


def test_an_address_and_client_build_shared_by_two_accounts_weigh_half() -> None:
    assert weight([ev("a", ip="198.51.100.1", **SDK), ev("b", 1, ip="198.51.100.1", **SDK)]) == pytest.approx(0.5)


def test_an_address_alone_or_a_client_build_alone_weighs_nothing() -> None:
    assert (
        weight([ev("a", ip="198.51.100.1", tls_fingerprint="t1"), ev("b", ip="198.51.100.1", tls_fingerprint="t2")])
        == 0
    )
    assert weight([ev("a", ip="198.51.100.1", **SDK), ev("b", ip="192.0.2.1", **SDK)]) == 0


@pytest.mark.parametrize(
    ("hour_a", "hour_b", "expected"),
    [
        (1, 2, 2.0),  # one bucket in both tilings: two shared burst keys
        (2, 5, 1.0),  # 00-06 in the first tiling; 21-03 and 03-09 in the second
        (5, 7, 1.0),  # 00-06 and 06-12 in the first; 03-09 in the second
        (1, 8, 0.0),  # seven hours apart: no bucket in common
    ],
)
def test_accounts_created_in_one_burst_on_one_address_weigh_one_per_shared_bucket(
    hour_a: int, hour_b: int, expected: float
) -> None:
    events = [
        ev(
            "a",
            ip="198.51.100.1",
            tls_fingerprint="t1",
            account_created_at=created(hour_a),
            verification_path="education",
        ),
        ev(
            "b",
            ip="198.51.100.1",
            tls_fingerprint="t2",
            account_created_at=created(hour_b),
            verification_path="education",
        ),
    ]
    assert weight(events) == pytest.approx(expected)


def test_a_creation_burst_through_different_verification_paths_is_no_burst() -> None:
    events = [
        ev("a", ip="198.51.100.1", tls_fingerprint="t1", account_created_at=created(1), verification_path="education"),
        ev("b", ip="198.51.100.1", tls_fingerprint="t2", account_created_at=created(1), verification_path="startup"),
    ]
    assert weight(events) == 0


def test_one_client_build_and_one_creation_burst_on_different_networks_weigh_a_third_per_bucket() -> None:
    events = [
        ev("a", ip="198.51.100.1", account_created_at=created(1), **SDK),
        ev("b", ip="192.0.2.1", account_created_at=created(2), **SDK),
    ]
    assert weight(events) == pytest.approx(2 * 0.34)


def test_a_proxy_pools_subnet_adds_half_per_bucket_to_client_and_burst() -> None:
    events = [
        ev("a", ip="198.51.100.1", account_created_at=created(1), **SDK),
        ev("b", ip="198.51.100.2", account_created_at=created(2), **SDK),
    ]
    assert weight(events) == pytest.approx(2 * 0.5 + 2 * 0.34)


def test_popularity_is_one_up_to_four_holders_then_two_over_log2() -> None:
    df = np.array([1, 2, 4, 5, 16, 64, 400])
    expected = [1.0, 1.0, 1.0, 2 / math.log2(5), 0.5, 1 / 3, 2 / math.log2(400)]
    assert popularity(df) == pytest.approx(expected)


def test_an_address_and_client_shared_by_sixteen_accounts_ties_each_pair_by_a_quarter() -> None:
    events = [ev(f"u{i}", i, ip="198.51.100.1", **SDK) for i in range(16)]
    assert weight(events, "u0", "u15") == pytest.approx(0.5 * 0.5)


@pytest.mark.parametrize(("holders", "expected"), [(256, 0.5 * 2 / 8), (257, 0.0)])  # MAX_KEY_ACCOUNTS
def test_a_network_key_held_by_more_than_max_key_accounts_ties_no_one(holders: int, expected: float) -> None:
    events = [ev(f"u{i}", i, ip="198.51.100.1", **SDK) for i in range(holders)]
    assert weight(events, "u0", "u1", max_df_share=1.0) == pytest.approx(expected)


@pytest.mark.parametrize(("holders", "expected"), [(50, 0.5 * 2 / math.log2(50)), (51, 0.0)])
def test_a_key_held_by_more_than_a_quarter_of_the_accounts_and_more_than_fifty_ties_no_one(
    holders: int, expected: float
) -> None:
    events = [ev(f"u{i}", i, ip="198.51.100.1", **SDK) for i in range(holders)]
    assert weight(events, "u0", "u1") == pytest.approx(expected)


def test_the_share_of_accounts_a_key_may_reach_is_a_parameter() -> None:
    events = [ev(f"u{i}", i, ip="198.51.100.1", **SDK) for i in range(60)]  # 60 of 160 accounts: above a quarter
    events += [ev(f"other{i}", i, ip=f"192.0.{i}.1") for i in range(100)]
    assert weight(events, "u0", "u1", max_df_share=0.25) == 0
    assert weight(events, "u0", "u1", max_df_share=0.5) == pytest.approx(0.5 * 2 / math.log2(60))


# --- identity rules -----------------------------------------------------------------------------------------------


def test_a_shared_card_or_api_key_makes_one_node_and_no_pair_weight() -> None:
    events = [
        ev("a", ip="198.51.100.1", payment_fingerprint="card-1"),
        ev("b", ip="192.0.2.1", payment_fingerprint="card-1", api_key_id="key-shared"),
        ev("c", ip="203.0.113.1", api_key_id="key-shared"),
        ev("d", ip="203.0.113.2"),
    ]
    st = state_of(events)
    t = ties(st)
    node = dict(zip(st.names, t.node.tolist(), strict=True))
    assert node["a"] == node["b"] == node["c"] != node["d"]
    assert t.pairs.nnz == 0
    assert labels(events) == {"a": 0, "b": 0, "c": 0, "d": -1}


# --- content rules ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("templated", "free", "expected"),
    [
        (10, 0, 1.0),  # opening and closing skeletons, 0.5 each
        (2, 0, 1.0),  # two uses are a habit
        (1, 0, 0.0),  # one use is not
        (2, 8, 1.0),  # 2 of 10 requests: full share (from 10%), fully template-driven (from 20%)
        (2, 18, math.sqrt(0.5) * 2 * 0.5),  # 2 of 20: full share, half driven
        (2, 38, math.sqrt(0.25 * 0.25) * 2 * 0.5),  # 2 of 40: half the share squared, a quarter driven
    ],
)
def test_a_shared_template_weighs_by_its_share_of_each_accounts_traffic(
    templated: int, free: int, expected: float
) -> None:
    events = account("a", templated, free, "198.51.100.1", "t1") + account("b", 10, 0, "192.0.2.1", "t2")
    assert weight(events) == pytest.approx(expected)


@pytest.mark.parametrize(("same", "expected"), [("ip", 2.0), ("client", 2.0)])
def test_a_shared_template_sent_from_the_same_address_or_client_weighs_double(same: str, expected: float) -> None:
    ip_b = "198.51.100.1" if same == "ip" else "192.0.2.1"
    client_b = "t1" if same == "client" else "t2"
    events = account("a", 10, 0, "198.51.100.1", "t1") + account("b", 10, 0, ip_b, client_b)
    assert weight(events) == pytest.approx(expected)


@pytest.mark.parametrize(("holders", "expected"), [(20, 1.0), (21, 0.0)])  # POPULAR_TEMPLATE_MIN
def test_a_template_used_by_more_than_twenty_accounts_is_popular_and_ties_no_one(holders: int, expected: float) -> None:
    events = [e for i in range(holders) for e in account(f"u{i}", 3, 0, f"192.0.{i}.1", f"t{i}")]
    assert weight(events, "u0", "u1") == pytest.approx(expected)


def test_a_template_used_by_more_than_one_percent_of_many_accounts_is_popular() -> None:
    users = [e for i in range(25) for e in account(f"u{i}", 3, 0, f"192.0.{i}.1", f"t{i}")]
    crowd = [ev(f"x{i}", i, ip=f"10.{i // 250}.{i % 250}.1") for i in range(2400)]  # 25 of 2,425: above 1%
    assert weight(users + crowd, "u0", "u1") == 0
    crowd = [ev(f"x{i}", i, ip=f"10.{i // 250}.{i % 250}.1") for i in range(2600)]  # 25 of 2,625: below 1%
    assert weight(users + crowd, "u0", "u1") == pytest.approx(1.0)


# --- what link_accounts reports per account -------------------------------------------------------------------------


def test_link_accounts_counts_shared_keys_bursts_and_shared_templates_per_account() -> None:
    events = [
        ev("a", ip="198.51.100.1", account_created_at=created(1), verification_path="education", **SDK),
        ev("b", 1, ip="198.51.100.1", account_created_at=created(2), verification_path="education", **SDK),
        ev("c", -1, ip="192.0.2.1", account_created_at=created(20), tls_fingerprint="t3"),
    ]  # an account's creation time is the one its first request carries
    events += account("c", 3, 0, "192.0.2.1", "t3") + account("d", 3, 0, "203.0.113.1", "t4")
    st = state_of(events)
    link = link_accounts(st)
    at = {name: i for i, name in enumerate(st.names)}
    # a and b: one ip+client key, two ip+burst, two client+burst, two subnet+client+burst
    assert link.shared_keys[at["a"]] == link.shared_keys[at["b"]] == 7
    assert link.shared_keys[at["c"]] == link.shared_keys[at["d"]] == 2  # the template's opening and closing
    assert {name: link.burst_size[i] for name, i in at.items()} == {"a": 2.0, "b": 2.0, "c": 1.0, "d": 0.0}
    assert {name: bool(link.shares_template[i]) for name, i in at.items()} == {
        "a": False,
        "b": False,
        "c": True,
        "d": True,
    }
    assert link.labels[at["a"]] == link.labels[at["b"]] != link.labels[at["c"]] == link.labels[at["d"]]
    assert link.n_clusters == 2


def test_a_pair_tied_by_exactly_the_strong_link_weight_is_linked_and_one_just_below_is_not() -> None:
    at_one = [  # one shared burst bucket on one address: 1.0
        ev("a", ip="198.51.100.1", tls_fingerprint="t1", account_created_at=created(2), verification_path="education"),
        ev("b", ip="198.51.100.1", tls_fingerprint="t2", account_created_at=created(5), verification_path="education"),
    ]
    below = [  # client build and burst on different networks: 0.68
        ev("a", ip="198.51.100.1", account_created_at=created(1), **SDK),
        ev("b", ip="192.0.2.1", account_created_at=created(2), **SDK),
    ]
    assert labels(at_one) == {"a": 0, "b": 0}
    assert labels(below) == {"a": -1, "b": -1}


def test_no_account_and_lone_accounts_give_no_cluster() -> None:
    empty = link_accounts(AccountState())
    assert (len(empty.labels), empty.n_clusters) == (0, 0)
    lone = link_accounts(state_of([ev("a", ip="198.51.100.1")]))
    assert lone.labels.tolist() == [-1] and lone.n_clusters == 0


# --- the Linkage record -----------------------------------------------------------------------------------------------


def _linkage() -> Linkage:
    return Linkage(
        labels=np.array([1, -1, 0, 1]),
        n_clusters=2,
        shared_keys=np.array([3.0, 0.0, 2.0, 3.0]),
        burst_size=np.array([2.0, 1.0, 0.0, 2.0]),
        shares_template=np.array([True, False, False, True]),
    )


def test_a_linkage_extended_to_more_accounts_leaves_the_new_ones_unlinked() -> None:
    link = _linkage().extended(6)
    assert link.labels.tolist() == [1, -1, 0, 1, -1, -1]
    assert link.n_clusters == 2
    assert link.shared_keys.tolist() == [3.0, 0.0, 2.0, 3.0, 0.0, 0.0]
    assert link.burst_size.tolist() == [2.0, 1.0, 0.0, 2.0, 0.0, 0.0]
    assert link.shares_template.tolist() == [True, False, False, True, False, False]


def test_a_linkage_extended_by_one_account_grows_by_one() -> None:
    link = _linkage().extended(5)
    assert link.labels.tolist() == [1, -1, 0, 1, -1]
    assert len(link.shared_keys) == len(link.burst_size) == len(link.shares_template) == 5


@pytest.mark.parametrize("n", [2, 4])
def test_a_linkage_extended_to_no_more_accounts_is_itself(n: int) -> None:
    link = _linkage()
    assert link.extended(n) is link


def test_a_linkage_survives_its_snapshot_document() -> None:
    link = _linkage()
    back = Linkage.from_doc(link.to_doc() | {"rule_members": [[0, 3]]})  # an older snapshot's extra field
    assert back.labels.tolist() == link.labels.tolist() and back.labels.dtype == np.int64
    assert back.n_clusters == 2
    assert back.shared_keys.tolist() == link.shared_keys.tolist()
    assert back.burst_size.tolist() == link.burst_size.tolist()
    assert back.shares_template.tolist() == link.shares_template.tolist() and back.shares_template.dtype == bool


def test_members_lists_each_clusters_accounts_in_order() -> None:
    assert [m.tolist() for m in _linkage().members()] == [[2], [0, 3]]


def test_an_account_shares_a_template_when_another_account_uses_it_too() -> None:
    alone = account("a", 3, 0, "192.0.2.1", "t1")
    three = alone + account("b", 3, 0, "192.0.2.2", "t2") + account("c", 3, 0, "192.0.2.3", "t3")
    assert link_accounts(state_of(alone)).shares_template.tolist() == [False]
    assert link_accounts(state_of(three)).shares_template.tolist() == [True, True, True]


def crowd(holders: int, others: int) -> list[Event]:
    """``holders`` accounts created the same hour, sending from one address with one client build, among
    ``others`` accounts each on its own address."""
    events = [ev(f"u{i}", i, ip="198.51.100.1", account_created_at=created(3), **SDK) for i in range(holders)]
    return events + [ev(f"other{i}", i, ip=f"10.0.{i // 250}.{i % 250}") for i in range(others)]


def test_by_default_a_key_may_be_held_by_a_quarter_of_the_accounts() -> None:
    # 80 of 400 (a fifth) share an address and client build (0.5) and two creation buckets (1.0 each), client
    # and burst (0.34 each), subnet, client and burst (0.5 each): 4.18, scaled by the key's popularity
    events = crowd(80, 320)
    assert weight(events, "u0", "u1") == pytest.approx(4.18 * 2 / math.log2(80))
    assert link_accounts(state_of(events)).n_clusters == 1  # 1.32 per pair: strongly linked


def test_link_accounts_leaves_a_crowd_above_a_quarter_of_the_accounts_to_the_scoring_model() -> None:
    events = crowd(150, 250)  # 150 of 400 on one address, one client, one creation hour: a campus, not a proof
    assert link_accounts(state_of(events)).n_clusters == 0
    linked = link_accounts(state_of(events), max_df_share=1.0)
    assert linked.n_clusters == 1 and (linked.labels == 0).sum() == 150


def test_pairs_are_listed_once_each_in_the_upper_triangle() -> None:
    st = state_of([ev(name, i, ip="198.51.100.1", **SDK) for i, name in enumerate("abc")])
    pairs = ties(st).pairs
    assert sorted(zip(pairs.row.tolist(), pairs.col.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2)]


def test_the_weight_of_a_pair_counts_that_pair_only() -> None:
    # Three accounts, each with two addresses, each pair sharing one address (and the client build): 0.5 each.
    events = [
        ev("a", 0, ip="198.51.100.1", **SDK),
        ev("a", 1, ip="198.51.100.2", **SDK),
        ev("b", 2, ip="198.51.100.1", **SDK),
        ev("b", 3, ip="198.51.100.3", **SDK),
        ev("c", 4, ip="198.51.100.2", **SDK),
        ev("c", 5, ip="198.51.100.3", **SDK),
    ]
    assert [weight(events, x, y) for x, y in (("a", "b"), ("a", "c"), ("b", "c"))] == pytest.approx([0.5] * 3)


def test_accounts_sharing_a_card_are_one_node_per_card() -> None:
    cards = ["card-x", "card-x", "card-y", "card-y", None, None, None]
    events = [ev(f"{i}", i, ip=f"192.0.2.{i}", payment_fingerprint=card) for i, card in enumerate(cards)]
    assert groups_of(events) == [{"0", "1"}, {"2", "3"}]


def test_two_accounts_sharing_only_a_card_are_one_cluster() -> None:
    events = [ev("a", 0, ip="192.0.2.1", payment_fingerprint="card-x")]
    events += [ev("b", 1, ip="192.0.2.2", payment_fingerprint="card-x")]
    assert groups_of(events) == [{"a", "b"}]


def test_each_address_a_pair_shares_adds_its_weight() -> None:
    # c comes first, on another address and client build; a and b share three addresses and the client build.
    events = [ev("c", 0, ip="192.0.2.9", tls_fingerprint="t9")]
    events += [ev(name, 1 + i, ip=f"198.51.100.{i}", **SDK) for name in ("a", "b") for i in range(3)]
    assert weight(events, "a", "b") == pytest.approx(1.5)
    assert weight(events, "a", "c") == 0


def test_an_account_linked_to_a_later_member_of_a_card_group_joins_the_group() -> None:
    # p and r share a card; q, seen between them, shares r's address and creation burst (1.0): one cluster.
    events = [
        ev("p", 0, ip="192.0.2.1", payment_fingerprint="card-x"),
        ev("q", 1, ip="198.51.100.1", account_created_at=created(2), tls_fingerprint="t1"),
        ev(
            "r", 2, ip="198.51.100.1", account_created_at=created(3), tls_fingerprint="t2", payment_fingerprint="card-x"
        ),
    ]
    assert groups_of(events) == [{"p", "q", "r"}]


def groups_of(events: list[Event]) -> list[set[str]]:
    st = state_of(events)
    return [{st.names[i] for i in members} for members in link_accounts(st).members()]


def test_evidence_records_are_immutable() -> None:
    st = state_of([ev("a"), ev("b", 1)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        ties(st).node = np.zeros(2)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        RULE_SPECS[0].weight = 1.0  # type: ignore[misc]
