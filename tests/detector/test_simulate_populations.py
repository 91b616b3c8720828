"""The simulated populations behave as specified: campaigns share what real ones share, hard negatives look
like attacks in the ways they should, and the hard scenario removes the easy tells."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from statistics import mean, pstdev

import numpy as np
import pytest

from distillguard.detector.simulate import generate


def _by_kind(seed: int, scenario: str) -> tuple[dict, dict[str, list[dict]], dict]:
    sim = generate(seed=seed, scale=0.1, scenario=scenario)
    acc: dict[str, list[dict]] = defaultdict(list)
    for e in sim.events():
        acc[e["account_id"]].append(e)
    return sim.labels, acc, sim.manifest


@pytest.fixture(scope="module")
def standard():
    return _by_kind(21, "standard")


@pytest.fixture(scope="module")
def hard():
    return _by_kind(21, "hard")


def _members(labels, acc, kind):
    groups: dict[str, list[str]] = defaultdict(list)
    for a, v in labels.items():
        if v["kind"] == kind:
            groups[v["campaign"] or "-"].append(a)
    return groups


def test_standard_hydras_share_few_cards_one_client_and_a_small_proxy_pool(standard):
    labels, acc, _manifest = standard
    for _cid, members in _members(labels, acc, "hydra").items():
        evs = [e for a in members for e in acc[a]]
        cards = {e["payment_fingerprint"] for e in evs}
        assert 2 <= len(cards) <= min(8, len(members) // 3)
        assert len({(e["user_agent"], e["tls_fingerprint"]) for e in evs}) == 1
        assert 20 <= len({e["ip"] for e in evs}) <= 64
        created = sorted({e["account_created_at"] for e in evs})
        assert created[0][:10] >= "2026-02-1"  # a recent creation burst


def test_standard_hydra_accounts_are_light_and_regular(standard):
    labels, acc, _ = standard
    biggest = max(_members(labels, acc, "hydra").values(), key=len)
    per_acct = [len(acc[a]) for a in biggest]
    assert 10 <= mean(per_acct) <= 80
    cvs = []
    for a in biggest:
        t = (
            np.array([np.datetime64(e["ts"][:-1]) for e in acc[a] if e["status"] != 0])
            .astype("datetime64[ms]")
            .astype(np.int64)
        )
        gaps = np.diff(t)
        cvs.append(gaps.std() / gaps.mean())
    assert np.median(cvs) < 0.5  # round-robin: far more regular than a Poisson user (CV ~ 1)


def test_hard_hydras_reuse_no_card_and_use_large_mixed_pools(hard):
    labels, acc, manifest = hard
    for _cid, members in _members(labels, acc, "hydra").items():
        cards = [acc[a][0]["payment_fingerprint"] for a in members]
        assert len(set(cards)) == len(cards)
        assert len({(acc[a][0]["user_agent"]) for a in members}) >= 2
    for c in manifest["campaigns"]:
        if c["kind"] == "hydra":
            assert c["proxy_pool_size"] >= 300 and len(c["proxy_asns"]) >= 10


def test_hard_attack_accounts_send_some_camouflage_chats(hard, standard):
    for labels, acc, expect in ((*hard[:2], True), (*standard[:2], False)):
        for kind in ("hydra", "low_and_slow"):
            evs = [e for a, v in labels.items() if v["kind"] == kind for e in acc[a]]
            follow_ups = sum((e["turn_index"] or 0) > 0 for e in evs) / len(evs)
            assert (0.03 < follow_ups < 0.2) if expect else follow_ups == 0, (kind, follow_ups)


def test_reseller_customers_share_proxy_ips_but_not_identity(standard):
    labels, acc, _ = standard
    hydra_ips = {e["ip"] for a, v in labels.items() if v["kind"] == "hydra" for e in acc[a]}
    hydra_cards = {e["payment_fingerprint"] for a, v in labels.items() if v["kind"] == "hydra" for e in acc[a]}
    customers = [a for a, v in labels.items() if v["kind"] == "reseller_customer"]
    assert customers
    for a in customers:
        assert {e["ip"] for e in acc[a]} <= hydra_ips
        assert acc[a][0]["payment_fingerprint"] not in hydra_cards


def test_university_class_behind_one_nat_with_the_same_homework(standard):
    labels, acc, _ = standard
    students = [a for a, v in labels.items() if v["kind"] == "university_student"]
    nat = defaultdict(set)
    for a in students:
        ips = defaultdict(int)
        for e in acc[a]:
            ips[e["ip"]] += 1
        nat[max(ips, key=ips.get)].add(a)
    biggest = max(nat.values(), key=len)
    assert len(biggest) >= 20
    assert all(acc[a][0]["verification_path"] == "education" for a in biggest)
    prompts = [e["prompt"] for a in biggest for e in acc[a] if e["turn_index"] == 0]
    # the same problems recur across different students
    words = defaultdict(set)
    for a in biggest:
        for e in acc[a]:
            if e["turn_index"] == 0:
                words[re.sub(r"\W+", " ", e["prompt"])[-40:]].add(a)
    assert prompts and max(len(v) for v in words.values()) >= 3


def test_enterprise_org_shares_one_card_and_org(standard):
    labels, acc, _ = standard
    orgs = defaultdict(set)
    for a, v in labels.items():
        if v["kind"] == "enterprise_seat":
            orgs[acc[a][0]["org_id"]].add(acc[a][0]["payment_fingerprint"])
    assert orgs and all(len(cards) == 1 for cards in orgs.values())


def test_app_backends_use_one_system_prompt_tools_and_cloud(standard):
    labels, acc, _ = standard
    for a, v in labels.items():
        if v["kind"] == "app_backend":
            evs = acc[a]
            assert len({e["system_prompt"] for e in evs}) == 1 and evs[0]["tools"]
            assert {e["asn"] for e in evs} <= {16509, 14618, 15169, 396982, 8075}
            assert len({e["user_agent"] for e in evs}) == 1


def test_individuals_chat_in_multiple_turns_on_varied_topics(standard):
    labels, acc, _ = standard
    evs = [e for a, v in labels.items() if v["kind"] == "individual" for e in acc[a]]
    assert mean(e["output_tokens"] for e in evs if e["status"] == 200) < 1500
    assert sum((e["turn_index"] or 0) > 0 for e in evs) / len(evs) > 0.3
    firsts = [e["prompt"] for e in evs if e["turn_index"] == 0]
    assert len(set(firsts)) > 0.8 * len(firsts)


def test_attack_prompts_are_long_single_turn_and_multilingual(standard):
    labels, acc, _ = standard
    evs = [e for a, v in labels.items() if v["attack"] for e in acc[a] if e["status"] == 200]
    assert mean(e["output_tokens"] for e in evs) > 2000
    assert all((e["turn_index"] or 0) == 0 for e in evs)
    assert min(e["max_tokens"] for e in evs) >= 8192
    assert sum(e["reasoning_requested"] for e in evs) / len(evs) > 0.5
    text = " ".join(e["prompt"] for e in evs)
    scripts = {"cjk": r"[\u4e00-\u9fff\u3040-\u30ff]", "cyrillic": r"[\u0400-\u04ff]", "latin-accents": r"[éèñüöäß]"}
    assert all(re.search(p, text) for p in scripts.values())
    assert any(e["stop_reason"] == "tool_use" for e in evs) and any("rubric" in e["prompt"].lower() for e in evs)
    assert len({e["prompt"] for e in evs}) > 0.85 * len(evs)  # templates filled with varied questions


def test_low_and_slow_accounts_have_their_own_cards_and_ips(standard):
    labels, acc, _ = standard
    for members in _members(labels, acc, "low_and_slow").values():
        cards = [acc[a][0]["payment_fingerprint"] for a in members]
        ips = [acc[a][0]["ip"] for a in members]
        assert len(set(cards)) == len(cards) and len(set(ips)) == len(ips)
        hours = [int(e["ts"][11:13]) for a in members for e in acc[a]]
        assert pstdev(hours) > 3


def test_unrelated_individuals_share_carrier_and_household_addresses(standard):
    labels, acc, _ = standard
    users_by_ip = defaultdict(set)
    for a, v in labels.items():
        if v["kind"] == "individual":
            for e in acc[a]:
                users_by_ip[e["ip"]].add(a)
    shared = [u for u in users_by_ip.values() if len(u) > 1]
    assert shared  # CGNAT and households: a shared address alone does not make a ring
    cards = defaultdict(set)
    for a, v in labels.items():
        if v["kind"] == "individual" and acc[a][0]["payment_fingerprint"]:
            cards[acc[a][0]["payment_fingerprint"]].add(a)
    assert max(len(u) for u in cards.values()) <= 3


def test_hydra_rotates_fresh_accounts_in_during_the_day(standard):
    labels, acc, manifest = standard
    members = [a for a, v in labels.items() if v["kind"] == "hydra"]
    late = [a for a in members if acc[a][0]["ts"] > "2026-03-02T02:00"]
    assert late and len(late) < len(members) / 4
    for a in late:
        created = datetime.fromisoformat(acc[a][0]["account_created_at"])
        first = datetime.fromisoformat(acc[a][0]["ts"])
        assert timedelta(0) < first - created < timedelta(hours=32)
    assert sum(c.get("late_joins", 0) for c in manifest["campaigns"]) >= len(late)
