"""The verdict and cluster records (:mod:`detector.records`) are the one definition of their fields; the table and
the response bodies that must declare them again are checked against them here.

Adding a field to a record fails these tests until the table (and a migration) and the detail body serve it, or
the difference is documented below.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from pathlib import Path

import msgspec
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import BaseModel
from sqlalchemy import JSON, Boolean, Float, Integer, String

import distillguard.api.models  # noqa: F401  (registers every table)
from distillguard.api.database import Base, engine_for, migrate
from distillguard.api.detections.models import AccountRow, ClusterRow, Reviewed
from distillguard.api.detections.schemas import (
    AccountDetail,
    AccountItem,
    ClusterDetail,
    ClusterItem,
    LinkedCluster,
    MemberAccount,
)
from distillguard.api.types import UTCDateTime
from distillguard.detector.records import AccountVerdict, ClusterVerdict

REVIEWED = set(Reviewed.__annotations__)  # review status and write bookkeeping, on every table
# table -> (its record, its columns beyond the record's fields)
TABLES = {AccountRow: (AccountVerdict, REVIEWED), ClusterRow: (ClusterVerdict, REVIEWED | {"size"})}
APPLIED = {"applied_action", "override"}  # an analyst's override of the record's action, and what is applied
# detail body -> (its record, {record field: the body field serving it in another form}, body-only fields)
DETAILS = {
    AccountDetail: (
        AccountVerdict,
        {"hourly_requests": "timeline", "sample_prompts": "sample_prompts"},
        {"status", "cluster", "case", "decision", "decision_conflicts"} | APPLIED,
    ),
    ClusterDetail: (
        ClusterVerdict,
        {"members": "members", "linked_clusters": "linked_clusters"},
        {"size", "status", "members_total", "verification_paths", "models", "timeline", "sample_prompts", "case"}
        | APPLIED,
    ),
}
# bodies serving some of a record's fields (as they are, or null for an unknown member)
PARTS = {
    AccountItem: AccountVerdict,
    ClusterItem: ClusterVerdict,
    MemberAccount: AccountVerdict,
    LinkedCluster: ClusterVerdict,
}
SQL_TYPES = {str: String, float: Float, bool: Boolean, int: Integer, datetime: UTCDateTime, list: JSON, dict: JSON}


def _shape(t: object) -> object:
    """A comparable form of a type (``X | None`` and ``Optional[X]`` alike)."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        return frozenset(_shape(a) for a in typing.get_args(t))
    if typing.get_origin(t) is not None:
        return typing.get_origin(t), tuple(_shape(a) for a in typing.get_args(t))
    return t


def _nullable(t: object) -> bool:
    return type(None) in typing.get_args(t)


def _base(t: object) -> type:
    """The Python type stored: ``list`` for ``list[str]``, ``str`` for ``str | None``."""
    args = [a for a in typing.get_args(t) if a is not type(None)] if _nullable(t) else [t]
    return typing.get_origin(args[0]) or args[0]


def _fields(record: type[msgspec.Struct]) -> dict[str, object]:
    return {f.name: f.type for f in msgspec.structs.fields(record)}


def _body(body: type[BaseModel]) -> dict[str, object]:
    return {name: f.annotation for name, f in body.model_fields.items()}


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__tablename__)
def test_every_record_field_has_a_column_and_every_column_a_field(table: type) -> None:
    record, extras = TABLES[table]
    fields = _fields(record)
    columns = table.__table__.columns
    mapped = {k: typing.get_args(v)[0] for k, v in typing.get_type_hints(table).items() if k in columns}
    assert set(fields) - set(columns.keys()) == set(), f"record fields without a column in {table.__tablename__}"
    assert set(columns.keys()) - set(fields) == extras, "columns that are no record field (documented extras)"
    for name, t in fields.items():
        col = columns[name]
        assert _shape(mapped[name]) == _shape(t), f"{table.__name__}.{name}: {mapped[name]} vs the record's {t}"
        assert col.nullable == _nullable(t), f"{table.__name__}.{name}: nullable={col.nullable}, record type {t}"
        assert isinstance(col.type, SQL_TYPES[_base(t)]), f"{table.__name__}.{name}: column type {col.type!r}"


@pytest.mark.parametrize("body", DETAILS, ids=lambda b: b.__name__)
def test_the_detail_body_serves_every_record_field(body: type[BaseModel]) -> None:
    record, reshaped, extras = DETAILS[body]
    fields, served = _fields(record), _body(body)
    for name, t in fields.items():
        if name in reshaped:
            assert reshaped[name] in served, f"{record.__name__}.{name} is served as {body.__name__}.{reshaped[name]}"
        else:
            assert name in served, f"{record.__name__}.{name} is not in {body.__name__} (add it, or document it here)"
            assert _shape(served[name]) == _shape(t), f"{body.__name__}.{name}: {served[name]} vs the record's {t}"
    assert set(served) - set(fields) - set(reshaped.values()) == extras, "body fields that are no record field"


@pytest.mark.parametrize("body", PARTS, ids=lambda b: b.__name__)
def test_bodies_serving_part_of_a_record_keep_its_types(body: type[BaseModel]) -> None:
    fields = _fields(PARTS[body])
    for name, t in _body(body).items():
        if name in fields:
            assert _shape(t) in (_shape(fields[name]), _shape(fields[name] | None)), f"{body.__name__}.{name}: {t}"


def test_the_migrations_create_the_tables_the_models_declare(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shapes.db'}"
    migrate(url)
    with engine_for(url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # SQLite reflects descending index columns as plain ones, so indexes are left out
    assert [d for d in diff if d[0] not in ("add_index", "remove_index")] == []
