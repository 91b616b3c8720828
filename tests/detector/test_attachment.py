"""Accounts sending through a flagged cluster's exits: who is attached to the cluster, and who is not."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_

from distillguard.detector.attachment import ATTACH_SHARE, EXIT_MIN_MEMBERS, EXIT_PURITY, attach
from distillguard.detector.detector import Detector
from distillguard.detector.events import read_events
from distillguard.detector.policy import load_policy
from distillguard.detector.records import Action, rank
from distillguard.detector.state import AccountState
from tests.detector.conftest import SIMULATED_DAYS

from .factory import ev

PROXIES = ("198.51.100.1", "198.51.100.2", "198.51.100.3")
SDK = {"tls_fingerprint": "ja3-hydra", "user_agent": "httpx/0.27"}
NAT = "192.0.2.50"


def _hydra(size: int = 6) -> list:
    """Cluster members: every request through the proxy pool, from one SDK build."""
    return [
        ev(f"h{j}", j + i, ip=PROXIES[(j + i) % len(PROXIES)], **SDK) for j in range(size) for i in range(len(PROXIES))
    ]


def _state(events: list) -> tuple[AccountState, np.ndarray, np.ndarray]:
    """The state of ``events``, with the ``h*`` accounts as one flagged cluster (label 0) and the rest unlinked."""
    st = AccountState()
    for e in sorted(events, key=lambda e: e.ts):
        st.add(e)
    st.fold()
    labels = np.array([0 if name.startswith("h") else -1 for name in st.names], dtype=np.int64)
    return st, labels, np.array([True])


def _attached(events: list, flagged: bool = True) -> dict[str, tuple[int, int, int]]:
    st, labels, fl = _state(events)
    at = attach(st, labels, fl & flagged)
    return {st.names[a]: (int(at.cluster[a]), int(at.requests[a]), int(at.exits[a])) for a in range(st.size)}


def test_a_new_account_through_the_exits_from_the_clusters_client_is_attached() -> None:
    new = [
        ev("new", 30, ip=PROXIES[0], **SDK),
        ev("new", 31, ip=PROXIES[1], **SDK),
        ev("new", 32, ip="10.9.9.9", **SDK),
    ]
    got = _attached(_hydra() + new)
    assert got["new"] == (0, 2, 2)  # 2 of its 3 requests through 2 exits
    assert all(got[f"h{j}"][0] == -1 for j in range(6)), "members are in the cluster, not attached to it"


def test_a_flagged_cluster_is_needed() -> None:
    new = [ev("new", 30, ip=PROXIES[0], **SDK)]
    assert _attached(_hydra() + new, flagged=False)["new"][0] == -1


def test_a_reseller_customer_passing_through_now_and_then_is_not_attached() -> None:
    own = [ev("cust", 30 + i, ip="10.1.1.1", **SDK) for i in range(3)]
    got = _attached(_hydra() + own + [ev("cust", 40, ip=PROXIES[0], **SDK)])
    assert got["cust"][0] == -1  # 1 of 4 requests through an exit: under ATTACH_SHARE
    assert ATTACH_SHARE > 1 / 4


def test_another_client_build_is_not_attached() -> None:
    new = [ev("app", 30 + i, ip=PROXIES[i], tls_fingerprint="ja3-chrome", user_agent="Mozilla/5.0") for i in range(3)]
    assert _attached(_hydra() + new)["app"][0] == -1


def test_a_nat_mostly_used_outside_the_cluster_is_no_exit() -> None:
    members = [ev(f"h{j}", j, ip=NAT, **SDK) for j in range(EXIT_MIN_MEMBERS)]
    students = [ev(f"s{j}", 20 + j, ip=NAT, **SDK) for j in range(EXIT_MIN_MEMBERS + 1)]
    got = _attached(members + students)
    assert all(got[f"s{j}"][0] == -1 for j in range(EXIT_MIN_MEMBERS + 1))


def test_an_address_one_member_uses_is_no_exit_two_make_it_one() -> None:
    members = [*_hydra(), ev("h0", 50, ip="10.7.7.7", **SDK)]
    new = [ev("new", 60, ip="10.7.7.7", **SDK)]
    assert _attached(members + new)["new"][0] == -1
    assert _attached([*members, ev("h1", 55, ip="10.7.7.7", **SDK), *new])["new"][0] == 0  # two members: an exit


def test_an_account_is_attached_to_the_cluster_whose_exits_carry_half_its_requests() -> None:
    other = ("203.0.113.1", "203.0.113.2")
    second = [ev(f"g{j}", j + i, ip=other[i], **SDK) for j in range(4) for i in range(2)]
    new = [ev("new", 30, ip=PROXIES[0], **SDK), ev("new", 31, ip=other[0], **SDK), ev("new", 32, ip=other[1], **SDK)]
    st = AccountState()
    for e in sorted(_hydra() + second + new, key=lambda e: e.ts):
        st.add(e)
    st.fold()
    labels = np.array([0 if n.startswith("h") else 1 if n.startswith("g") else -1 for n in st.names], dtype=np.int64)
    at = attach(st, labels, np.array([True, True]))
    a = st.names.index("new")
    assert (int(at.cluster[a]), int(at.requests[a])) == (1, 2)


def test_half_through_each_of_two_clusters_goes_to_the_smaller_label_and_a_second_client_counts() -> None:
    """Two clusters' exits are disjoint for an unlinked account (it is a user of each address it sends through, so
    no address is mostly two clusters'), so it can be drawn to two only at exactly half each: the smaller label wins.
    Any of an account's client builds may be the cluster's. An account seen since the last scoring (beyond the
    labels) is left out."""
    x, y = "198.51.100.10", "198.51.100.11"
    members = [ev(f"h{j}", j, ip=x, **SDK) for j in range(3)] + [ev(f"g{j}", j, ip=y, **SDK) for j in range(3)]
    both = [ev("both", 10, ip=y, **SDK), ev("both", 11, ip=x, **SDK)]
    browser = {"tls_fingerprint": "ja3-chrome", "user_agent": "Mozilla/5.0"}
    two = [ev("two", 12, ip=y, **browser), ev("two", 13, ip=y, **SDK), ev("two", 14, ip="10.3.3.3", **browser)]
    late = [ev("late", 20, ip=y, **SDK)]
    st = AccountState()
    for e in [*members, *both, *two, *late]:
        st.add(e)
    st.fold()
    assert st.names[-1] == "late"
    scored = st.names[:-1]
    labels = np.array([0 if n.startswith("h") else 1 if n.startswith("g") else -1 for n in scored], dtype=np.int64)
    at = attach(st, labels, np.array([True, True]))
    got = {n: (int(at.cluster[i]), int(at.requests[i]), int(at.exits[i])) for i, n in enumerate(scored)}
    assert got["both"] == (0, 1, 1)
    assert got["two"] == (1, 2, 1)
    assert len(at.cluster) == len(scored)


CHECKPOINT_EVENTS = 4_000  # the hard day is looked at after every this many events...
CHECKPOINTS_UNTIL = 40_000  # ...up to this many (its hydras' light accounts arrive through the morning)


@SIMULATED_DAYS
@pytest.mark.slow
def test_light_unlinked_accounts_lifted_during_the_hard_day_are_attackers(hard_day: dict) -> None:
    """Through the hard day's morning, every account with few requests and in no cluster that acts above watch does
    so on a flagged cluster's exits and its own behaviour, and is an attacker (a reseller's customer sending through
    the same exits is not lifted); some are lifted."""
    labels, few = hard_day["labels"], load_policy().few_requests
    events = list(read_events(hard_day["day"] / "events.jsonl.gz"))
    det, lifted = Detector(), set()
    for i in range(0, CHECKPOINTS_UNTIL, CHECKPOINT_EVENTS):
        det.process(events[i : i + CHECKPOINT_EVENTS])
        for v in det.verdicts():
            if v.cluster_id is None and rank(v.action) > rank(Action.watch) and v.n_requests < few:
                kinds = {line.split(":", 1)[0] for line in v.action_basis[1:]}
                assert kinds >= {"network", "behaviour"}, v.action_basis
                assert any("flagged cluster cl-" in line for line in v.action_basis), v.action_basis
                assert labels[v.account_id].attack, (labels[v.account_id].kind, v.action_basis)
                lifted.add(v.account_id)
    assert lifted


def _reference(events: list, labels: dict[str, int], flagged: set[int]) -> dict[str, tuple[int, int, int]]:
    """The rule of :mod:`detector.attachment`, written out account by account."""
    reqs: dict[str, dict[str, int]] = {}
    clients: dict[str, set[str]] = {}
    for e in events:
        reqs.setdefault(e.account_id, {})
        reqs[e.account_id][e.ip] = reqs[e.account_id].get(e.ip, 0) + 1
        clients.setdefault(e.account_id, set()).add(f"{e.tls_fingerprint}|{e.user_agent}")
    users = {ip: {a for a in reqs if ip in reqs[a]} for e in events for ip in [e.ip]}
    out = {}
    for a in reqs:
        best = (-1, 0, 0)
        if labels[a] < 0:
            for k in sorted(flagged):
                members = {m for m in reqs if labels[m] == k}
                exits = {
                    ip
                    for ip, us in users.items()
                    if len(us & members) >= EXIT_MIN_MEMBERS and len(us & members) >= EXIT_PURITY * len(us)
                }
                through = sum(c for ip, c in reqs[a].items() if ip in exits)
                used = len(exits & set(reqs[a]))
                same = clients[a] & set().union(*(clients[m] for m in members))
                if used and same and through >= ATTACH_SHARE * sum(reqs[a].values()) and through > best[1]:
                    best = (k, through, used)
        out[a] = best
    return out


ADDRESSES, CLIENTS, CLUSTERS = 4, 2, 2  # the random worlds' sizes


@st_.composite
def _worlds(draw: st_.DrawFn) -> tuple[list[int], set[int], list[tuple[int, int, int]]]:
    """A random world: each cluster's members send through a pool of the shared addresses from one client build;
    other accounts (unlinked) from one build, mostly through one address (a shared one or their own: -1). Returns
    per account its label, the flagged clusters and the sends (account, address, client)."""
    labels: list[int] = []
    sends: list[tuple[int, int, int]] = []
    for k in range(CLUSTERS):
        pool = draw(st_.lists(st_.integers(0, ADDRESSES - 1), min_size=1, max_size=2, unique=True))
        client = draw(st_.integers(0, CLIENTS - 1))
        for _ in range(draw(st_.integers(2, 4))):
            labels.append(k)
            sends += [(len(labels) - 1, draw(st_.sampled_from(pool)), client) for _ in range(draw(st_.integers(1, 3)))]
    for _ in range(draw(st_.integers(1, 4))):
        labels.append(-1)
        client, home = draw(st_.integers(0, CLIENTS - 1)), draw(st_.integers(-1, ADDRESSES - 1))
        for _ in range(draw(st_.integers(1, 4))):
            sends.append((len(labels) - 1, draw(st_.sampled_from([home, home, -1, *range(ADDRESSES)])), client))
    order = draw(st_.permutations(range(len(sends))))
    return labels, draw(st_.sets(st_.integers(0, CLUSTERS - 1), min_size=1)), [sends[j] for j in order]


@settings(max_examples=100, deadline=None)
@given(_worlds())
def test_attachment_equals_the_rule_written_out(world: tuple[list[int], set[int], list]) -> None:
    """Random worlds against a plain account-by-account reading of the rule."""
    labels, flagged, sends = world
    events = [
        ev(f"a{acct}", i, ip=f"10.0.0.{ip}" if ip >= 0 else f"10.1.0.{acct}", tls_fingerprint=f"ja3-{client}")
        for i, (acct, ip, client) in enumerate(sends)
    ]
    state = AccountState()
    for e in events:
        state.add(e)
    state.fold()
    by_name = {f"a{i}": lab for i, lab in enumerate(labels)}
    lab = np.array([by_name[name] for name in state.names], dtype=np.int64)
    at = attach(state, lab, np.array([k in flagged for k in range(CLUSTERS)]))
    got = {name: (int(at.cluster[i]), int(at.requests[i]), int(at.exits[i])) for i, name in enumerate(state.names)}
    assert got == _reference(events, by_name, flagged)
