"""Incremental scoring: the stages re-run only on changed rows, and the scores equal scoring every row."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

from distillguard.detector.context import groups_of
from distillguard.detector.detector import Detector
from distillguard.detector.events import read_events
from distillguard.detector.scoring import Scorer
from distillguard.detector.splits import MISSING, CategoricalSplitError
from distillguard.detector.trees import BoostedTrees, IsolationTrees
from tests.detector.conftest import SIMULATED_DAYS

N_INPUTS = 4


def _ensemble() -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    """A small ensemble trained with missing values (so splits learn which side NaN goes) and its training rows."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, N_INPUTS))
    y = (X[:, 0] + np.sin(3 * X[:, 1]) - X[:, 2] * X[:, 3] > 0).astype(int)
    X[rng.random(X.shape) < 0.1] = np.nan
    return HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, random_state=0).fit(X, y), X


ENSEMBLE, ROWS = _ensemble()
CELLS = BoostedTrees.from_estimator(ENSEMBLE).cells


def _in_cell(column: int, cell: int, where: float) -> float:
    """A value of ``column`` in ``cell``: NaN, the cell's upper threshold itself, or a point inside it."""
    cuts = CELLS.thresholds[column]
    if cell == MISSING:
        return float("nan")
    lo = cuts[cell - 1] if cell > 0 else cuts[0] - 10.0
    hi = cuts[cell] if cell < len(cuts) else cuts[-1] + 10.0
    if where >= 1.0 and cell < len(cuts):
        return float(hi)  # exactly on the threshold: goes left there, like the rest of the cell
    return float(np.nextafter(lo, np.inf) + (hi - np.nextafter(lo, np.inf)) * min(where, 0.999))


@st.composite
def two_rows_in_one_cell_each(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    cells = [draw(st.integers(MISSING, len(CELLS.thresholds[j]))) for j in range(N_INPUTS)]
    pick = st.floats(0.0, 1.0)
    a = [_in_cell(j, c, draw(pick)) for j, c in enumerate(cells)]
    b = [_in_cell(j, c, draw(pick)) for j, c in enumerate(cells)]
    return np.array([a]), np.array([b])


@settings(max_examples=300, deadline=None)
@given(two_rows_in_one_cell_each())
def test_rows_in_the_same_cells_get_the_same_prediction(rows: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = rows
    assert np.array_equal(CELLS.of(a), CELLS.of(b))
    assert ENSEMBLE.predict_proba(a)[0, 1] == ENSEMBLE.predict_proba(b)[0, 1]


def test_rows_scored_differently_are_in_different_cells() -> None:
    rows = np.vstack([ROWS, ROWS + 0.05, ROWS * 0.97])
    proba, cells = ENSEMBLE.predict_proba(rows)[:, 1], CELLS.of(rows)
    _, first = np.unique(cells, axis=0, return_index=True)
    _, group = np.unique(cells, axis=0, return_inverse=True)
    assert np.array_equal(proba, proba[first][group.ravel()])  # one prediction per cell vector
    assert len(first) > 50  # and the rows do spread over many cells


def test_a_missing_value_is_in_a_cell_no_finite_value_is_in() -> None:
    for j, cuts in enumerate(CELLS.thresholds):
        between = (cuts[1:] + cuts[:-1]) / 2
        values = np.concatenate([[-np.inf, cuts[0] - 1.0], cuts, between, [cuts[-1] + 1.0, np.inf]])
        rows = np.zeros((len(values) + 1, N_INPUTS))
        rows[:, j] = [*values, np.nan]
        cells = CELLS.of(rows)[:, j]
        assert cells[-1] == MISSING
        assert sorted(set(cells[:-1])) == list(range(len(cuts) + 1))  # the finite values fill the cells 0..n
        assert MISSING not in cells[:-1]


@pytest.mark.parametrize("shape", [(2, 3), (2, 5), (4,), (2, 4, 1)])
def test_inputs_of_another_shape_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="rows of 4 inputs"):
        CELLS.of(np.zeros(shape))


WIDE = 300  # inputs: more than the small integers CPython caches (up to 256), so widths are compared by value
USED = 7  # the only input the wide ensemble splits on


def test_an_input_the_ensemble_never_splits_on_keeps_every_finite_value_in_one_cell() -> None:
    rng = np.random.default_rng(3)
    X = np.zeros((400, WIDE))
    X[:, USED] = rng.normal(size=400)
    cells = BoostedTrees.from_estimator(
        HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, X[:, USED] > 0.3)
    ).cells
    unused = np.arange(WIDE) != USED
    probe = np.tile(X[:50], (5, 1))
    for k, value in enumerate([-1e6, -1.0, 0.0, 1.0, 1e6]):  # both sides of any threshold a leaf could hold
        probe[50 * k : 50 * (k + 1), unused] = value
    found = cells.of(probe)
    assert (found[:, unused] == 0).all()  # a row whose unused inputs moved is not scored again
    assert len(np.unique(found[:, USED])) > 1  # while the used input does move rows


