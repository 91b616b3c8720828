"""Linking: which shared evidence makes one operator, and which does not."""

from __future__ import annotations

from distillguard.detector.linking import link_accounts
from distillguard.detector.state import AccountState

from .factory import ev

RUBRIC = "Grade the following answer against the rubric below and justify each point. Answer: {} Give a score out of ten at the end, with reasons."
STEPS = "Work through this problem one step at a time and show all intermediate steps: {} Finish with the final answer on its own line please."
PROOF = "Prove the following statement rigorously, citing every lemma you rely on: {} Then summarise the proof idea in two plain sentences."
CODE = "Write a complete, tested Python solution for this programming task: {} Explain the time and space complexity of your code afterwards."
ESSAY = "Rewrite the following paragraph for a formal academic audience, keeping meaning: {} Keep it under two hundred words and avoid jargon where you can."


def _clusters(events) -> dict[str, int]:
    st = AccountState()
    for e in sorted(events, key=lambda e: e.ts):
        st.add(e)
    st.fold()
    link = link_accounts(st)
    return {name: int(link.labels[i]) for i, name in enumerate(st.names)}


def _ring(prefix: str, size: int, templates: tuple[str, ...], uses: int = 3, net: int = 10) -> list:
    """Accounts that each send only the ring's templates (filled with different questions) from their own
    address, client and card: a low-and-slow campaign."""
    events = []
    for j in range(size):
        acct = f"{prefix}{j}"
        for t_i, tmpl in enumerate(templates):
            for u in range(uses):
                events.append(
                    ev(
                        acct,
                        j + 7 * t_i + u,
                        ip=f"{net}.{j}.0.1",
                        tls_fingerprint=f"ja3-{prefix}{j}",
                        user_agent=f"browser/{j}",
                        payment_fingerprint=f"card-{acct}",
                        prompt=tmpl.format(f"question {acct} {t_i} {u}"),
                    )
                )
    return events


def _hydra(prefix: str, net: int, cards: tuple[str, ...], size: int = 6, proxies: int = 4) -> list:
    """A hydra: accounts created in one burst, one SDK build, a proxy pool of ``proxies`` addresses in network
    ``net`` shared by all, paying with ``cards`` in turn."""
    return [
        ev(
            f"{prefix}{j}",
            j * proxies + i,
            ip=f"{net}.0.0.{i + 1}",
            tls_fingerprint="ja3-x",
            user_agent="httpx/0.27",
            payment_fingerprint=cards[j % len(cards)],
            account_created_at="2026-02-27T01:00:00Z",
            verification_path="education",
        )
        for j in range(size)
        for i in range(proxies)
    ]


def test_shared_payment_instrument_links_accounts_on_different_networks() -> None:
    lab = _clusters(
        [
            ev("a", ip="198.51.100.1", payment_fingerprint="card-1"),
            ev("b", ip="192.0.2.9", payment_fingerprint="card-1"),
        ]
    )
    assert lab["a"] == lab["b"] != -1


def test_reseller_customers_on_a_hydras_proxy_ips_are_not_linked() -> None:
    proxy = [f"45.9.1.{i}" for i in range(10, 14)]
    events = [
        ev(f"hydra-{j}", j * 4 + i, ip=ip, tls_fingerprint="ja3-x", user_agent="httpx/0.27")
        for j in range(3)
        for i, ip in enumerate(proxy)
    ]
    events += [
        ev("customer", 30 + i, ip=ip, tls_fingerprint="ja3-chrome", user_agent="Mozilla/5.0 Chrome/131")
        for i, ip in enumerate(proxy)
    ]
    # a customer whose SDK build matches the hydra's, sending through one of the proxy's addresses once
    events.append(ev("sdk-customer", 40, ip=proxy[0], tls_fingerprint="ja3-x", user_agent="httpx/0.27"))
    lab = _clusters(events)
    assert lab["hydra-0"] == lab["hydra-1"] == lab["hydra-2"] != -1
    assert lab["customer"] == -1
    assert lab["sdk-customer"] == -1


def test_same_browser_build_alone_links_nobody() -> None:
    events = [
        ev(f"u{i}", i, ip=f"81.2.3.{i}", tls_fingerprint="ja3-chrome", user_agent="Mozilla/5.0 Chrome/131")
        for i in range(5)
    ]
    assert set(_clusters(events).values()) == {-1}


def test_creation_burst_with_one_client_alone_does_not_link_but_a_shared_proxy_subnet_does() -> None:
    def farm(prefix: str, ip) -> list:
        return [
            ev(
                f"{prefix}{i}",
                i,
                ip=ip(i),
                tls_fingerprint="ja3-x",
                user_agent="sdk/1.0",
                account_created_at=f"2026-02-27T0{i // 2}:{10 + 30 * (i % 2)}:00Z",
                verification_path="education",
            )
            for i in range(4)
        ]

    apart = _clusters(farm("farm", lambda i: f"100.{i}.0.1"))
    assert set(apart.values()) == {-1}
    pooled = _clusters(farm("farm", lambda i: f"100.64.0.{i + 1}"))
    assert len(set(pooled.values())) == 1 and pooled["farm0"] != -1


