"""Fitting the model's stages with scikit-learn (training only: scoring reads the arrays of :mod:`.trees`).

:meth:`DetectionModel.fit <detector.model.DetectionModel.fit>` and ``calibrate`` call these, so only a process that
trains imports scikit-learn. Fits run on one thread: with other work on the machine, OpenMP threads spinning against
it made a fit several times slower.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import GroupKFold, cross_val_predict
from threadpoolctl import ThreadpoolController

from distillguard.detector.context import behaviour_context
from distillguard.detector.directions import constraints
from distillguard.detector.trees import BoostedTrees, IsolationTrees

if TYPE_CHECKING:
    from distillguard.detector.model import DetectionModel, Rows

_THREADPOOLS = ThreadpoolController()


def fit_stages(
    model: DetectionModel, rows: Rows, behaviour_inputs: tuple[str, ...], final_inputs: tuple[str, ...]
) -> None:
    """Fit ``model``'s three stages on labelled rows (out-of-fold stage-2 scores feed stage 3) and keep their arrays."""
    assert rows.y is not None, "fitting needs labelled rows"
    with _THREADPOOLS.limit(limits=1, user_api="openmp"):
        forest = IsolationForest(
            n_estimators=model.n_estimators, max_samples=model.max_samples, random_state=model.random_state
        ).fit(rows.X)
        raw = -forest.score_samples(rows.X)
        lo, hi = model.anomaly_quantiles
        model.anomaly_ref_ = (float(np.quantile(raw, lo)), float(np.quantile(raw, hi)))
        model.iforest_ = IsolationTrees.from_estimator(forest)
        X2 = np.column_stack([rows.X, model.anomaly(rows.X)])
        split = rows.split if rows.split is not None else rows.groups
        folds = GroupKFold(n_splits=min(model.n_splits, len(np.unique(split))))
        oof = cross_val_predict(
            _boosted(model, behaviour_inputs), X2, rows.y, cv=folds, groups=split, method="predict_proba"
        )[:, 1]
        model.behaviour_ = BoostedTrees.from_estimator(_boosted(model, behaviour_inputs).fit(X2, rows.y))
        X3 = model.final_input(rows.X, X2[:, -1], rows.context, behaviour_context(rows.groups, rows.hoods, oof))
        model.final_ = BoostedTrees.from_estimator(_boosted(model, final_inputs).fit(X3, rows.y))


def _boosted(model: DetectionModel, inputs: tuple[str, ...]) -> HistGradientBoostingClassifier:
    """A gradient-boosted stage over ``inputs``, monotone in each as :data:`directions.DIRECTIONS` says."""
    return HistGradientBoostingClassifier(
        monotonic_cst=constraints(inputs),
        max_iter=model.max_iter,
        learning_rate=model.learning_rate,
        max_leaf_nodes=model.max_leaf_nodes,
        l2_regularization=model.l2_regularization,
        min_samples_leaf=model.min_samples_leaf,
        random_state=model.random_state,
    )


def isotonic_knots(scores: np.ndarray, y: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The knots (score, probability) of the isotonic map from score to the share of attacks."""
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
    return tuple(float(x) for x in iso.X_thresholds_), tuple(float(p) for p in iso.y_thresholds_)
