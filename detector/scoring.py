"""One re-scoring's outcome, and the incremental scorer that produces it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distillguard.detector.cohorts import Neighbourhoods
from distillguard.detector.context import behaviour_context
from distillguard.detector.linking import Linkage
from distillguard.detector.model import DetectionModel


@dataclass(frozen=True, eq=False)
class Scoring:
    """The outcome of one re-scoring: row ``a`` is account ``a`` of the state, cluster ``k`` is link label ``k``.

    Never changed after it is made; the next re-scoring makes a new one."""

    at: float  # event time scored at
    X: np.ndarray  # account features, accounts x FEATURES
    link: Linkage
    hoods: Neighbourhoods
    members: list[np.ndarray]  # account ids per cluster
    context: np.ndarray  # static cluster context per account
    score: np.ndarray  # final score per account
    behaviour: np.ndarray
    anomaly: np.ndarray
    cluster_ids: list[str]
    cluster_score: np.ndarray
    final_in: np.ndarray  # cluster context + behaviour context, to detect rows needing a new final score
    newest_model: str | None  # name of the newest released model, None if none

    @property
    def accounts(self) -> int:
        """Accounts scored."""
        return len(self.score)


def score_accounts(
    model: DetectionModel,
    X: np.ndarray,
    groups: np.ndarray,
    hoods: Neighbourhoods,
    ctx: np.ndarray,
    prev: Scoring | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score, behaviour, anomaly, final input) per account, re-running the models only on rows whose
    inputs changed since ``prev`` (the models score row by row, so the result equals scoring everything)."""
    n = len(X)
    m = 0 if prev is None else prev.accounts
    changed = np.ones(n, dtype=bool)
    anomaly, behaviour = np.zeros(n), np.zeros(n)
    if prev is not None and m:
        changed[:m] = np.any(X[:m] != prev.X, axis=1)
        anomaly[:m], behaviour[:m] = prev.anomaly, prev.behaviour
    anomaly[changed], behaviour[changed] = model.behaviour(X[changed])
    bctx = behaviour_context(groups, hoods, behaviour)
    final_in = np.column_stack([ctx, bctx])
    redo = changed.copy()
    score = np.zeros(n)
    if prev is not None and m:
        redo[:m] |= np.any(final_in[:m] != prev.final_in, axis=1)
        score[:m] = prev.score
    score[redo] = model.final(X[redo], anomaly[redo], ctx[redo], bctx[redo])
    return score, behaviour, anomaly, final_in
