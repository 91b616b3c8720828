"""The simulator's files: valid, ordered, labelled, deterministic, redacted on request."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from distillguard.detector.events import parse_event
from distillguard.detector.simulate import generate, simulate

# The simulator's populations, as the README documents them.
LEGIT_KINDS = (
    "individual", "developer", "app_backend", "university_student", "enterprise_seat", "benchmark", "reseller_customer",
    "power_user", "researcher", "tutoring_app", "agent_platform",
)  # fmt: skip
ATTACK_KINDS = ("hydra", "low_and_slow", "lone_harvester")

SCALE = 0.1


def _digest(d: Path) -> dict[str, str]:
    return {
        f: hashlib.sha256((d / f).read_bytes()).hexdigest() for f in ("events.jsonl.gz", "labels.json", "manifest.json")
    }


@pytest.fixture(scope="module")
def std(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sim") / "std"
    simulate(d, seed=11, scale=SCALE)
    return d


@pytest.fixture(scope="module")
def std_events(std: Path) -> list:
    with gzip.open(std / "events.jsonl.gz", "rb") as fh:
        return [parse_event(line) for line in fh]  # every line validates against api-event/v1


def test_every_line_is_a_valid_event_in_strict_time_order(std_events):
    assert len(std_events) > 5000
    ts = [e.ts for e in std_events]
    assert all(a < b for a, b in itertools.pairwise(ts))


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(std, tmp_path):
    # another process with another string-hash seed: nothing may depend on hash() or set order
    code = f"from distillguard.detector.simulate import simulate; simulate({str(tmp_path / 'again')!r}, seed=11, scale={SCALE})"
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ | {"PYTHONHASHSEED": "4242"})
    simulate(tmp_path / "other", seed=12, scale=SCALE)
    assert _digest(tmp_path / "again") == _digest(std)
    other = _digest(tmp_path / "other")
    assert all(other[f] != _digest(std)[f] for f in other)


def test_labels_cover_every_account_and_every_kind_is_present(std, std_events):
    labels = json.loads((std / "labels.json").read_text())
    accounts = {e.account_id for e in std_events}
    assert accounts == set(labels)
    kinds = Counter(v["kind"] for v in labels.values())
    for kind in (*LEGIT_KINDS, *ATTACK_KINDS):
        assert kinds[kind] > 0, kind
    assert all(v["attack"] == (v["campaign"] is not None) for v in labels.values())
    hydras = Counter(v["campaign"] for v in labels.values() if v["kind"] == "hydra")
    assert max(hydras.values()) >= 20 and len(hydras) == 3


def test_manifest_describes_the_run(std, std_events):
    m = json.loads((std / "manifest.json").read_text())
    labels = json.loads((std / "labels.json").read_text())
    assert m["events"] == len(std_events) and m["seed"] == 11 and m["scale"] == SCALE
    per_campaign = Counter(v["campaign"] for v in labels.values() if v["campaign"])
    assert {c["id"]: c["n_accounts"] for c in m["campaigns"]} == dict(per_campaign)
    assert sum(m["legit_accounts"].values()) + sum(per_campaign.values()) == len(labels)
    assert {c["kind"] for c in m["campaigns"]} == {"hydra", "low_and_slow", "lone_harvester"}
    assert [x["name"] for x in m["models"] if x["new"]] == [m["new_model"]]


def test_replays_repeat_the_event_seconds_later(std, std_events):
    by_id: dict[str, list] = {}
    for e in std_events:
        by_id.setdefault(e.event_id, []).append(e)
    dups = [v for v in by_id.values() if len(v) > 1]
    assert len(dups) == json.loads((std / "manifest.json").read_text())["duplicates"] > 0
    for first, again in dups:
        assert 0 < (again.ts - first.ts).total_seconds() < 30
        assert (first.account_id, first.prompt, first.output_tokens) == (
            again.account_id,
            again.prompt,
            again.output_tokens,
        )


def test_new_model_only_after_release_and_hydras_pivot(std, std_events):
    m = json.loads((std / "manifest.json").read_text())
    release = next(x["released"] for x in m["models"] if x["new"])
    labels = json.loads((std / "labels.json").read_text())
    new = [e for e in std_events if e.model == m["new_model"]]
    assert new and min(e.ts for e in new).isoformat().replace("+00:00", "Z") >= release
    after = [e for e in std_events if e.ts.isoformat().replace("+00:00", "Z") >= release]
    hydra_after = [e for e in after if labels[e.account_id]["kind"] == "hydra"]
    apps_after = [e for e in after if labels[e.account_id]["kind"] == "app_backend"]
    assert sum(e.model == m["new_model"] for e in hydra_after) / len(hydra_after) > 0.6
    assert not any(e.model == m["new_model"] for e in apps_after)


def test_outputs_respect_max_tokens_and_errors_carry_no_output(std_events):
    for e in std_events:
        assert e.output_tokens <= e.max_tokens
        if e.stop_reason == "max_tokens":
            assert e.output_tokens == e.max_tokens
        if e.status != 200:
            assert e.output_tokens == 0
    statuses = Counter(e.status for e in std_events)
    assert statuses[200] / len(std_events) > 0.95 and statuses[429] > 0


def test_full_redaction_removes_all_text_but_keeps_the_traffic(tmp_path):
    plain = generate(seed=5, scale=0.05)
    hidden = generate(seed=5, scale=0.05, redact=1.0)
    n = 0
    for a, b in zip(plain.events(), hidden.events(), strict=True):
        assert b["prompt"] is None and b["system_prompt"] is None
        assert {k: v for k, v in a.items() if k not in ("prompt", "system_prompt")} == {
            k: v for k, v in b.items() if k not in ("prompt", "system_prompt")
        }
        n += a["prompt"] is not None
    assert n > 0


def test_partial_redaction_hides_about_that_share():
    evs = list(generate(seed=5, scale=0.05, redact=0.3).events())
    share = sum(e["prompt"] is None for e in evs) / len(evs)
    assert 0.25 < share < 0.35


def test_bad_parameters_are_refused(tmp_path):
    for kw in ({"scale": 0}, {"redact": 1.5}, {"scenario": "easy"}, {"days": 0}):
        with pytest.raises(ValueError):
            simulate(tmp_path, seed=1, **({"scale": 0.05} | kw))


def test_progress_reports_events_written(tmp_path):
    seen: list[int] = []
    m = simulate(tmp_path, seed=2, scale=0.05, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == m["events"]


def test_hard_scenario_and_several_days_are_valid_and_ordered():
    sim = generate(seed=8, scale=0.05, scenario="hard", days=2.0)
    enc = msgspec.json.Encoder()
    events = [parse_event(enc.encode(e)) for e in sim.events()]
    assert all(a.ts < b.ts for a, b in itertools.pairwise(events))
    days = Counter(e.ts.day for e in events)
    assert set(days) == {2, 3} and min(days.values()) > 0.3 * len(events)
    assert {e.account_id for e in events} == set(sim.labels)
    assert sim.manifest["end"] == "2026-03-04T00:00:00Z"


def test_a_conversation_keeps_its_model_and_counts_turns_up(std_events):
    convs: dict[str, list] = {}
    for e in std_events:
        if e.conversation_id is not None:
            convs.setdefault(e.conversation_id, []).append(e)
    assert any(len(v) > 2 for v in convs.values())
    for v in convs.values():
        assert len({e.model for e in v}) == 1 and len({e.account_id for e in v}) == 1
        assert {e.turn_index for e in v} == set(range(len({e.turn_index for e in v})))


@pytest.mark.parametrize("scenario", ["standard", "hard"])
def test_every_population_and_campaign_kind_exists_at_the_smallest_scale(scenario):
    m = generate(seed=13, scale=0.05, scenario=scenario).manifest  # planning only: no events materialised
    assert set(m["legit_accounts"]) == set(LEGIT_KINDS)
    assert all(n > 0 for n in m["legit_accounts"].values())
    kinds = Counter(c["kind"] for c in m["campaigns"])
    assert kinds["hydra"] == 3 and kinds["low_and_slow"] == 2 and kinds["lone_harvester"] >= 1
    assert max(c["n_accounts"] for c in m["campaigns"]) >= 20


def test_rate_limited_requests_are_retried_with_the_same_request(std, std_events):
    limited: dict = {}
    for e in std_events:  # the first occurrence: a replay of a limited request repeats it seconds later
        if e.status == 429:
            limited.setdefault(e.event_id, e)
    assert len(limited) == json.loads((std / "manifest.json").read_text())["rate_limited_retries"] > 0
    later: dict[tuple, list] = {}
    for e in std_events:
        if e.status != 429:
            later.setdefault((e.account_id, e.prompt, e.conversation_id, e.turn_index), []).append(e)
    for e in limited.values():
        assert e.output_tokens == 0 and e.stop_reason is None
        retry = [
            x
            for x in later.get((e.account_id, e.prompt, e.conversation_id, e.turn_index), [])
            if 0 < (x.ts - e.ts).total_seconds() <= 61
        ]
        assert retry and retry[0].event_id != e.event_id
