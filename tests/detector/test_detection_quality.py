"""The README's evaluation figures, checked at small scale on seeds 1 and 2 (never used to train or calibrate).

Tolerances are those of the README table (recall 1.000, at most one false positive in a thousand legitimate
accounts, hydra clusters pure and whole, low-and-slow rings recovered, hydras flagged within 5% of their
requests), so that a change that costs a point of recall fails here before it reaches the benchmark.
"""

from __future__ import annotations

import re

import pytest

from .conftest import SEEDS, SIMULATED_DAYS, Days

pytestmark = SIMULATED_DAYS

DAYS = [("standard", 0.0), ("hard", 0.0), ("standard", 1.0)]
RECALL = 0.99  # README: 1.000 on every day; one missed account in a hundred fails
FPR = 0.001  # README goal; at this scale at most one false positive
HYDRA_PURITY = HYDRA_COVERAGE = 0.94  # README: 0.986-1 at scale 1; 0.947-1 here
LOW_AND_SLOW_COVERAGE = 0.7  # README: 0.73 / 1.00 on the standard day (text only: their one link is a template)
BEFORE_FLAG = 0.05  # hydra requests made before the account's first flag


def _false_positives_allowed(report: dict) -> int:
    legit = report["detector"]["accounts"] - report["detector"]["attack_accounts"]
    return max(1, int(FPR * legit))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("scenario", "redact"), DAYS)
def test_recall_and_false_positives(days: Days, seed: int, scenario: str, redact: float) -> None:
    r = days(seed, scenario, redact)["report"]
    assert r["detector"]["recall"] >= RECALL, r["detector"]
    assert r["detector"]["false_positives"] <= _false_positives_allowed(r), r["detector"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("scenario", "redact"), DAYS)
def test_every_hydra_is_one_pure_whole_cluster_flagged_early(
    days: Days, seed: int, scenario: str, redact: float
) -> None:
    rows = [row for row in days(seed, scenario, redact)["report"]["campaigns"].values() if row["kind"] == "hydra"]
    assert rows
    for row in rows:
        assert row["flagged"] == row["accounts"], row
        assert row["cluster_purity"] is not None and row["cluster_purity"] >= HYDRA_PURITY, row
        assert row["cluster_coverage"] >= HYDRA_COVERAGE, row
        assert row["share_before_flag"] <= BEFORE_FLAG, row


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scenario", ["standard", "hard"])
def test_low_and_slow_rings_are_recovered_as_clusters(days: Days, seed: int, scenario: str) -> None:
    rows = [row for row in days(seed, scenario, 0.0)["report"]["campaigns"].values() if row["kind"] == "low_and_slow"]
    assert rows
    for row in rows:
        assert row["cluster_coverage"] >= LOW_AND_SLOW_COVERAGE, row


def test_naive_peer_is_far_behind(standard_day: dict) -> None:
    r = standard_day["report"]
    assert r["naive_peer"]["recall"] < 0.5 * r["detector"]["recall"], r["naive_peer"]


@pytest.mark.parametrize("seed", SEEDS)
def test_hard_negatives_are_not_flagged(days: Days, seed: int) -> None:
    """On the standard day; the hard day's one false positive at this scale is within the FPR bound above."""
    day = days(seed, "standard", 0.0)
    labels, verdicts = day["labels"], day["verdicts"]
    kinds = {"university_student", "enterprise_seat", "app_backend", "benchmark", "reseller_customer"}
    flagged = [
        v.account_id for v in verdicts if v.flagged and v.account_id in labels and labels[v.account_id].kind in kinds
    ]
    assert flagged == []


def test_reasons_are_sentences_not_feature_names(standard_day: dict) -> None:
    flagged = [v for v in standard_day["verdicts"] if v.flagged]
    assert flagged
    for v in flagged:
        assert v.reasons and v.flagged_at is not None
        for reason in v.reasons:
            assert not re.search(r"\b[a-z]+_[a-z_]+\b", reason.replace("max_tokens", "")), reason
    hydra_clusters = [c for c in standard_day["clusters"] if c.flagged and len(c.members) >= 20]
    assert hydra_clusters
    assert any("accounts" in r and "share" in r for r in hydra_clusters[0].reasons), hydra_clusters[0].reasons
