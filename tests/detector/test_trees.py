"""The model's stages as plain arrays score exactly as the scikit-learn estimators they were made from, survive the
artifact, and let a scoring process run without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

from distillguard.detector.cohorts import empty
from distillguard.detector.context import STATIC
from distillguard.detector.features import FEATURES
from distillguard.detector.model import FINAL_INPUTS, FORMAT, FORMAT_WITH_ESTIMATORS, DetectionModel, Rows, load_model
from distillguard.detector.trees import LEAF_BITS, ROWS_AT_ONCE, BoostedTrees, IsolationTrees, TreeShapeError


def _probe(rng: np.random.Generator, X: np.ndarray, cuts: tuple[np.ndarray, ...]) -> np.ndarray:
    """Rows that land on thresholds exactly, beside them, far outside, and on missing values."""
    n, width = 200, X.shape[1]
    rows = rng.normal(size=(n, width)) * 3
    for j in range(width):
        if len(cuts[j]):
            at = rng.random(n) < 0.3
            rows[at, j] = rng.choice(cuts[j], at.sum())
            beside = rng.random(n) < 0.1
            rows[beside, j] = np.nextafter(rng.choice(cuts[j], beside.sum()), np.inf)
    rows[rng.random(rows.shape) < 0.1] = np.nan
    rows[0], rows[1] = np.inf, -np.inf
    return rows


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    leaves=st.integers(2, LEAF_BITS),
    width=st.integers(1, 6),
    missing=st.floats(0.0, 0.4),
)
def test_boosted_trees_give_scikit_learns_probability_to_the_bit(
    seed: int, leaves: int, width: int, missing: float
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, width))
    y = (X[:, 0] + np.sin(2 * X[:, -1]) + rng.normal(scale=0.5, size=400) > 0).astype(int)
    X[rng.random(X.shape) < missing] = np.nan
    est = HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=leaves, min_samples_leaf=5, random_state=seed)
    est.fit(X, y)
    trees = BoostedTrees.from_estimator(est)
    probe = _probe(rng, X, trees.cells.thresholds)
    assert np.array_equal(trees.probability(probe), est.predict_proba(probe)[:, 1])
    assert np.array_equal(trees.probability(probe[:3]), est.predict_proba(probe[:3])[:, 1])


def test_an_ensemble_that_cannot_be_held_is_refused_with_why() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    wide = HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=64, min_samples_leaf=2, random_state=0)
    with pytest.raises(TreeShapeError, match=f"at most {LEAF_BITS}"):
        BoostedTrees.from_estimator(wide.fit(X, rng.random(len(X)) < 0.5))  # noise: every leaf it may grow
    three = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, np.digitize(X[:, 0], [-0.5, 0.5]))
    with pytest.raises(TreeShapeError, match="binary"):
        BoostedTrees.from_estimator(three)


def test_stages_rebuilt_from_their_arrays_score_the_same() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    boosted = BoostedTrees.from_estimator(HistGradientBoostingClassifier(max_iter=10).fit(X, X[:, 0] > 0))
    forest = IsolationTrees.from_estimator(IsolationForest(n_estimators=10, random_state=0).fit(X))
    probe = rng.normal(size=(50, 4))
    assert np.array_equal(BoostedTrees.from_arrays(boosted.to_arrays()).probability(probe), boosted.probability(probe))
    assert np.array_equal(
        IsolationTrees.from_arrays(forest.to_arrays()).score_samples(probe), forest.score_samples(probe)
    )


def _small_model() -> tuple[DetectionModel, Rows]:
    rng = np.random.default_rng(2)
    n = 600
    X, context = rng.random((n, len(FEATURES))), rng.random((n, len(STATIC)))
    y = (X[:, 0] + X[:, 1] > 1.0).astype(np.int64)
    rows = Rows(X=X, groups=np.arange(n), hoods=empty(n), context=context, y=y, split=np.arange(n) % 4)
    model = DetectionModel(n_estimators=20, max_samples=128, max_iter=15, min_samples_leaf=10).fit(rows)
    model.calibrate(model.score_samples(rows)[0], y)
    return model, rows


def test_a_saved_model_loads_and_scores_to_the_bit(tmp_path: Path) -> None:
    model, rows = _small_model()
    loaded = load_model(model.save(tmp_path / "m.joblib"))
    for got, want in zip(loaded.score_samples(rows), model.score_samples(rows), strict=True):
        assert np.array_equal(got, want)
    assert joblib.load(tmp_path / "m.joblib")["format"] == FORMAT


def test_an_artifact_of_scikit_learn_estimators_is_converted_on_load(tmp_path: Path) -> None:
    """A version-2 artifact (trained before the stages were arrays) still loads, and scores as its estimators do."""
    rng = np.random.default_rng(3)
    model, rows = _small_model()
    X2 = np.column_stack([rows.X, model.anomaly(rows.X)])
    forest = IsolationForest(n_estimators=20, max_samples=128, random_state=0).fit(rows.X)
    behaviour = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X2, rows.y)
    final = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(
        rng.random((len(rows.X), len(FINAL_INPUTS))), rows.y
    )
    path = model.save(tmp_path / "v3.joblib")
    blob = joblib.load(path)
    blob["format"] = FORMAT_WITH_ESTIMATORS
    blob["model"] |= {"iforest_": forest, "behaviour_": behaviour, "final_": final}
    joblib.dump(blob, tmp_path / "v2.joblib")
    loaded = load_model(tmp_path / "v2.joblib")
    assert loaded.iforest_ is not None and loaded.behaviour_ is not None
    assert np.array_equal(loaded.iforest_.score_samples(rows.X), forest.score_samples(rows.X))
    assert np.array_equal(loaded.behaviour_.probability(X2), behaviour.predict_proba(X2)[:, 1])


def test_scoring_with_the_shipped_model_never_imports_scikit_learn() -> None:
    code = (
        "import sys, numpy as np\n"
        "from distillguard.detector.detector import Detector\n"
        "from distillguard.detector.features import FEATURES\n"
        "m = Detector().model\n"
        "a, b = m.behaviour(np.random.default_rng(0).random((5, len(FEATURES))))\n"
        "assert len(b) == 5\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('sklearn', 'pandas')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_many_rows_are_scored_in_chunks_with_the_same_result() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 3))
    est = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, X[:, 0] > 0)
    forest = IsolationForest(n_estimators=10, random_state=0).fit(X)
    many = rng.normal(size=(2 * ROWS_AT_ONCE + 5, 3))
    assert np.array_equal(BoostedTrees.from_estimator(est).probability(many), est.predict_proba(many)[:, 1])
    assert np.array_equal(IsolationTrees.from_estimator(forest).score_samples(many), forest.score_samples(many))
