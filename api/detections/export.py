"""Stored detections read back out of the review database: the public entry for notebooks,
``distillguard export-verdicts`` and anything else outside the review service."""

from __future__ import annotations

from distillguard.api.database import session_scope
from distillguard.api.detections.service import export_clusters, export_verdicts
from distillguard.detector.records import AccountVerdict, ClusterVerdict


def read_verdicts(url: str) -> list[AccountVerdict]:
    """Every account verdict in the review database at ``url`` (a SQLAlchemy URL), in account order."""
    with session_scope(url) as session:
        return list(export_verdicts(session))


def read_clusters(url: str) -> list[ClusterVerdict]:
    """Every cluster in the review database at ``url``, in cluster order."""
    with session_scope(url) as session:
        return list(export_clusters(session))
