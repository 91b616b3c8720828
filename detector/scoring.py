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
    final_cells: np.ndarray  # the final stage's input cells per account, to find rows needing a new final score
    newest_model: str | None  # name of the newest released model, None if none

    @property
    def accounts(self) -> int:
        """Accounts scored."""
        return len(self.score)


class Scorer:
    """Scores accounts with ``model``, re-running each stage only on the rows whose inputs changed since the
    previous :class:`Scoring`: the behaviour stages on rows whose features moved, the final stage on rows whose
    inputs moved to another cell of its split thresholds (:mod:`.splits`). The models score row by row, so the
    result equals scoring every row, to the bit."""

    def __init__(self, model: DetectionModel) -> None:
        assert model.final_ is not None, "model is not fitted"
        self.model = model
        self.final_cells = model.final_.cells
        # the final stage's input cells and behaviour context of the last call (the rest of its inputs are in the
        # scoring it made): the next call, if its ``prev`` is that scoring, looks up only the rows whose inputs moved
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def score(
        self, X: np.ndarray, groups: np.ndarray, hoods: Neighbourhoods, ctx: np.ndarray, prev: Scoring | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(score, behaviour, anomaly, final stage's input cells) per account."""
        n = len(X)
        m = 0 if prev is None else prev.accounts
        changed = np.ones(n, dtype=bool)
        anomaly, behaviour = np.zeros(n), np.zeros(n)
        if prev is not None and m:
            changed[:m] = np.any(X[:m] != prev.X, axis=1)
            anomaly[:m], behaviour[:m] = prev.anomaly, prev.behaviour
        anomaly[changed], behaviour[changed] = self.model.behaviour(X[changed])
        bctx = behaviour_context(groups, hoods, behaviour)
        cells = self._cells(self.model.final_input(X, anomaly, ctx, bctx), changed, ctx, bctx, prev)
        self._last = cells, bctx
        redo = np.ones(n, dtype=bool)
        score = np.zeros(n)
        if prev is not None and m:
            redo[:m] = np.any(cells[:m] != prev.final_cells, axis=1)
            score[:m] = prev.score
        score[redo] = self.model.final(X[redo], anomaly[redo], ctx[redo], bctx[redo])
        return score, behaviour, anomaly, cells

    def _cells(
        self, inputs: np.ndarray, changed: np.ndarray, ctx: np.ndarray, bctx: np.ndarray, prev: Scoring | None
    ) -> np.ndarray:
        """The final stage's input cells of every row (``changed``: rows whose features moved since ``prev``). A row's
        cells are a function of its inputs alone: when ``prev`` is this scorer's last scoring, a row whose features,
        static context and behaviour context are those it had there keeps its cells, and only the others are looked
        up."""
        last = self._last
        if prev is None or last is None or last[0] is not prev.final_cells:
            return self.final_cells.of(inputs)
        m = prev.accounts
        moved = changed.copy()  # a NaN input compares unequal: its row counts as moved
        moved[:m] |= np.any(ctx[:m] != prev.context, axis=1) | np.any(bctx[:m] != last[1], axis=1)
        cells = np.empty(inputs.shape, dtype=prev.final_cells.dtype)
        cells[:m] = prev.final_cells
        cells[moved] = self.final_cells.of(inputs[moved])
        return cells
