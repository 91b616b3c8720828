"""Evaluation of the calibrated probability and of the response ladder: given verdicts and labels, these figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from distillguard.detector.model import DetectionModel, ModelError, UncalibratedError, load_model
from distillguard.detector.outcomes import actions, calibration
from distillguard.detector.records import AccountVerdict, Action

T0 = datetime(2026, 3, 2, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 20, tzinfo=UTC)


def verdict(account: str, action: Action, path: str = "standard", flagged: bool = False) -> AccountVerdict:
    return AccountVerdict(
        account_id=account,
        score=0.0,
        flagged=flagged,
        cluster_id=None,
        flagged_at=None,
        reasons=[],
        action=action,
        verification_path=path,
        first_seen=T0,
        last_seen=T1,
    )


def test_calibration_reports_brier_reliability_and_expected_calibration_error() -> None:
    y = np.array([0, 0, 0, 1, 1, 0, 1, 1], dtype=float)
    p = np.array([0.05, 0.05, 0.15, 0.15, 0.95, 0.95, 0.95, 0.95])
    got = calibration(y, p)
    assert got["reliability"] == [
        {"bin": [0.0, 0.1], "predicted": 0.05, "observed": 0.0, "accounts": 2},
        {"bin": [0.1, 0.2], "predicted": 0.15, "observed": 0.5, "accounts": 2},
        {"bin": [0.9, 1.0], "predicted": 0.95, "observed": 0.75, "accounts": 4},
    ]
    assert got["ece"] == pytest.approx((2 * 0.05 + 2 * 0.35 + 4 * 0.2) / 8)
    assert got["brier"] == pytest.approx(float(np.mean((p - y) ** 2)), abs=1e-6)


def test_false_positives_are_counted_per_population_path_and_rung_and_per_million_a_day() -> None:
    vs = [
        verdict("s1", Action.challenge, "education"),
        verdict("s2", Action.watch, "education", flagged=True),
        *(verdict(f"i{i}", Action.none) for i in range(6)),
        verdict("p1", Action.throttle),
        verdict("h1", Action.suspend),
        verdict("h2", Action.review),
    ]
    kinds = {"s1": "university_student", "s2": "university_student", "p1": "power_user", "h1": "hydra", "h2": "hydra"}
    kinds |= {f"i{i}": "individual" for i in range(6)}
    attack = {a: k == "hydra" for a, k in kinds.items()}
    got = actions(kinds, attack, vs, before_rung={"h1": 0, "h2": 10}, requests={"h1": 40, "h2": 40})
    students = got["populations"]["university_student"]
    assert (students["accounts"], students["flagged"], students["at_challenge"], students["at_throttle"]) == (
        2,
        1,
        1,
        0,
    )
    assert got["populations"]["power_user"]["fpr_throttle"] == 1.0
    assert got["populations"]["individual"]["fpr_challenge"] == 0.0
    assert got["verification_paths"]["education"]["fpr_challenge"] == 0.5
    assert got["legit"]["fpr_challenge"] == pytest.approx(2 / 9, abs=1e-6)
    assert got["legit_at_suspend_or_takedown"] == 0
    # 11 active accounts in one day: 2 legitimate challenged or more, 1 throttled, none suspended
    assert got["per_million_accounts_a_day"] == {
        "challenged": round(2 / 11 * 1e6, 1),
        "throttled": round(1 / 11 * 1e6, 1),
        "suspended": 0.0,
    }
    assert got["attack_at_or_above"]["review"] == 1.0
    assert got["attack_at_or_above"]["suspend"] == 0.5
    assert got["attack_review_within_0.05_of_requests"] == 0.5  # h2 made 10 of its 40 requests first


def test_the_probability_map_is_monotone_and_an_artifact_without_one_is_refused(tmp_path) -> None:
    m = DetectionModel()
    with pytest.raises(UncalibratedError):
        m.probability(np.array([0.5]))
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9, 0.95, 0.99])
    m.calibrate(scores, np.array([0, 0, 1, 0, 1, 1, 1, 1]))
    p = m.probability(np.linspace(0, 1, 50))
    assert np.all(np.diff(p) >= 0) and p[0] == 0.0 and p[-1] == 1.0
    shipped = load_model()
    assert shipped.probability(np.array([1.0]))[0] > shipped.probability(np.array([0.0]))[0]
    m.probability_knots_ = ((), ())
    with pytest.raises(ModelError, match="no probability map"):
        load_model(m.save(tmp_path / "old.joblib"))


def test_the_model_card_carries_the_probability_map(tmp_path) -> None:
    m = DetectionModel(target_fpr=0.0)
    # three accounts at 0.5, one of them an attacker
    scores, y = np.array([0.1, 0.2, 0.5, 0.5, 0.5, 0.8, 0.9]), np.array([0, 0, 0, 0, 1, 1, 1])
    assert m.calibrate(scores, y) == 0.65  # midway between the top legit (0.5) and the next attack (0.8) score
    assert m.probability(np.array([0.5, 0.35])).tolist() == pytest.approx([1 / 3, 1 / 6])
    card = json.loads(m.save(tmp_path / "m.joblib").with_suffix(".json").read_text())
    assert card["probability_map"] == {
        "scores": [0.1, 0.2, 0.5, 0.8, 0.9],
        "probabilities": [0.0, 0.0, pytest.approx(1 / 3), 1.0, 1.0],
    }


def test_early_review_is_also_reported_over_the_accounts_with_requests_enough_for_the_policy_to_act() -> None:
    vs = [verdict(a, act) for a, act in (("big", Action.review), ("late", Action.review), ("small", Action.watch))]
    attack = {"big": True, "late": True, "small": True}
    kinds = dict.fromkeys(attack, "hydra")
    # with few_requests 5, 5% of an account's requests reach 5 from 100 requests on
    before = {"big": 5, "late": 50, "small": 0}
    requests = {"big": 100, "late": 200, "small": 20}
    got = actions(kinds, attack, vs, before, requests, few_requests=5)
    assert got["attack_review_within_0.05_of_requests"] == round(1 / 3, 4)
    assert got["attack_review_within_0.05_of_requests_with_enough_requests"] == {
        "min_requests": 100,
        "accounts": 2,
        "share": 0.5,
    }
    requests["big"] = 99  # 5% of 99 is under 5 requests: not one the policy could act on that early
    got = actions(kinds, attack, vs, before, requests, few_requests=5)
    assert got["attack_review_within_0.05_of_requests_with_enough_requests"]["accounts"] == 1
    assert "attack_review_within_0.05_of_requests_with_enough_requests" not in actions(
        kinds, attack, vs, before, requests
    )
