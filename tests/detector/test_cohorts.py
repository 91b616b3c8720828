"""Behavioural neighbourhoods: accounts with one unusual request profile find each other without shared infrastructure."""

from __future__ import annotations

import numpy as np

from distillguard.detector.cohorts import NEIGHBOURS, NONE, PROFILE, Neighbourhoods, neighbour_mean, neighbourhoods
from distillguard.detector.features import IDX, account_features
from distillguard.detector.reasons import alike, crowd_reason
from distillguard.detector.state import AccountState

from .factory import ev

CHATTERS, HARVESTERS, LIGHT = 40, 20, 3


def _people() -> tuple[AccountState, list[str]]:
    """Chatty people (follow-ups, short varied answers), harvesters each on its own address and card (one question
    per conversation, reasoning requested, long answers, large budgets) and accounts with two requests."""
    events = []
    for j in range(CHATTERS):
        for i in range(12):
            events.append(
                ev(
                    f"chat{j}",
                    i * 37 + j,
                    ip=f"198.51.{j}.1",
                    conversation_id=f"c{j}-{i // 4}",
                    turn_index=i % 4,
                    output_tokens=150 + 40 * ((i * 7 + j * 3) % 11),
                    input_tokens=300 + 90 * (i % 4),
                    max_tokens=1024 * (1 + (i + j) % 4),
                )
            )
    for j in range(HARVESTERS):
        for i in range(12):
            events.append(
                ev(
                    f"harv{j}",
                    i * 41 + j,
                    ip=f"203.0.{j}.9",
                    payment_fingerprint=f"card{j}",
                    conversation_id=f"h{j}-{i}",
                    turn_index=0,
                    reasoning_requested=i % 5 != 0,
                    output_tokens=2600 + 100 * ((i + j) % 7),
                    input_tokens=90 + 10 * (i % 3),
                    max_tokens=16000,
                )
            )
    for j in range(LIGHT):
        events += [ev(f"light{j}", 5 + j), ev(f"light{j}", 9 + j)]
    st = AccountState()
    for e in sorted(events, key=lambda e: e.ts):
        st.add(e)
    st.fold()
    return st, list(st.names)


def test_harvesters_are_each_others_neighbours_and_people_are_not_theirs() -> None:
    st, names = _people()
    hoods = neighbourhoods(account_features(st))
    harvester = np.array([n.startswith("harv") for n in names])
    for i, name in enumerate(names):
        nb = hoods.neighbours[i]
        if name.startswith("light"):
            assert (nb == NONE).all() and hoods.density[i] == 0.0, name
        else:
            assert (nb != NONE).all() and len(nb) == NEIGHBOURS
            assert (harvester[nb] == harvester[i]).all(), (name, [names[k] for k in nb])
    assert neighbour_mean(hoods, harvester.astype(float))[harvester].min() == 1.0


def test_neighbourhoods_survive_selection_stacking_padding_and_snapshots() -> None:
    st, names = _people()
    hoods = neighbourhoods(account_features(st))
    keep = np.array([not n.startswith("chat1") for n in names])  # drops chat1 and chat10-chat19
    sub = hoods.subset(keep)
    kept = [n for n, k in zip(names, keep, strict=True) if k]
    for i, row in enumerate(sub.neighbours):
        old = [names[k] for k in hoods.neighbours[np.flatnonzero(keep)[i]] if k != NONE]
        new = [kept[k] for k in row if k != NONE]
        assert new == [n for n in old if not n.startswith("chat1")]
    moved = sub.shifted(100)
    assert ((moved.neighbours == NONE) == (sub.neighbours == NONE)).all()
    assert (moved.neighbours[sub.neighbours != NONE] == sub.neighbours[sub.neighbours != NONE] + 100).all()
    wide = hoods.extended(len(names) + 2)
    assert (wide.neighbours[-2:] == NONE).all() and (wide.density[-2:] == 0).all()
    back = Neighbourhoods.from_doc(hoods.to_doc())
    assert (back.neighbours == hoods.neighbours).all() and (back.density == hoods.density).all()


def test_a_crowded_harvest_like_neighbourhood_is_explained_in_numbers() -> None:
    typical = np.zeros(len(PROFILE))
    crowd = typical.copy()
    crowd[[d.feature for d in PROFILE].index("share_reasoning_requested")] = 0.71
    crowd[[d.feature for d in PROFILE].index("log_mean_output")] = np.log1p(1400)
    typical[[d.feature for d in PROFILE].index("log_mean_output")] = np.log1p(310)
    said = crowd_reason(np.log(3.0), 0.9, 0, crowd, typical, NEIGHBOURS, (112, 4400))
    assert said is not None
    assert "8 nearest accounts" in said and "none of them sharing" in said and "3.0x closer" in said
    assert "reasoning requested 71% (typical 0%)" in said and "typical output 1.4k tokens (typical 310 tokens)" in said
    assert said.endswith("112 of 4,400 accounts are at least halfway from typical to this on all 3")
    sparse = crowd_reason(np.log(0.5), 0.9, 2, crowd, typical, NEIGHBOURS, (112, 4400))  # harvest-like, not crowded
    assert sparse is not None and "closer" not in sparse and "2 sharing" in sparse
    assert (
        crowd_reason(np.log(3.0), 0.2, 0, crowd, typical, NEIGHBOURS, (112, 4400)) is None
    )  # crowded, but not harvest-like


def test_alike_counts_accounts_at_least_halfway_to_the_crowd_on_every_named_dimension() -> None:
    typical = np.zeros(len(PROFILE))
    crowd = typical.copy()
    up, down, far = (
        [d.feature for d in PROFILE].index(f) for f in ("share_reasoning_requested", "share_multi_turn", "share_tools")
    )
    crowd[up], crowd[down], crowd[far] = 0.8, -0.6, 0.8  # three dimensions stand out, one of them downwards
    halfway = crowd / 2
    accounts = np.vstack(
        [
            crowd,  # the crowd itself
            halfway,  # exactly halfway on all three: counted
            np.where(np.arange(len(PROFILE)) == down, 0.0, halfway),  # conversational: not counted
            typical,  # the population: not counted
        ]
    )
    assert alike(accounts, crowd, typical) == 2


def test_profile_leaves_out_what_the_adaptive_attacker_varies() -> None:
    varied = {"requests_per_active_hour", "hour_entropy", "mean_log_gap", "log_account_age_days", "ips_per_request"}
    assert not varied & {d.feature for d in PROFILE}
    assert all(d.feature in IDX for d in PROFILE)
