"""Verdicts and clusters as pandas tables, for notebooks (pandas is optional: ``distillguard[notebooks]``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from distillguard.detector.records import AccountVerdict, ClusterVerdict

if TYPE_CHECKING:
    import pandas as pd


def _frame(rows: Iterable[msgspec.Struct], index: str) -> pd.DataFrame:
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("verdict tables need pandas: pip install 'distillguard[notebooks]'") from exc
    records: list[dict[str, Any]] = [msgspec.structs.asdict(r) for r in rows]
    return pd.DataFrame.from_records(records).set_index(index) if records else pd.DataFrame()


def verdicts_frame(verdicts: Iterable[AccountVerdict]) -> pd.DataFrame:
    """One row per account, indexed by ``account_id``, a column per :class:`AccountVerdict` field."""
    return _frame(verdicts, "account_id")


def clusters_frame(clusters: Iterable[ClusterVerdict]) -> pd.DataFrame:
    """One row per cluster, indexed by ``cluster_id``, a column per :class:`ClusterVerdict` field."""
    return _frame(clusters, "cluster_id")