def test_categorical_splits_are_refused() -> None:
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.integers(0, 5, 300), rng.normal(size=300)])
    y = (X[:, 0] % 2 == 0).astype(int)
    est = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0], random_state=0).fit(X, y)
    with pytest.raises(CategoricalSplitError):
        BoostedTrees.from_estimator(est)


@pytest.mark.parametrize(
    ("n_features", "max_features", "max_samples"),
    [(6, 1.0, "auto"), (6, 0.5, "auto"), (6, 1.0, 1), (WIDE, 1.0, "auto")],
)
def test_isolation_scores_equal_scikit_learns_to_the_bit(
    n_features: int, max_features: float, max_samples: int | str
) -> None:
    # max_samples=1: trees of one sample, whose path lengths and normaliser are 0 (scored -0.5 by convention)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, n_features))
    forest = IsolationForest(n_estimators=30, max_features=max_features, max_samples=max_samples, random_state=0)
    forest.fit(X)
    probe = np.vstack(
        [rng.normal(size=(200, n_features)) * 4, np.full((1, n_features), np.nan), np.full((1, n_features), 1e30)]
    )
    assert np.array_equal(IsolationTrees.from_estimator(forest).score_samples(probe), forest.score_samples(probe))
    for k in range(1, 5):  # few rows: as many as the features each tree saw (3 of 6) among them
        assert np.array_equal(
            IsolationTrees.from_estimator(forest).score_samples(probe[:k]), forest.score_samples(probe[:k])
        )


@pytest.mark.parametrize("shape", [(2, 5), (2, 7), (6,), (2, 6, 1)])
def test_isolation_refuses_rows_of_another_shape(shape: tuple[int, ...]) -> None:
    forest = IsolationForest(n_estimators=5, random_state=0).fit(np.random.default_rng(4).normal(size=(100, 6)))
    with pytest.raises(ValueError, match="rows of 6 features"):
        IsolationTrees.from_estimator(forest).score_samples(np.zeros(shape))


@SIMULATED_DAYS
def test_incremental_scores_equal_scoring_every_row_at_every_rescoring(standard_day: dict) -> None:
    events = list(read_events(standard_day["day"] / "events.jsonl.gz"))
    det = Detector()
    full = Scorer(det.model)
    final, rows_scored, rows_seen = det.model.final, [], []

    def counted(X: np.ndarray, *inputs: np.ndarray) -> np.ndarray:
        rows_scored.append(len(X))
        return final(X, *inputs)

    det.model.final = counted  # type: ignore[method-assign]
    for i in range(0, len(events), 4000):
        det.process(events[i : i + 4000])
        s = det.last
        if s is None:
            continue
        rows_seen.append(s.accounts)
        score, behaviour, anomaly, cells = full.score(s.X, groups_of(s.link), s.hoods, s.context, None)
        assert np.array_equal(score, s.score) and np.array_equal(behaviour, s.behaviour)
        assert np.array_equal(anomaly, s.anomaly) and np.array_equal(cells, s.final_cells)
    assert len(rows_seen) >= 10
    # the final stage ran on a minority of the rows (the full re-scorings above add theirs: subtract them)
    assert sum(rows_scored) - sum(rows_seen) < 0.5 * det.rescores * np.mean(rows_seen)
