"""The scoring model: unsupervised anomaly + supervised behaviour + cluster-aware final classifier.

Stage 1, ``IsolationForest`` over account features: how unusual an account is, with no labels.
Stage 2, a gradient-boosted classifier over account features + anomaly: how harvest-like the
account's own behaviour is. Stage 3, a gradient-boosted classifier over account features, anomaly,
the cluster's static context and its members' stage-2 scores: the final probability in [0, 1].
The flag threshold is calibrated on held-out simulated days to a target false-positive rate, and an isotonic
map, fitted on the same days, turns the final score into a probability of attack (the response ladder reads it). Both
gradient-boosted stages are monotone in the evidence listed in :mod:`detector.directions`: evidence
that only incriminates can never clear an account, whatever the training days held.

The stages are fitted with scikit-learn (:mod:`.fitting`, imported by ``fit`` and ``calibrate`` alone) and kept as
the arrays of their trees (:mod:`.trees`), scored with numpy: a process that only scores never imports scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from distillguard.detector.cohorts import Neighbourhoods
from distillguard.detector.context import BEHAVIOUR, STATIC, behaviour_context
from distillguard.detector.directions import DIRECTIONS
from distillguard.detector.features import FEATURES
from distillguard.detector.trees import BoostedTrees, IsolationTrees

# Version 3 stores the model's fields with its stages as plain arrays (:mod:`.trees`): loading it needs no
# scikit-learn. Version 2 stored scikit-learn's estimators; :func:`load_model` converts one (scikit-learn installed).
FORMAT = "distillguard-model/3"
FORMAT_WITH_ESTIMATORS = "distillguard-model/2"
# field -> the class of its arrays
STAGES: dict[str, type[BoostedTrees] | type[IsolationTrees]] = {
    "iforest_": IsolationTrees,
    "behaviour_": BoostedTrees,
    "final_": BoostedTrees,
}
DEFAULT_PATH = Path(__file__).parent / "models" / "default.joblib"
THRESHOLD_RANGE = (0.05, 0.95)  # a calibrated threshold is clipped into this range
BEHAVIOUR_INPUTS = (*FEATURES, "anomaly")  # stage 2 reads these columns
FINAL_INPUTS = (*BEHAVIOUR_INPUTS, *STATIC, *BEHAVIOUR)  # stage 3 reads these


@dataclass
class Rows:
    """Training or scoring rows: account features, cluster groups, behavioural neighbourhoods and static context."""

    X: np.ndarray  # n x len(FEATURES)
    groups: np.ndarray  # n, group ids unique across snapshots/datasets
    hoods: Neighbourhoods  # neighbours are row indices
    context: np.ndarray  # n x len(STATIC)
    y: np.ndarray | None = None  # 1 attack, 0 legit
    split: np.ndarray | None = None  # ids for grouped cross-validation (e.g. dataset id)

    def subset(self, keep: np.ndarray) -> Rows:
        """The rows selected by boolean mask ``keep`` (neighbours outside it dropped)."""
        return Rows(
            X=self.X[keep],
            groups=self.groups[keep],
            hoods=self.hoods.subset(keep),
            context=self.context[keep],
            y=None if self.y is None else self.y[keep],
            split=None if self.split is None else self.split[keep],
        )


@dataclass
class DetectionModel:
    """Scores accounts in [0, 1]; ``threshold`` is where an account is flagged."""

    target_fpr: float = 0.0005
    # Stage 1, the isolation forest: trees, rows per tree, and the training quantiles of its raw score
    # mapped to anomaly 0 and 1.
    n_estimators: int = 100
    max_samples: int = 2048
    anomaly_quantiles: tuple[float, float] = (0.01, 0.999)
    # Stages 2 and 3, gradient boosting (scikit-learn's HistGradientBoostingClassifier parameters).
    max_iter: int = 300
    learning_rate: float = 0.08
    max_leaf_nodes: int = 31
    l2_regularization: float = 1.0
    min_samples_leaf: int = 40
    n_splits: int = 4  # grouped folds for the out-of-fold stage-2 scores that train stage 3
    random_state: int = 0
    # Learned state (set by ``fit``):
    iforest_: IsolationTrees | None = None
    behaviour_: BoostedTrees | None = None
    final_: BoostedTrees | None = None
    anomaly_ref_: tuple[float, float] = (0.0, 1.0)
    threshold: float = 0.5
    # The isotonic map from final score to probability of attack: its knots (score, probability), fitted by
    # ``calibrate``; empty until then (an uncalibrated model has no probability to give).
    probability_knots_: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    version: str = "untrained"
    training: dict = field(default_factory=dict)

    def anomaly(self, X: np.ndarray) -> np.ndarray:
        """Isolation-forest anomaly in [0, 1] (0.5 = typical of the training population)."""
        assert self.iforest_ is not None, "model is not fitted"
        raw = -self.iforest_.score_samples(X)
        lo, hi = self.anomaly_ref_
        return np.clip((raw - lo) / max(hi - lo, 1e-9), 0.0, 1.0)

    def fit(self, rows: Rows) -> DetectionModel:
        """Fit all three stages on labelled rows (out-of-fold stage-2 scores feed stage 3)."""
        from distillguard.detector.fitting import fit_stages  # scikit-learn: only a process that trains loads it

        fit_stages(self, rows, BEHAVIOUR_INPUTS, FINAL_INPUTS)
        return self

    def behaviour(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stages 1-2, row by row: (anomaly, behaviour score)."""
        assert self.behaviour_ is not None, "model is not fitted"
        if len(X) == 0:
            return np.zeros(0), np.zeros(0)
        anomaly = self.anomaly(X)
        return anomaly, self.behaviour_.probability(np.column_stack([X, anomaly]))

    def final(self, X: np.ndarray, anomaly: np.ndarray, context: np.ndarray, behaviour_ctx: np.ndarray) -> np.ndarray:
        """Stage 3, row by row: the final score from own features, anomaly and cluster context."""
        assert self.final_ is not None, "model is not fitted"
        if len(X) == 0:
            return np.zeros(0)
        return self.final_.probability(self.final_input(X, anomaly, context, behaviour_ctx))

    @staticmethod
    def final_input(X: np.ndarray, anomaly: np.ndarray, context: np.ndarray, behaviour_ctx: np.ndarray) -> np.ndarray:
        """Stage 3's input rows: own features, anomaly, static cluster context, behaviour context."""
        return np.column_stack([X, anomaly, context, behaviour_ctx])

    def score_samples(self, rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(final score, behaviour score, anomaly) per row."""
        anomaly, p2 = self.behaviour(rows.X)
        return self.final(rows.X, anomaly, rows.context, behaviour_context(rows.groups, rows.hoods, p2)), p2, anomaly

    def probability(self, scores: np.ndarray) -> np.ndarray:
        """The calibrated probability of attack of each final score (the isotonic map of ``calibrate``)."""
        xs, ps = self.probability_knots_
        if not xs:
            raise UncalibratedError("the model has no probability map; calibrate it (`distillguard train` does)")
        return np.interp(scores, xs, ps)

    def calibrate(self, scores: np.ndarray, y: np.ndarray) -> float:
        """Set ``threshold`` for held-out FPR <= ``target_fpr`` at the best recall, in the middle of
        the gap between the highest legit score allowed above it and the lowest attack score kept,
        so that unseen traffic has room on both sides, and fit the probability map on the same rows;
        return the threshold."""
        from distillguard.detector.fitting import isotonic_knots  # scikit-learn: only a process that trains loads it

        self.probability_knots_ = isotonic_knots(scores, y)
        legit = np.sort(scores[y == 0])[::-1]
        allowed = int(np.floor(self.target_fpr * len(legit)))
        ceiling = float(legit[allowed]) if allowed < len(legit) else 0.0
        above = scores[(y == 1) & (scores > ceiling)]
        top = float(above.min()) if len(above) else float(np.nextafter(ceiling, 1.0))
        lo, hi = THRESHOLD_RANGE
        self.threshold = float(min(max((ceiling + top) / 2, lo), hi))
        self.training["calibration_gap"] = [round(ceiling, 6), round(top, 6)]
        return self.threshold

    # ---- artifact --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the versioned artifact (joblib) and a JSON card beside it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = {
            "format": FORMAT,
            "features": list(FEATURES),
            "context": list(STATIC),
            "behaviour": list(BEHAVIOUR),
            "directions": {d.name: d.sign for d in DIRECTIONS},
            "sklearn": installed_version("scikit-learn"),  # the version that fitted it
            "model": {f.name: _stored(f.name, getattr(self, f.name)) for f in fields(self)},
        }
        joblib.dump(blob, path, compress=3)
        card = {k: v for k, v in blob.items() if k != "model"} | {
            "version": self.version,
            "threshold": self.threshold,
            "target_fpr": self.target_fpr,
            "probability_map": {
                "scores": list(self.probability_knots_[0]),
                "probabilities": list(self.probability_knots_[1]),
            },
            "training": self.training,
        }
        path.with_suffix(".json").write_text(json.dumps(card, indent=2, default=str) + "\n")
        return path

    def stamp(self, training: dict) -> None:
        """Record what the model was trained on and derive its version string from that."""
        self.training = training
        digest = hashlib.sha256(
            json.dumps(
                [training, FEATURES, STATIC, installed_version("scikit-learn")], sort_keys=True, default=str
            ).encode()
        )
        self.version = f"{datetime.now(UTC):%Y%m%d%H%M}-{digest.hexdigest()[:8]}"


class ModelError(RuntimeError):
    """An artifact that cannot be used (wrong format, features or library version)."""


class UncalibratedError(ModelError):
    """A model asked for probabilities before ``calibrate`` fitted its probability map."""


def load_model(path: str | Path | None = None) -> DetectionModel:
    """Load an artifact (default: the one shipped in the package), checking its feature contract."""
    path = Path(path) if path else DEFAULT_PATH
    if not path.exists():
        raise ModelError(f"model artifact not found: {path} (train one with `distillguard train --out {path}`)")
    try:
        blob = joblib.load(path)
    except Exception as exc:
        raise ModelError(f"cannot load model artifact {path}: {exc}") from exc
    if isinstance(blob, dict) and blob.get("format") == FORMAT_WITH_ESTIMATORS:
        blob = _with_arrays(blob)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelError(
            f"{path} is not a {FORMAT} artifact (format {blob.get('format') if isinstance(blob, dict) else None!r}); "
            "retrain with `distillguard train`"
        )
    if blob["features"] != list(FEATURES) or blob["context"] != list(STATIC) or blob["behaviour"] != list(BEHAVIOUR):
        raise ModelError(f"{path} was trained on a different feature set; retrain with `distillguard train`")
    if not blob["model"].get("probability_knots_", ((), ()))[0]:
        raise ModelError(
            f"{path} has no probability map (trained before calibrated probabilities); retrain with `distillguard train`"
        )
    return DetectionModel(**{name: _loaded(name, value) for name, value in blob["model"].items()})


def _stored(name: str, value: Any) -> Any:
    """A model field as the artifact holds it: a stage as its plain arrays."""
    return value.to_arrays() if name in STAGES and value is not None else value


def _loaded(name: str, value: Any) -> Any:
    """A model field from the artifact: a stage rebuilt from its arrays."""
    return STAGES[name].from_arrays(value) if name in STAGES and value is not None else value


def _with_arrays(blob: dict) -> dict:
    """A version-2 artifact (scikit-learn's estimators, unpickled only if scikit-learn is installed) as version 3."""
    model = dict(blob["model"])
    for name, kind in STAGES.items():
        if model.get(name) is not None:
            model[name] = kind.from_estimator(model[name]).to_arrays()
    return blob | {"format": FORMAT, "model": model}
