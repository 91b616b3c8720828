"""Build training rows from labelled event files and fit :class:`~detector.model.DetectionModel`.

Rows are taken at several points of each day (after 1, 2, 3 ... 24 hours), so the model learns to
judge an account from a few requests as well as from a full day: that is what early flagging needs.
Features come from the same state, linking and context code the :class:`Detector` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distillguard.detector.cohorts import Neighbourhoods, neighbourhoods
from distillguard.detector.context import groups_of, static_context
from distillguard.detector.events import BadLine, Event, read_events
from distillguard.detector.features import account_features
from distillguard.detector.linking import link_accounts
from distillguard.detector.model import DetectionModel, Rows
from distillguard.detector.state import AccountState
from distillguard.detector.units import HOUR

SNAPSHOT_HOURS = (1, 2, 3, 4, 6, 8, 11, 14, 18, 24)


@dataclass
class Dataset:
    """A labelled event file: ``labels`` maps account_id -> True (attack) / False (legit)."""

    events: Path
    labels: Mapping[str, bool]
    name: str


@dataclass
class Snapshot:
    """Features of every account seen by ``hours`` into a dataset."""

    dataset: str
    hours: float
    names: list[str]
    rows: Rows


def snapshots(events: Iterable[Event], hours: Iterable[float] = SNAPSHOT_HOURS, name: str = "") -> list[Snapshot]:
    """Feature snapshots of one event stream at the given hours after its first event (plus the end)."""
    marks = sorted(hours)
    st = AccountState()
    out: list[Snapshot] = []
    start: float | None = None

    def take(h: float) -> None:
        st.fold()
        X = account_features(st)
        link, hoods = link_accounts(st), neighbourhoods(X)
        ctx = static_context(st, link, hoods, X)
        out.append(Snapshot(name, h, list(st.names), Rows(X=X, groups=groups_of(link), hoods=hoods, context=ctx)))

    for ev in events:
        ts = ev.ts.timestamp()
        if start is None:
            start = ts
        while marks and ts >= start + marks[0] * HOUR:
            take(marks.pop(0))
        st.add(ev)
    if start is not None:
        take(marks[0] if marks else (st.watermark - start) / HOUR)
    return out


def stack(parts: list[Neighbourhoods]) -> Neighbourhoods:
    """Neighbourhoods of stacked rows (each part's indices already shifted to its rows)."""
    return Neighbourhoods(np.vstack([p.neighbours for p in parts]), np.concatenate([p.density for p in parts]))


class TrainingDataError(ValueError):
    """The datasets hold no event to build a training row from."""


def rows_for(
    datasets: Iterable[Dataset],
    progress: Callable[[str], None] | None = None,
    on_bad: Callable[[BadLine], None] | None = None,
) -> tuple[Rows, list[Snapshot]]:
    """Stack labelled rows of every snapshot of every dataset (group ids made unique); lines that are not
    events are skipped and passed to ``on_bad``. Raise :class:`TrainingDataError` when there is no event at all."""
    parts: list[Snapshot] = []
    X, G, C, Y, S, H = [], [], [], [], [], []
    offset = rows_so_far = 0
    for d_i, ds in enumerate(datasets):
        if progress:
            progress(ds.name)
        events = read_events(ds.events, on_bad=on_bad)
        for snap in snapshots(events, name=ds.name):
            known = np.array([n in ds.labels for n in snap.names], dtype=bool)
            y = np.array([bool(ds.labels.get(n, False)) for n in snap.names], dtype=np.int64)
            r = snap.rows
            X.append(r.X[known])
            G.append(r.groups[known] + offset)
            offset += int(r.groups.max()) + 1 if len(r.groups) else 0
            H.append(r.hoods.subset(known).shifted(rows_so_far))
            rows_so_far += int(known.sum())
            C.append(r.context[known])
            Y.append(y[known])
            S.append(np.full(int(known.sum()), d_i))
            snap.rows.y = y
            parts.append(snap)
    if not X:
        raise TrainingDataError("no valid events to build training rows from")
    rows = Rows(
        X=np.vstack(X),
        groups=np.concatenate(G),
        hoods=stack(H),
        context=np.vstack(C),
        y=np.concatenate(Y),
        split=np.concatenate(S),
    )
    return rows, parts


def train(
    train_sets: list[Dataset],
    calibration_sets: list[Dataset],
    target_fpr: float = 0.0005,
    progress: Callable[[str], None] | None = None,
    extra: Rows | None = None,
) -> DetectionModel:
    """Fit on ``train_sets`` (plus ``extra`` rows, e.g. analysts' decisions), then set the threshold on
    the final snapshot of each ``calibration_sets`` day to meet ``target_fpr``."""
    rows, _ = rows_for(train_sets, progress)
    if extra is not None and len(extra.X):
        rows = Rows(
            X=np.vstack([rows.X, extra.X]),
            groups=np.concatenate([rows.groups, extra.groups + rows.groups.max() + 1]),
            hoods=stack([rows.hoods, extra.hoods.shifted(len(rows.X))]),
            context=np.vstack([rows.context, extra.context]),
            y=np.concatenate([rows.y, extra.y]),
            split=np.concatenate([rows.split, np.full(len(extra.X), -1)]),
        )
    model = DetectionModel(target_fpr=target_fpr).fit(rows)
    calibrate(model, calibration_sets, progress)
    model.stamp(
        model.training
        | {
            "train": [d.name for d in train_sets],
            "calibration": [d.name for d in calibration_sets],
            "rows": len(rows.X),
            "attack_rows": int(rows.y.sum()),  # type: ignore[union-attr]
            "extra_rows": 0 if extra is None else len(extra.X),
            "target_fpr": target_fpr,
            "snapshot_hours": list(SNAPSHOT_HOURS),
        }
    )
    return model


def calibrate(
    model: DetectionModel, calibration_sets: list[Dataset], progress: Callable[[str], None] | None = None
) -> float:
    """Set the model's threshold from the final snapshot of each held-out day; return it."""
    scores, ys = [], []
    for ds in calibration_sets:
        if progress:
            progress(f"calibrate {ds.name}")
        events = read_events(ds.events)
        final = snapshots(events, hours=(), name=ds.name)[-1]
        known = np.array([n in ds.labels for n in final.names], dtype=bool)
        s, _, _ = model.score_samples(final.rows)
        scores.append(s[known])
        ys.append(np.array([bool(ds.labels[n]) for n in np.array(final.names)[known]], dtype=np.int64))
    return model.calibrate(np.concatenate(scores), np.concatenate(ys)) if scores else model.threshold
