"""Linking: which shared evidence makes one operator, and which does not."""

from __future__ import annotations

from detector.linking import link_accounts
from detector.state import AccountState

from .factory import ev


def _clusters(events) -> dict[str, int]:
    st = AccountState()
    for e in events:
        st.add(e)
    st.fold()
    link = link_accounts(st)
    return {name: int(link.labels[i]) for i, name in enumerate(st.names)}


def test_shared_payment_instrument_links_accounts_on_different_networks() -> None:
    lab = _clusters([ev("a", ip="198.51.100.1", payment_fingerprint="card-1"), ev("b", ip="192.0.2.9", payment_fingerprint="card-1")])
    assert lab["a"] == lab["b"] != -1


def test_reseller_customers_sharing_only_proxy_ips_are_not_linked() -> None:
    proxy = "45.9.1.10"
    events = [
        ev("hydra-1", ip=proxy, tls_fingerprint="ja3-x", user_agent="httpx/0.27"),
        ev("hydra-2", 1, ip=proxy, tls_fingerprint="ja3-x", user_agent="httpx/0.27"),
        ev("customer", 2, ip=proxy, tls_fingerprint="ja3-chrome", user_agent="Mozilla/5.0 Chrome/131"),
    ]
    lab = _clusters(events)
    assert lab["hydra-1"] == lab["hydra-2"] != -1
    assert lab["customer"] == -1


def test_same_browser_build_alone_links_nobody() -> None:
    events = [ev(f"u{i}", i, ip=f"81.2.3.{i}", tls_fingerprint="ja3-chrome", user_agent="Mozilla/5.0 Chrome/131") for i in range(5)]
    assert set(_clusters(events).values()) == {-1}


def test_creation_burst_with_one_client_links_accounts_across_ips() -> None:
    events = [
        ev(f"farm{i}", i, ip=f"100.{i}.0.1", tls_fingerprint="ja3-x", user_agent="sdk/1.0",
           account_created_at=f"2026-02-27T0{i}:10:00Z", verification_path="education")
        for i in range(4)
    ]
    lab = _clusters(events)
    assert len({lab[f"farm{i}"] for i in range(4)}) == 1 and lab["farm0"] != -1


def test_shared_template_repertoire_links_low_and_slow_accounts() -> None:
    t1 = "Grade the following answer against the rubric below and justify each point. Answer: {}"
    t2 = "Work through this problem one step at a time and show all intermediate steps: {}"
    events = []
    for net, acct in ((71, "slow-a"), (72, "slow-b")):
        for i in range(3):
            events.append(ev(acct, i, ip=f"{net}.1.1.{i}", prompt=t1.format(f"{acct}{i}")))
            events.append(ev(acct, 10 + i, ip=f"{net}.1.1.{i}", prompt=t2.format(f"q{acct}{i}")))
    events.append(ev("stranger", 0, ip="9.9.9.9", prompt="What is a good recipe for banana bread?"))
    lab = _clusters(events)
    assert lab["slow-a"] == lab["slow-b"] != -1
    assert lab["stranger"] == -1
