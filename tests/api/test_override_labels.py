"""Overrides as training labels (api/overrides/labels.py, through ``decisions_as_labels``): none says legitimate,
suspend and takedown say attack, the rungs between say nothing; a cluster's override labels the members it had when
set; an account's own override decides over its clusters'; a final case's decision wins. Service level, on a copy
of the seeded database (``db``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from sqlalchemy.orm import Session

from distillguard.api.cases.service import decisions_as_labels
from distillguard.api.detections.service import upsert_detections
from distillguard.api.overrides import service
from distillguard.api.overrides.labels import label
from distillguard.detector.records import SubjectKind
from tests.api import seed
from tests.api.review_world import ANALYST, HYDRA_2, LEAD, put_case, put_decision

ACCOUNT, CLUSTER = SubjectKind.account, SubjectKind.cluster
NOW = datetime(2026, 3, 12, 15, 30, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The overrides' clock, fixed at NOW; append to move it on."""
    times = [NOW]
    monkeypatch.setattr(service, "utcnow", lambda: times[-1])
    return times


def test_only_the_ends_of_the_ladder_are_labels() -> None:
    assert [label(a) for a in ("none", "watch", "challenge", "throttle", "review", "suspend", "takedown")] == [
        False,
        None,
        None,
        None,
        None,
        True,
        True,
    ]


def test_account_overrides_to_none_and_suspend_label_the_account(db: Session, clock) -> None:
    for account, action in (
        ("acct-s000", "none"),
        ("acct-s001", "watch"),
        ("acct-s002", "challenge"),
        ("acct-s003", "throttle"),
        ("acct-s004", "review"),
    ):
        service.set_override(db, ANALYST, ACCOUNT, account, action, "checked")
    service.set_override(db, LEAD, ACCOUNT, "acct-s005", "suspend", "checked")
    assert decisions_as_labels(db) == {"acct-s000": False, "acct-s005": True}
    service.clear_override(db, ANALYST, ACCOUNT, "acct-s000")
    assert decisions_as_labels(db) == {"acct-s005": True}


def test_a_cluster_override_labels_the_members_it_had_when_set(db: Session, clock) -> None:
    service.set_override(db, LEAD, CLUSTER, "c-hydra-2", "takedown", "one operator")
    _, clusters = seed.build()
    hydra2 = next(c for c in clusters if c.cluster_id == "c-hydra-2")
    # the detector then moves acct-k009 out of the cluster and acct-s000 in: the override spoke for the old members
    moved = msgspec.structs.replace(hydra2, members=[*HYDRA_2[:-1], "acct-s000"])
    upsert_detections(db, [], [moved])
    db.commit()
    assert decisions_as_labels(db) == dict.fromkeys(HYDRA_2, True)
    service.set_override(db, ANALYST, CLUSTER, "c-uni", "throttle", "homework bursts")  # no label
    assert decisions_as_labels(db) == dict.fromkeys(HYDRA_2, True)


def test_an_account_s_own_override_decides_over_its_cluster_s(db: Session, clock) -> None:
    service.set_override(db, LEAD, CLUSTER, "c-hydra-2", "suspend", "one operator")
    clock.append(NOW + timedelta(hours=1))
    service.set_override(db, ANALYST, ACCOUNT, "acct-k000", "none", "a researcher we know")
    service.set_override(db, ANALYST, ACCOUNT, "acct-k001", "watch", "not sure: shares only the card")
    clock.append(NOW - timedelta(hours=1))  # even when set before the cluster's
    service.set_override(db, ANALYST, ACCOUNT, "acct-k002", "none", "the operator's own test account")
    expected = dict.fromkeys(HYDRA_2[3:], True) | {"acct-k000": False, "acct-k002": False}
    assert decisions_as_labels(db) == expected


def test_among_clusters_listing_an_account_the_latest_override_wins(db: Session, clock) -> None:
    _, clusters = seed.build()
    hydra2 = next(c for c in clusters if c.cluster_id == "c-hydra-2")
    service.set_override(db, ANALYST, CLUSTER, "c-hydra-2", "none", "a load test, we were told")
    upsert_detections(db, [], [msgspec.structs.replace(hydra2, cluster_id="c-later", members=["acct-k000"])])
    db.commit()
    clock.append(NOW + timedelta(hours=2))
    service.set_override(db, LEAD, CLUSTER, "c-later", "suspend", "the load test was a harvest")
    assert decisions_as_labels(db) == dict.fromkeys(HYDRA_2, False) | {"acct-k000": True}
    clock.append(NOW + timedelta(hours=3))
    service.set_override(db, ANALYST, CLUSTER, "c-hydra-2", "none", "a load test, confirmed in writing")
    assert decisions_as_labels(db) == dict.fromkeys(HYDRA_2, False)


def test_a_final_case_decision_wins_over_an_override(db: Session, clock) -> None:
    service.set_override(db, LEAD, CLUSTER, "c-hydra-2", "suspend", "one operator")
    service.set_override(db, ANALYST, ACCOUNT, "acct-s000", "none", "known customer")
    dismissed = put_case(db, "acct-k004", "dismissed")
    put_decision(db, dismissed, "acct-k004", "dismissed", "analyst")
    confirmed = put_case(db, "acct-s000", "confirmed_attack")
    put_decision(db, confirmed, "acct-s000", "confirmed_attack", "lead")
    still_open = put_case(db, "acct-k005", "in_review")  # not final: its decision does not count yet
    put_decision(db, still_open, "acct-k005", "dismissed", "lead")
    db.commit()
    expected = dict.fromkeys(HYDRA_2, True) | {"acct-k004": False, "acct-s000": True}
    assert decisions_as_labels(db) == expected
