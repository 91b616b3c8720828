"""The database layer the stream worker writes through: idempotent batch upserts and export."""

from __future__ import annotations

import msgspec
import pytest
from sqlalchemy import func, select, text, update

from distillguard.api.database import migrate, session_scope
from distillguard.api.detections.models import AccountModel, AccountRow, ClusterIndicator, ClusterRow
from distillguard.api.detections.service import export_clusters, export_verdicts, upsert_detections
from tests.api import seed


def _snapshot(url: str) -> list[tuple]:
    with session_scope(url) as s:
        accts = s.execute(select(AccountRow.account_id, AccountRow.content_hash, AccountRow.updated_at)).all()
        clus = s.execute(select(ClusterRow.cluster_id, ClusterRow.content_hash, ClusterRow.updated_at)).all()
        side = (
            s.scalar(select(func.count()).select_from(AccountModel)),
            s.scalar(select(func.count()).select_from(ClusterIndicator)),
        )
    return sorted(accts) + sorted(clus) + [side]


def test_reapplying_the_same_records_changes_nothing(db_url: str) -> None:
    verdicts, clusters = seed.build()
    with session_scope(db_url) as s:
        upsert_detections(s, verdicts, clusters)
    before = _snapshot(db_url)
    with session_scope(db_url) as s:
        upsert_detections(s, verdicts, clusters)
    assert _snapshot(db_url) == before
    migrate(db_url)  # migrating an up-to-date database is a no-op
    with session_scope(db_url) as s:
        assert list(export_verdicts(s)) == sorted(verdicts, key=lambda v: v.account_id)
        assert list(export_clusters(s)) == sorted(clusters, key=lambda c: c.cluster_id)


def test_changed_records_are_updated_and_review_status_is_kept(db_url: str) -> None:
    verdicts, clusters = seed.build()
    with session_scope(db_url) as s:
        upsert_detections(s, verdicts, clusters)
        s.execute(update(AccountRow).where(AccountRow.account_id == "acct-h000").values(status="in_review"))
    changed = msgspec.structs.replace(verdicts[0], score=0.5, models=["frontier-9"])
    moved = msgspec.structs.replace(clusters[0], shared_indicators={"ip": ["192.0.2.99"]})
    with session_scope(db_url) as s:
        upsert_detections(s, [changed], [moved])
    with session_scope(db_url) as s:
        row = s.get(AccountRow, "acct-h000")
        assert (row.score, row.models, row.status) == (0.5, ["frontier-9"], "in_review")
        assert s.scalars(select(AccountModel.model).where(AccountModel.account_id == "acct-h000")).all() == [
            "frontier-9"
        ]
        assert s.execute(
            select(ClusterIndicator.kind, ClusterIndicator.value).where(ClusterIndicator.cluster_id == "c-hydra")
        ).all() == [("ip", "192.0.2.99")]
        other = s.get(AccountRow, "acct-h001")
        assert other.models == verdicts[1].models


def test_batches_of_thousands_with_repeats_in_a_batch(db_url: str) -> None:
    base = seed.build()[0][0]
    many = [msgspec.structs.replace(base, account_id=f"bulk-{i:05d}", score=i / 6000) for i in range(6000)]
    many.append(msgspec.structs.replace(many[10], score=0.99))  # a later record of the same account wins
    with session_scope(db_url) as s:
        upsert_detections(s, many, [])
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).select_from(AccountRow)) == 6000
        assert s.get(AccountRow, "bulk-00010").score == 0.99


def test_the_audit_log_is_append_only_in_the_database(db_url: str) -> None:
    with session_scope(db_url) as s:
        s.execute(
            text(
                "INSERT INTO audit_events (at, actor, action, entity_type, entity_id, details) "
                "VALUES ('2026-03-02 10:00:00', 'x', 'case.open', 'case', '1', '{}')"
            )
        )
    for sql in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"), session_scope(db_url) as s:
            s.execute(text(sql))
