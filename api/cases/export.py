"""A case as a download: the case, its accounts with the case's decisions, its cluster's indicators, its audit
records; read in pages in a session of its own, so that a case of any size streams in flat memory."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from distillguard.api.audit.service import events
from distillguard.api.cases.labels import CHUNK
from distillguard.api.cases.models import AccountDecision, Case
from distillguard.api.cases.schemas import (
    CASE_EXPORT_ROWS,
    CaseAccountExport,
    CaseAuditExport,
    CaseExport,
    CaseIndicatorExport,
)
from distillguard.api.cases.service import get_case
from distillguard.api.detections import evidence
from distillguard.api.detections.models import AccountRow, ClusterRow
from distillguard.api.overrides.applied import overrides_of
from distillguard.api.tabular import columns
from distillguard.detector.records import SubjectKind

RECORD = "record"  # the column saying which kind of row a line is
AUDIT_PAGE = 1000  # audit records read per query

# CSV columns: which record a row is, then every row kind's columns (a column serves the rows that have it).
CASE_EXPORT_COLUMNS = list(dict.fromkeys(c for m in CASE_EXPORT_ROWS for c in columns(m, RECORD)))


def _cluster(session: Session, case: Case) -> ClusterRow | None:
    """The cluster a case reviews: its subject, or its account's cluster."""
    if case.subject_type == SubjectKind.cluster:
        return session.get(ClusterRow, case.subject_id)
    account = session.get(AccountRow, case.subject_id)
    return session.get(ClusterRow, account.cluster_id) if account and account.cluster_id else None


def _accounts(session: Session, case: Case, cluster: ClusterRow | None) -> Iterator[CaseAccountExport]:
    """The case's stored accounts in id order, a chunk at a time, each with the case's decision on it."""
    ids = sorted(cluster.members) if case.subject_type == SubjectKind.cluster and cluster else [case.subject_id]
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        rows = session.scalars(
            select(AccountRow).where(AccountRow.account_id.in_(chunk)).order_by(AccountRow.account_id)
        )
        decided = session.scalars(
            select(AccountDecision).where(AccountDecision.case_id == case.id, AccountDecision.account_id.in_(chunk))
        )
        decisions = {d.account_id: d for d in decided}
        overrides = overrides_of(session, SubjectKind.account, chunk)
        for row in rows:
            item = evidence.account_item(row, overrides.get(row.account_id))
            yield CaseAccountExport.model_validate(item | {"case_decision": decisions.get(row.account_id)})
        session.expunge_all()


def case_rows(sessions: sessionmaker[Session], case_id: int, redacted: bool) -> Iterator[BaseModel]:
    """The rows of case ``case_id``'s export (:data:`CASE_EXPORT_ROWS`, in that order); prompt templates among
    the indicators redacted when ``redacted``."""
    with sessions() as session:
        case = get_case(session, case_id)
        yield CaseExport.model_validate(case)
        cluster = _cluster(session, case)
        shared = evidence.indicators(cluster.shared_indicators, redacted) if cluster else {}
        yield from _accounts(session, case, cluster)
        for kind, values in sorted(shared.items()):
            for value in values:
                yield CaseIndicatorExport(kind=kind, value=value)
        after = None
        while page := events(session, entity_type="case", entity_id=str(case_id), after=after, limit=AUDIT_PAGE):
            yield from (CaseAuditExport.model_validate(e) for e in page)
            after = page[-1].id
            session.expunge_all()
