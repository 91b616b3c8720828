"""Adaptive campaigns and their legit look-alikes: given a generated day, every member is bought on its own and
sends plain, cue-free prompts through ordinary clients, and the volume follows ``--evasive-requests``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from distillguard.detector.signals import TEXT, template_keys, text_flags
from distillguard.detector.simulate import generate, network, simulate
from distillguard.detector.simulate.adaptive import VARIANTS
from distillguard.detector.state import MIN_TEMPLATE_CHARS

LOOKALIKES = ("power_user", "researcher", "tutoring_app", "agent_platform")
COMMON_CLIENTS = {(c.user_agent, c.tls) for c in (*network.SDKS, *network.BROWSERS)}
SIX_HOURS = 6 * 3600
MAX_PER_BUCKET = 3  # members created in any one 6-hour window: no creation burst


@pytest.fixture(scope="module")
def day() -> tuple[dict, dict[str, list[dict]], dict]:
    sim = generate(seed=31, scale=0.15, scenario="evasive")
    acc: dict[str, list[dict]] = defaultdict(list)
    for e in sim.events():
        acc[e["account_id"]].append(e)
    return sim.labels, acc, sim.manifest


def _members(labels: dict, kind: str) -> list[str]:
    return [a for a, v in labels.items() if v["kind"] == kind]


def test_every_variant_is_one_campaign_of_its_kind_and_no_classic_campaign(day):
    labels, _acc, manifest = day
    assert sorted(c["kind"] for c in manifest["campaigns"]) == sorted(VARIANTS)
    for c in manifest["campaigns"]:
        members = _members(labels, c["kind"])
        assert len(members) == c["n_accounts"] >= 10
        assert all(labels[a]["attack"] and labels[a]["campaign"] == c["id"] for a in members)
        assert c["knobs"]["requests_per_day"] == VARIANTS[c["kind"]].requests_per_day
    assert not {"hydra", "low_and_slow", "lone_harvester", "reseller_customer"} & {v["kind"] for v in labels.values()}


def test_members_share_no_card_no_address_and_no_api_key(day):
    labels, acc, _ = day
    for kind in VARIANTS:
        owners: dict[str, set] = defaultdict(set)
        for a in _members(labels, kind):
            for e in acc[a]:
                for field in ("payment_fingerprint", "ip", "api_key_id"):
                    owners[f"{field}={e[field]}"].add(a)
        shared = {k: v for k, v in owners.items() if len(v) > 1}
        assert not shared, (kind, list(shared)[:3])


def test_members_use_common_clients_home_networks_and_standard_paths(day):
    labels, acc, _ = day
    for kind in VARIANTS:
        evs = [e for a in _members(labels, kind) for e in acc[a]]
        assert {(e["user_agent"], e["tls_fingerprint"]) for e in evs} <= COMMON_CLIENTS
        assert all(e["ip_country"] == e["billing_country"] for e in evs)  # its own country's ISPs
        paths = Counter(acc[a][0]["verification_path"] for a in _members(labels, kind))
        assert paths["standard"] >= 0.75 * sum(paths.values())


def test_members_were_created_over_months_not_in_a_burst(day):
    labels, acc, _ = day
    start = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
    for kind in VARIANTS:
        created = [datetime.fromisoformat(acc[a][0]["account_created_at"]) for a in _members(labels, kind)]
        ages = sorted((start - c).days for c in created)
        assert ages[0] >= 28 and ages[-1] <= 550 and ages[-1] - ages[0] > 180
        buckets = Counter(int(c.timestamp()) // SIX_HOURS for c in created)
        assert max(buckets.values()) <= MAX_PER_BUCKET


def test_no_evasive_prompt_carries_a_cue_phrase(day):
    labels, acc, _ = day
    prompts = [e["prompt"] for kind in VARIANTS for a in _members(labels, kind) for e in acc[a]]
    assert len(prompts) > 500
    assert [p for p in prompts if text_flags(p) != TEXT] == []


def test_reasoning_is_asked_for_through_the_parameter_at_the_knobs_share(day):
    labels, acc, _ = day
    for kind, knobs in VARIANTS.items():
        evs = [e for a in _members(labels, kind) for e in acc[a]]
        share = sum(e["reasoning_requested"] for e in evs) / len(evs)
        expected = knobs.reasoning_share * (1 - knobs.dilution_share)  # dilution chats never ask for it
        assert abs(share - expected) < 0.12, (kind, share, expected)


def test_members_rarely_repeat_a_prompt_skeleton_another_member_uses(day):
    labels, acc, _ = day
    for kind in VARIANTS:
        uses: dict[int, Counter] = defaultdict(Counter)  # skeleton key -> member -> first-turn prompts
        for a in _members(labels, kind):
            for e in acc[a]:
                if not e["turn_index"] and len(e["prompt"]) >= MIN_TEMPLATE_CHARS:
                    for key in template_keys(e["prompt"]):
                        uses[key][a] += 1
        linked = Counter()  # per member: prompts whose skeleton it repeats and another member shares
        for members in uses.values():
            if len(members) > 1:
                for a, n in members.items():
                    linked[a] += n if n >= 2 else 0
        shares = sorted(linked[a] / (2 * len(acc[a])) for a in _members(labels, kind))
        assert shares[len(shares) // 2] < 0.1, (kind, shares)


@pytest.mark.parametrize("requests", [10, 30])
def test_mean_requests_per_account_follows_the_knob_over_three_days(requests):
    sim = generate(seed=32, scale=0.2, scenario="evasive", days=3, evasive_requests=requests)
    ids = {a for a, v in sim.labels.items() if v["kind"] in VARIANTS}
    # one request each: a replay repeats its event_id, a rate-limited one is counted by its retry
    requests_sent = {e["event_id"] for e in sim.events() if e["account_id"] in ids and e["status"] != 429}
    mean = len(requests_sent) / len(ids)
    assert abs(mean - requests) <= 0.25 * requests, mean
    assert all(c["requests_per_account"] == requests for c in sim.manifest["campaigns"])


@pytest.mark.parametrize("scenario", ["standard", "hard", "evasive"])
def test_lookalikes_are_in_every_scenario(scenario):
    m = generate(seed=33, scale=0.05, scenario=scenario).manifest  # planning only
    assert all(m["legit_accounts"].get(kind, 0) > 0 for kind in LOOKALIKES)
    evasive = {c["kind"] for c in m["campaigns"]} & set(VARIANTS)
    assert evasive == (set() if scenario == "standard" else set(VARIANTS))


def test_hard_mixes_in_smaller_evasive_campaigns_next_to_the_classic_ones():
    hard = generate(seed=34, scale=1.0, scenario="hard").manifest
    sizes = {c["kind"]: c["n_accounts"] for c in hard["campaigns"]}
    assert {"hydra", "low_and_slow", "lone_harvester"} <= set(sizes)
    for kind, knobs in VARIANTS.items():
        assert 0.2 * knobs.accounts <= sizes[kind] <= 0.4 * knobs.accounts


def test_the_volume_knob_is_validated():
    with pytest.raises(ValueError, match="evasive-requests must be > 0"):
        generate(seed=1, scale=0.05, scenario="evasive", evasive_requests=0)


def test_lookalikes_behave_like_their_legit_populations(day):
    labels, acc, _ = day

    def evs(kind: str) -> list[dict]:
        return [e for a in _members(labels, kind) for e in acc[a]]

    power = evs("power_user")
    assert sum((e["turn_index"] or 0) > 0 for e in power) / len(power) > 0.4  # conversational
    assert sum(e["reasoning_requested"] for e in power) / len(power) > 0.3
    labs: dict[str, set] = defaultdict(set)
    for a in _members(labels, "researcher"):
        assert all(e["turn_index"] is None for e in acc[a])  # single-turn evaluation items
        labs[acc[a][0]["asn"]].add(a)
    assert max(len(v) for v in labs.values()) >= 2  # a lab group on its university's network
    research = evs("researcher")
    assert sum(e["reasoning_requested"] for e in research) / len(research) > 0.7
    for kind in ("tutoring_app", "agent_platform"):
        for a in _members(labels, kind):
            assert len({e["system_prompt"] for e in acc[a]}) == 1 and len(acc[a]) > 100
            assert len({e["ts"][11:13] for e in acc[a]}) >= 20  # around the clock
            assert bool(acc[a][0]["tools"]) == (kind == "agent_platform")


def test_same_parameters_give_identical_files_in_another_process(tmp_path):
    kw = "seed=35, scale=0.05, scenario='evasive', days=0.5, evasive_requests=12"
    code = f"from distillguard.detector.simulate import simulate; simulate({str(tmp_path / 'b')!r}, {kw})"
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ | {"PYTHONHASHSEED": "77"})
    simulate(tmp_path / "a", seed=35, scale=0.05, scenario="evasive", days=0.5, evasive_requests=12)
    for name in ("events.jsonl.gz", "labels.json", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