def test_low_and_slow_ring_linked_only_by_its_templates_is_one_cluster() -> None:
    events = _ring("slow", 6, (RUBRIC, STEPS))
    # someone who reused one of the ring's prompts twice during a day of ordinary chat
    events += [
        ev(
            "chatter",
            100 + i,
            ip="9.9.9.9",
            prompt=f"What is a good recipe for banana bread with {i} eggs and some walnuts?",
        )
        for i in range(20)
    ]
    events += [ev("chatter", 130 + i, ip="9.9.9.9", prompt=RUBRIC.format(f"my essay draft {i}")) for i in range(2)]
    events.append(ev("stranger", 0, ip="9.9.9.8", prompt="What is a good recipe for banana bread?"))
    lab = _clusters(events)
    assert len({lab[f"slow{j}"] for j in range(6)}) == 1 and lab["slow0"] != -1
    assert lab["chatter"] == -1
    assert lab["stranger"] == -1


def test_two_hydras_bridged_by_one_weak_shared_key_stay_separate() -> None:
    events = _hydra("ha", net=45, cards=("card-a",)) + _hydra("hb", net=46, cards=("card-b",))
    # the weak bridge: both hydras' accounts share a client build and a creation burst (and nothing else)
    lab = _clusters(events)
    assert len({lab[f"ha{j}"] for j in range(6)}) == 1 and lab["ha0"] != -1
    assert len({lab[f"hb{j}"] for j in range(6)}) == 1 and lab["hb0"] != -1
    assert lab["ha0"] != lab["hb0"]


def test_enterprise_with_one_card_behind_one_nat_is_not_merged_with_a_hydra() -> None:
    nat = "198.18.5.20"
    events = []
    for j in range(8):
        browser = ("ja3-chrome", "Mozilla/5.0 Chrome/131") if j % 2 else ("ja3-firefox", "Mozilla/5.0 Firefox/133")
        for i in range(3):
            events.append(
                ev(
                    f"seat{j}",
                    60 * i + j,
                    ip=nat,
                    tls_fingerprint=browser[0],
                    user_agent=browser[1],
                    payment_fingerprint="card-acme",
                    org_id="org-acme",
                    verification_path="enterprise",
                )
            )
    events += _hydra("hydra", net=45, cards=("card-h0", "card-h1"))
    # one seat runs the hydra's SDK build from the NAT, and one hydra account once sent through the NAT too
    events.append(
        ev("seat0", 300, ip=nat, tls_fingerprint="ja3-x", user_agent="httpx/0.27", payment_fingerprint="card-acme")
    )
    events.append(
        ev("hydra0", 301, ip=nat, tls_fingerprint="ja3-x", user_agent="httpx/0.27", payment_fingerprint="card-h0")
    )
    lab = _clusters(events)
    assert len({lab[f"seat{j}"] for j in range(8)}) == 1 and lab["seat0"] != -1
    assert len({lab[f"hydra{j}"] for j in range(6)}) == 1 and lab["hydra0"] != -1
    assert lab["seat0"] != lab["hydra0"]


def test_a_ring_bridged_to_another_by_one_account_is_cut_at_the_bridge() -> None:
    # two template rings; an account outside both sends one of ring A's templates and another template
    # that two of ring B's accounts also send: connected components would chain all of them together
    events = _ring("ra", 8, (RUBRIC, STEPS), net=10) + _ring("rb", 8, (PROOF, CODE), net=11)
    events += _ring("bridge", 1, (RUBRIC, ESSAY), net=12)
    events += [
        ev(
            f"rb{j}",
            200 + u,
            ip=f"11.{j}.0.1",
            tls_fingerprint=f"ja3-rb{j}",
            user_agent=f"browser/{j}",
            payment_fingerprint=f"card-rb{j}",
            prompt=ESSAY.format(f"paragraph {j} {u}"),
        )
        for j in (0, 1)
        for u in range(3)
    ]
    lab = _clusters(events)
    ring_a, ring_b = {lab[f"ra{j}"] for j in range(8)}, {lab[f"rb{j}"] for j in range(8)}
    assert len(ring_a) == 1 and len(ring_b) == 1 and -1 not in ring_a | ring_b
    assert ring_a != ring_b


def test_linking_is_deterministic() -> None:
    events = (
        _ring("ra", 8, (RUBRIC, STEPS), net=10)
        + _ring("rb", 8, (PROOF, CODE), net=11)
        + _ring("bridge", 1, (RUBRIC, ESSAY), net=12)
    )
    assert _clusters(events) == _clusters(events)
