"""The response ladder: which rung a probability and its evidence earn, the rules no policy can break, and policy
files refused with the field at fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillguard.detector.ladder import Evidence, EvidenceKind, Subject, account_action, cluster_action
from distillguard.detector.policy import DEFAULT_POLICY, PolicyError, load_policy, parse_policy
from distillguard.detector.records import Action

K = EvidenceKind
POLICY = {
    "format": "distillguard-policy/1",
    "version": "test-1",
    "few_requests": 10,
    "automate": ["challenge", "throttle", "suspend", "takedown"],
    "confirm": ["suspend", "takedown"],
    "accounts": [
        {"action": "watch", "min_probability": 0.1},
        {"action": "challenge", "min_probability": 0.3, "min_evidence": 1},
        {"action": "throttle", "min_probability": 0.6, "min_evidence": 1},
        {"action": "review", "min_probability": 0.6, "min_evidence": 2},
        {"action": "suspend", "min_probability": 0.95, "min_evidence": 3, "needs_linking": True, "min_cluster_size": 3},
    ],
    "clusters": [
        {"action": "watch", "min_probability": 0.1},
        {"action": "review", "min_probability": 0.6, "min_evidence": 2},
        {
            "action": "takedown",
            "min_probability": 0.95,
            "min_evidence": 3,
            "needs_linking": True,
            "min_cluster_size": 10,
        },
    ],
}


def policy(**changes):
    return parse_policy(json.dumps(POLICY | changes))


def subject(p: float, *kinds: EvidenceKind, size: int = 1, requests: int = 100) -> Subject:
    return Subject(p, frozenset(kinds), size, requests)


@pytest.mark.parametrize(
    ("s", "want"),
    [
        (subject(0.05), Action.none),
        (subject(0.2), Action.watch),
        (subject(0.99), Action.watch),  # the probability alone never earns more than watch
        (subject(0.4, K.behaviour), Action.challenge),
        (subject(0.7, K.behaviour), Action.throttle),
        (subject(0.7, K.behaviour, K.crowd), Action.review),
        (subject(0.99, K.behaviour, K.crowd, K.template), Action.review),  # suspend needs a cluster of 3
        (subject(0.99, K.behaviour, K.crowd, K.template, size=3), Action.suspend),
        (subject(0.99, K.behaviour, K.crowd, size=3), Action.review),  # and three kinds
    ],
)
def test_an_account_gets_the_highest_rung_whose_every_condition_holds(s: Subject, want: Action) -> None:
    assert account_action(policy(), s).action == want


def test_an_account_with_few_requests_and_nothing_linking_it_never_goes_above_watch() -> None:
    lone = subject(0.99, K.behaviour, K.crowd, requests=9)
    d = account_action(policy(), lone)
    assert d.action == Action.watch
    assert "fewer than 10 requests and nothing linking it to other accounts: at most watch" in d.basis(lone, ())[0]
    linked = subject(0.99, K.behaviour, K.payment, requests=9)
    assert account_action(policy(), linked).action == Action.review
    assert account_action(policy(), subject(0.99, K.behaviour, K.crowd, requests=10)).action == Action.review


def test_an_action_above_watch_names_its_evidence_in_sentences() -> None:
    s = subject(0.7, K.behaviour, K.payment, size=4, requests=120)
    evidence = (
        Evidence(K.payment, "the 4 accounts of cluster cl-1 share a payment instrument"),
        Evidence(K.behaviour, "97% of requests ask for reasoning traces"),
    )
    d = account_action(policy(), s)
    assert d.action == Action.review
    assert d.basis(s, evidence) == [
        "probability of attack 0.70 (at least 0.60 for review) with 2 independent kinds of evidence (at least 2), "
        "120 requests, cluster of 4 accounts",
        "payment: the 4 accounts of cluster cl-1 share a payment instrument",
        "behaviour: 97% of requests ask for reasoning traces",
    ]
    assert account_action(policy(), subject(0.01)).basis(subject(0.01), ()) == []


def test_only_clusters_are_taken_down() -> None:
    hydra = subject(0.99, K.payment, K.network, K.creation_burst, size=40, requests=5000)
    assert cluster_action(policy(), hydra).action == Action.takedown
    assert (
        cluster_action(policy(), subject(0.99, K.payment, K.network, K.creation_burst, size=9)).action == Action.review
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"accounts": [{"action": "challenge", "min_probability": 0.5}]}, "accounts.0.min_evidence"),
        ({"accounts": [{"action": "takedown", "min_probability": 0.9, "min_evidence": 1}]}, "accounts.0.action"),
        (
            {
                "clusters": [
                    {"action": "review", "min_probability": 0.5, "min_evidence": 1},
                    {"action": "challenge", "min_probability": 0.6, "min_evidence": 1},
                ]
            },
            "clusters.1.action",
        ),
        (
            {
                "clusters": [
                    {"action": "challenge", "min_probability": 0.5, "min_evidence": 1},
                    {"action": "review", "min_probability": 0.4, "min_evidence": 1},
                ]
            },
            "clusters.1.min_probability",
        ),
        ({"accounts": [{"action": "watch", "min_probability": 1.5}]}, "accounts.0.min_probability"),
        ({"accounts": [{"action": "watch", "min_probability": 0.1, "colour": "red"}]}, "accounts.0.colour"),
        ({"few_requests": 0}, "few_requests"),
        ({"confirm": ["review"]}, "confirm.0"),
        ({"automate": ["none"]}, "automate.0"),
        ({"format": "distillguard-policy/0"}, "format"),
        ({"version": ""}, "version"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_field(change: dict, field: str) -> None:
    with pytest.raises(PolicyError) as err:
        policy(**change)
    assert str(err.value).startswith(f"policy: {field}: ")


def test_a_policy_file_that_is_not_json_or_missing_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(PolicyError, match=r"p\.json: not JSON"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.json")


def test_the_shipped_policy_is_valid_shadow_and_asks_a_lead_before_suspending() -> None:
    shipped = load_policy(DEFAULT_POLICY)
    assert shipped.shadow
    assert {Action.suspend, Action.takedown} <= set(shipped.confirm)
    assert Action.review not in shipped.automate  # review is a person's work, not an automated action
