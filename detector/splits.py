"""Which rows a fitted gradient-boosted ensemble would score differently.

Every split of a gradient-boosted ensemble (:class:`~detector.trees.BoostedTrees`) sends a row left when its value is at
most the split's threshold (a missing value goes the way the split learnt). So the thresholds of all the splits on
an input column cut that column into *cells*, and two rows whose every input falls in the same cell reach the same
leaf in every tree: the ensemble gives them the same prediction, to the bit. The incremental scorer re-runs a stage
only on rows whose cells moved, not on every row whose inputs moved by a hair (a neighbour's behaviour shifting
the cluster's mean from 0.412 to 0.413 crosses no split).
"""

from __future__ import annotations

import numpy as np

MISSING = -1  # the cell of a missing (NaN) input: routed by each split's learnt side, not by its threshold


class CategoricalSplitError(ValueError):
    """The ensemble splits on a categorical input, whose cells are not intervals."""


class SplitCells:
    """The cells a fitted ensemble's split thresholds cut each input column into (see the module docstring).

    Built once per model; :meth:`of` is pure."""

    def __init__(self, thresholds: tuple[np.ndarray, ...]) -> None:
        self.thresholds = thresholds  # per input column, its splits' distinct thresholds in increasing order
        self.n_inputs = len(thresholds)

    @classmethod
    def from_splits(cls, n_inputs: int, feature: np.ndarray, threshold: np.ndarray) -> SplitCells:
        """The cells of an ensemble whose splits are on columns ``feature`` at ``threshold`` (one entry a split)."""
        threshold = np.asarray(threshold, dtype=np.float64)
        return cls(tuple(np.unique(threshold[feature == j]) for j in range(n_inputs)))

    def of(self, inputs: np.ndarray) -> np.ndarray:
        """The cell of every input of every row (rows x inputs): how many of its column's thresholds lie below
        the value (a row goes left at exactly the thresholds at or above it), :data:`MISSING` for NaN."""
        if inputs.ndim != 2 or inputs.shape[1] != self.n_inputs:
            raise ValueError(f"expected rows of {self.n_inputs} inputs, got shape {inputs.shape}")
        cells = np.empty(inputs.shape, dtype=np.int32)
        for j, cuts in enumerate(self.thresholds):
            column = inputs[:, j]
            cells[:, j] = np.where(np.isnan(column), MISSING, np.searchsorted(cuts, column, side="left"))
        return cells
