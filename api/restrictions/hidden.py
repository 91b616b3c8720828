"""What a principal may not see: the restricted cases it is no member of, and everything they cover.

A restricted case hides its subject: a cluster case its cluster and the cluster's accounts; an account case its
account and, when the account belongs to a cluster, that cluster and its accounts too (a cluster page lists its
members). Every other case on a hidden subject is hidden with it, and so are audit records about hidden cases and
subjects. Queries here are SQL conditions, so that lists, totals and counts leave hidden rows out in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Select, String, and_, cast, false, literal, or_, select, union
from sqlalchemy.orm import QueryableAttribute

from distillguard.api.cases.models import Case
from distillguard.api.detections.models import AccountRow, ClusterRow
from distillguard.detector.records import SubjectKind

CASE_ENTITY = "case"  # the audit entity type of records about a case


@dataclass(frozen=True)
class Hidden:
    """The restricted cases (ids) someone is not a member of. Equal sets hide the same rows, so cached queue
    pages are shared by exactly the principals with the same set (:attr:`cases` is part of the cache key)."""

    cases: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.cases)

    def _subjects(self, kind: SubjectKind) -> Select:
        return select(Case.subject_id).where(Case.id.in_(sorted(self.cases)), Case.subject_type == kind)

    def clusters(self) -> CompoundSelect:
        """Ids of the hidden clusters: restricted ones and the clusters of restricted accounts."""
        of_accounts = select(AccountRow.cluster_id).where(
            AccountRow.account_id.in_(self._subjects(SubjectKind.account)), AccountRow.cluster_id.is_not(None)
        )
        return union(self._subjects(SubjectKind.cluster), of_accounts)

    def accounts(self) -> CompoundSelect:
        """Ids of the hidden accounts: restricted ones and the accounts of hidden clusters."""
        return union(
            self._subjects(SubjectKind.account),
            select(AccountRow.account_id).where(AccountRow.cluster_id.in_(self.clusters())),
        )

    def subject_hidden(self, kind: str, subject_id: QueryableAttribute[Any] | str) -> ColumnElement[bool]:
        """The condition that ``kind`` ``subject_id`` (a column or a value) is hidden."""
        if not self:
            return false()
        ids = self.clusters() if kind == SubjectKind.cluster else self.accounts()
        column = literal(subject_id) if isinstance(subject_id, str) else subject_id
        return column.in_(ids)

    def case_hidden(self) -> ColumnElement[bool]:
        """The condition that the row of :class:`Case` is hidden (restricted, or on a hidden subject)."""
        if not self:
            return false()
        return or_(
            Case.id.in_(sorted(self.cases)),
            and_(Case.subject_type == SubjectKind.cluster, Case.subject_id.in_(self.clusters())),
            and_(Case.subject_type == SubjectKind.account, Case.subject_id.in_(self.accounts())),
        )

    def record_hidden(
        self, entity_type: QueryableAttribute[str], entity_id: QueryableAttribute[str]
    ) -> ColumnElement[bool]:
        """The condition that an audit record about ``entity_type`` ``entity_id`` is about a hidden case or
        subject."""
        if not self:
            return false()
        cases = select(cast(Case.id, String)).where(self.case_hidden())
        return or_(
            and_(entity_type == CASE_ENTITY, entity_id.in_(cases)),
            and_(entity_type == SubjectKind.cluster.value, entity_id.in_(self.clusters())),
            and_(entity_type == SubjectKind.account.value, entity_id.in_(self.accounts())),
        )

    def shown(self, stmt: Select, kind: SubjectKind) -> Select:
        """``stmt`` over clusters or accounts (``kind``) without the hidden ones."""
        if not self:
            return stmt
        if kind is SubjectKind.cluster:
            return stmt.where(ClusterRow.cluster_id.not_in(self.clusters()))
        return stmt.where(AccountRow.account_id.not_in(self.accounts()))


NOTHING = Hidden()  # what an admin, or anyone while no case is restricted, does not see
