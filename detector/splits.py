"""Which rows a fitted gradient-boosted ensemble would score differently.

Every split of a :class:`~sklearn.ensemble.HistGradientBoostingClassifier` sends a row left when its value is at
most the split's threshold (a missing value goes the way the split learnt). So the thresholds of all the splits on
an input column cut that column into *cells*, and two rows whose every input falls in the same cell reach the same
leaf in every tree: the ensemble gives them the same prediction, to the bit. The incremental scorer re-runs a stage
only on rows whose cells moved, not on every row whose inputs moved by a hair (a neighbour's behaviour shifting
the cluster's mean from 0.412 to 0.413 crosses no split).
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

MISSING = -1  # the cell of a missing (NaN) input: routed by each split's learnt side, not by its threshold


class CategoricalSplitError(ValueError):
    """The ensemble splits on a categorical input, whose cells are not intervals."""


class SplitCells:
    """The cells a fitted ensemble's split thresholds cut each input column into (see the module docstring).

    Built once per model; :meth:`of` is pure."""

    def __init__(self, estimator: HistGradientBoostingClassifier) -> None:
        nodes = np.concatenate([p.nodes for stage in estimator._predictors for p in stage])
        splits = nodes[nodes["is_leaf"] == 0]
        if splits["is_categorical"].any():
            raise CategoricalSplitError("an ensemble with categorical splits has no interval cells")
        feature, threshold = splits["feature_idx"].astype(np.int64), splits["num_threshold"].astype(np.float64)
        self.n_inputs = int(estimator.n_features_in_)
        self.thresholds = tuple(np.unique(threshold[feature == j]) for j in range(self.n_inputs))

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
