"""Evidence that only incriminates never clears an account, even when the training days suggest it does.

The gradient-boosted stages are monotone in it; the isolation-forest anomaly, which reads every feature and is
free, is held at each account's own value so that the test sees the constrained stages alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.detector.cohorts import empty
from distillguard.detector.context import STATIC, behaviour_context
from distillguard.detector.directions import DIRECTIONS, DOWN, UP
from distillguard.detector.features import FEATURES, IDX
from distillguard.detector.model import FINAL_INPUTS, DetectionModel, Rows

N = 1200


def test_every_direction_names_an_input_of_the_model() -> None:
    assert {d.name for d in DIRECTIONS} <= set(FINAL_INPUTS)
    assert len({d.name for d in DIRECTIONS}) == len(DIRECTIONS)


def _biased_days(seed: int) -> Rows:
    """Accounts whose label follows reasoning requests, except that every account verified through the education
    programme, every new account and every account in a large cluster is legitimate: a training set without hydras
    teaches that looking like a campus is innocent."""
    rng = np.random.default_rng(seed)
    X = rng.random((N, len(FEATURES)))
    context = rng.random((N, len(STATIC)))
    education, new, large = (rng.random(N) < 0.3 for _ in range(3))
    X[:, IDX["path_education"]] = education
    X[:, IDX["log_account_age_days"]] = np.where(new, 0.5, 5.0) + rng.random(N)
    context[:, STATIC.index("c_log_size")] = np.where(large, 5.0, 0.7) + rng.random(N)
    y = ((X[:, IDX["share_reasoning_requested"]] > 0.5) & ~education & ~new & ~large).astype(np.int64)
    return Rows(X=X, groups=np.arange(N), hoods=empty(N), context=context, y=y, split=np.arange(N) % 4)


@pytest.fixture(scope="module")
def fitted() -> tuple[DetectionModel, Rows]:
    rows = _biased_days(7)
    return DetectionModel(max_samples=256, max_iter=60, min_samples_leaf=20).fit(rows), rows


def _score(model: DetectionModel, rows: Rows, anomaly: np.ndarray) -> np.ndarray:
    assert model.behaviour_ is not None
    p2 = model.behaviour_.probability(np.column_stack([rows.X, anomaly]))
    return model.final(rows.X, anomaly, rows.context, behaviour_context(rows.groups, rows.hoods, p2))


@pytest.mark.parametrize(
    ("name", "moved_to"),
    [("path_education", 1.0), ("log_account_age_days", 0.5), ("c_log_size", 6.0)],
)
def test_looking_like_the_legitimate_campus_never_lowers_a_harvesters_score(
    fitted: tuple[DetectionModel, Rows], name: str, moved_to: float
) -> None:
    model, rows = fitted
    harvesters = rows.subset(rows.y == 1)
    anomaly = model.anomaly(harvesters.X)
    before = _score(model, harvesters, anomaly)
    after = Rows(harvesters.X.copy(), harvesters.groups, harvesters.hoods, harvesters.context.copy())
    if name in FEATURES:
        after.X[:, IDX[name]] = moved_to
    else:
        after.context[:, STATIC.index(name)] = moved_to
    assert (_score(model, after, anomaly) >= before - 1e-9).all()


def test_the_constraints_do_not_flatten_the_model(fitted: tuple[DetectionModel, Rows]) -> None:
    """Harvesters still score far above accounts that do not ask for reasoning; what the constraints give up is
    clearing campus-looking accounts that do (they score with the harvesters, as a held-out hydra must)."""
    model, rows = fitted
    score = model.score_samples(rows)[0]
    no_reasoning = rows.X[:, IDX["share_reasoning_requested"]] <= 0.5
    assert score[rows.y == 1].mean() > 0.5 > 0.05 > score[no_reasoning].mean()


def test_directions_are_signs() -> None:
    assert {d.sign for d in DIRECTIONS} == {UP, DOWN}
