"""Fitted tree ensembles as plain arrays, scored with numpy alone.

The model is fitted with scikit-learn, then kept as the arrays its trees are made of: a process that only scores
never imports scikit-learn, whose import (scipy.stats, pandas) was about 110 MB of every worker's resident memory
and one to three seconds of its start. Both ensembles give scikit-learn's results to the bit (the same comparisons,
the same leaves, the leaf values added in the same order; ``tests/detector/test_trees.py`` checks it against the
installed scikit-learn, so an upgrade that changes its internals fails there, not in the verdicts).

- :class:`BoostedTrees`, a binary gradient-boosted ensemble, is scored the QuickScorer way (Lucchese et al., SIGIR
  2015): a tree's leaves are bits of a mask, numbered left to right; every split a row does not go left at clears
  the bits of its left subtree, and the row's leaf is the lowest bit left. Which splits on an input a row fails
  depends only on the input's cell among the split thresholds (:mod:`.splits`), so each input has a table of masks,
  one row per cell, and a row's masks in all trees are the AND of one table row per input.
- :class:`IsolationTrees`, an isolation forest, whose trees have up to thousands of leaves, is walked level by
  level, every row in every tree at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit

from distillguard.detector.splits import MISSING, CategoricalSplitError, SplitCells

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

LEAF_BITS = 32  # leaves a boosted tree may have: one bit each of a uint32 mask
# Rows scored together: the work arrays are rows x trees (about 20 bytes each), so a chunk holds a few MB however many
# accounts a re-scoring has (all 70,000 of them at once: over 600 MB).
ROWS_AT_ONCE = 2048
ALL_LEAVES = np.uint32(0xFFFFFFFF)


class TreeShapeError(ValueError):
    """An ensemble this module cannot hold (a tree with more leaves than :data:`LEAF_BITS`, several classes)."""


@dataclass(frozen=True, eq=False)
class BoostedTrees:
    """A fitted binary gradient-boosted ensemble (scikit-learn's ``HistGradientBoostingClassifier`` without categorical
    splits); ``probability`` is its ``predict_proba(X)[:, 1]``."""

    cells: SplitCells
    masks: tuple[np.ndarray, ...]  # per input: (cells + 1) x trees, uint32; row ``cells`` (the last) is a missing value
    leaf_values: np.ndarray  # trees x LEAF_BITS: the value of each tree's k-th leaf from the left
    baseline: float  # the raw prediction before any tree

    def raw_of_cells(self, cells: np.ndarray) -> np.ndarray:
        """The raw prediction (log-odds) of rows given by their input cells (:meth:`SplitCells.of`)."""
        return _by_chunks(self._raw_of_cells, cells)

    def _raw_of_cells(self, cells: np.ndarray) -> np.ndarray:
        n, trees = len(cells), self.leaf_values.shape[0]
        masks = np.full((n, trees), ALL_LEAVES, dtype=np.uint32)
        for j, table in enumerate(self.masks):
            column = cells[:, j]
            masks &= table[np.where(column == MISSING, len(table) - 1, column)]
        lowest = masks & (~masks + np.uint32(1))  # the lowest bit left: the row's leaf
        leaf = np.log2(lowest).astype(np.intp)  # exact for a power of two
        values = np.empty((n, trees + 1))
        values[:, 0] = self.baseline
        values[:, 1:] = self.leaf_values[np.arange(trees), leaf]
        return np.cumsum(values, axis=1)[:, -1]  # added one tree after another, as scikit-learn does

    def probability(self, inputs: np.ndarray) -> np.ndarray:
        """The probability of the positive class of each row (rows x inputs)."""
        return expit(self.raw_of_cells(self.cells.of(inputs)))

    def to_arrays(self) -> dict[str, Any]:
        """Plain arrays and numbers (for a model artifact); :meth:`from_arrays` rebuilds the ensemble."""
        return {
            "thresholds": list(self.cells.thresholds),
            "masks": list(self.masks),
            "leaf_values": self.leaf_values,
            "baseline": self.baseline,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> BoostedTrees:
        """The ensemble :meth:`to_arrays` described."""
        return cls(
            cells=SplitCells(tuple(np.asarray(t, dtype=np.float64) for t in arrays["thresholds"])),
            masks=tuple(np.asarray(m, dtype=np.uint32) for m in arrays["masks"]),
            leaf_values=np.asarray(arrays["leaf_values"], dtype=np.float64),
            baseline=float(arrays["baseline"]),
        )

    @classmethod
    def from_estimator(cls, estimator: HistGradientBoostingClassifier) -> BoostedTrees:
        """The arrays of a fitted binary ``HistGradientBoostingClassifier``."""
        if estimator.n_trees_per_iteration_ != 1:
            raise TreeShapeError("only a binary classifier (one tree per iteration) can be held")
        trees = [stage[0].nodes for stage in estimator._predictors]
        splits = np.concatenate([t[t["is_leaf"] == 0] for t in trees])
        if splits["is_categorical"].any():
            raise CategoricalSplitError("an ensemble with categorical splits has no interval cells")
        cells = SplitCells.from_splits(
            int(estimator.n_features_in_), splits["feature_idx"].astype(np.int64), splits["num_threshold"]
        )
        masks = [np.full((len(cuts) + 2, len(trees)), ALL_LEAVES, dtype=np.uint32) for cuts in cells.thresholds]
        leaf_values = np.zeros((len(trees), LEAF_BITS))
        for t, nodes in enumerate(trees):
            first, last = _leaf_ranges(nodes)
            if last[0] > LEAF_BITS:
                raise TreeShapeError(f"a tree has {last[0]} leaves; at most {LEAF_BITS} can be held")
            leaves = np.flatnonzero(nodes["is_leaf"])
            leaf_values[t, first[leaves]] = nodes["value"][leaves]
            for node in np.flatnonzero(nodes["is_leaf"] == 0):
                left = nodes["left"][node]
                cleared = ALL_LEAVES ^ np.uint32(((1 << int(last[left] - first[left])) - 1) << int(first[left]))
                j, cuts = int(nodes["feature_idx"][node]), cells.thresholds[int(nodes["feature_idx"][node])]
                k = int(np.searchsorted(cuts, nodes["num_threshold"][node]))
                masks[j][k + 1 : len(cuts) + 1, t] &= cleared  # cells above the threshold go right
                if not nodes["missing_go_to_left"][node]:
                    masks[j][len(cuts) + 1, t] &= cleared
        return cls(cells, tuple(masks), leaf_values, float(np.asarray(estimator._baseline_prediction).ravel()[0]))


def _by_chunks(score: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
    """``score(rows)``, :data:`ROWS_AT_ONCE` rows at a time (each row's result depends on that row alone)."""
    if len(rows) <= ROWS_AT_ONCE:
        return score(rows)
    return np.concatenate([score(rows[i : i + ROWS_AT_ONCE]) for i in range(0, len(rows), ROWS_AT_ONCE)])


def _leaf_ranges(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each node of one tree (root 0), the left-to-right numbers of its subtree's leaves: ``first`` to ``last``
    (exclusive). ``last[0]`` is the tree's count of leaves."""
    first, last = np.zeros(len(nodes), dtype=np.int64), np.zeros(len(nodes), dtype=np.int64)
    count, stack = 0, [(0, False)]
    while stack:
        node, done = stack.pop()
        if nodes["is_leaf"][node]:
            first[node], last[node], count = count, count + 1, count + 1
        elif done:
            first[node], last[node] = first[nodes["left"][node]], last[nodes["right"][node]]
        else:
            stack += [(node, True), (int(nodes["right"][node]), False), (int(nodes["left"][node]), False)]
    return first, last


@dataclass(frozen=True, eq=False)
class IsolationTrees:
    """A fitted isolation forest (scikit-learn's ``IsolationForest``); ``score_samples`` is its ``score_samples``.

    Nodes of all trees are numbered together, each tree's breadth first with a node's two children side by side, so
    a step is ``child + goes right``; a leaf's child is itself and nothing goes right of it, so walking past a leaf
    stays there."""

    n_inputs: int
    roots: np.ndarray  # the first node of each tree
    feature: np.ndarray  # input column a node splits on
    threshold: np.ndarray  # a row goes left at or below it (a leaf's: +inf)
    missing_left: np.ndarray  # where a missing value goes (a leaf's: left, to itself)
    child: np.ndarray  # a node's left child, its right child the next node (a leaf's: itself)
    path: np.ndarray  # at a leaf, the path length it adds: its depth + the average path length of its samples - 1
    depth: int  # levels to walk: the deepest tree's depth
    normaliser: float  # the average path length of a tree's samples times the trees (0: every score -0.5)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """The opposite of each row's anomaly score (lower is more abnormal)."""
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(f"expected rows of {self.n_inputs} features, got shape {X.shape}")
        return _by_chunks(self._score_samples, X)

    def _score_samples(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # beyond float32's range is +-inf, as scikit-learn's own cast makes it
            rows = np.ascontiguousarray(X, dtype=np.float32).astype(np.float64)  # it compares float32 inputs
        values, first = rows.ravel(), (np.arange(len(rows)) * self.n_inputs)[:, None]
        missing = bool(np.isnan(values).any())
        at = np.broadcast_to(self.roots, (len(rows), len(self.roots))).copy()
        for _ in range(self.depth):
            value = values[first + self.feature[at]]
            goes_right = value > self.threshold[at]
            if missing:
                goes_right |= np.isnan(value) & ~self.missing_left[at]
            at = self.child[at] + goes_right
        depths = np.cumsum(self.path[at], axis=1)[:, -1] if len(self.roots) else np.zeros(len(rows))
        d = self.normaliser
        return -(2 ** (-np.divide(depths, d, out=np.ones_like(depths), where=d != 0)))

    def to_arrays(self) -> dict[str, Any]:
        """Plain arrays and numbers (for a model artifact); :meth:`from_arrays` rebuilds the forest."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> IsolationTrees:
        """The forest :meth:`to_arrays` described."""
        return cls(**arrays)

    @classmethod
    def from_estimator(cls, forest: IsolationForest) -> IsolationTrees:
        """The arrays of a fitted ``IsolationForest``."""
        from sklearn.ensemble._iforest import _average_path_length  # only converting needs scikit-learn

        n_inputs = int(forest.n_features_in_)
        every_feature = forest._max_features == n_inputs
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "missing", "child", "path")}
        roots, offset, depth = [], 0, 0
        for t, (tree, columns) in enumerate(zip(forest.estimators_, forest.estimators_features_, strict=True)):
            tr = tree.tree_
            order, renumbered = _side_by_side(tr.children_left, tr.children_right)
            leaf = tr.children_left[order] == -1
            roots.append(offset)
            local = np.maximum(tr.feature[order], 0)
            parts["feature"].append(local if every_feature else np.asarray(columns)[local])
            parts["threshold"].append(np.where(leaf, np.inf, tr.threshold[order]))
            parts["missing"].append(leaf | tr.missing_go_to_left[order].astype(bool))
            parts["child"].append(np.where(leaf, np.arange(len(order)), renumbered[tr.children_left[order]]) + offset)
            adds = forest._decision_path_lengths[t] + forest._average_path_length_per_tree[t] - 1.0
            parts["path"].append(np.where(leaf, adds[order], 0.0))
            offset += len(order)
            depth = max(depth, int(tr.max_depth))
        return cls(
            n_inputs=n_inputs,
            roots=np.asarray(roots, dtype=np.intp),
            feature=np.concatenate(parts["feature"]).astype(np.intp),
            threshold=np.concatenate(parts["threshold"]),
            missing_left=np.concatenate(parts["missing"]),
            child=np.concatenate(parts["child"]).astype(np.intp),
            path=np.concatenate(parts["path"]),
            depth=depth,
            normaliser=float(len(forest.estimators_) * _average_path_length([forest._max_samples])[0]),
        )


def _side_by_side(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A tree's nodes (root 0, a leaf's children -1) numbered breadth first with each node's children side by side:
    ``order`` (new number -> node) and ``renumbered`` (node -> new number)."""
    order, renumbered = [0], np.zeros(len(left), dtype=np.intp)
    for node in order:  # grows as it goes
        if left[node] != -1:
            renumbered[left[node]], renumbered[right[node]] = len(order), len(order) + 1
            order += [int(left[node]), int(right[node])]
    return np.asarray(order, dtype=np.intp), renumbered
