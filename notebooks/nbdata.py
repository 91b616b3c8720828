"""Data for the investigation notebooks: a simulated day (cached), the one Detector over it, and
verdicts loaded from the review database or ``detect --out`` JSON Lines.

Sizes and sources come from environment variables so the same notebooks run on a small day in
``make test`` and on real exports by hand:

- ``DG_NB_SCALE`` (default 0.1) and ``DG_NB_SEED`` (default 1): the simulated day;
- ``DG_NB_CACHE``: where simulated days are kept (default: a folder in the temp directory);
- ``DG_NB_EVENTS`` / ``DG_NB_LABELS``: an events file (and optional ``labels.json``) instead of a simulated day;
- ``DG_NB_VERDICTS``: a database URL (``sqlite:///demo-out/demo.db``) or a ``detect --out`` file;
  ``DG_NB_CLUSTERS``: the matching ``detect --clusters`` file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import distillguard as dg
from distillguard.detector.evaluate import Label, load_labels
from distillguard.detector.features import FEATURES
from distillguard.detector.records import cluster_from_json, verdict_from_json
from distillguard.detector.simulate import simulate

SCALE = float(os.environ.get("DG_NB_SCALE", "0.1"))
SEED = int(os.environ.get("DG_NB_SEED", "1"))
CACHE = Path(os.environ.get("DG_NB_CACHE") or Path(tempfile.gettempdir()) / "distillguard-notebooks")
HARD_NEGATIVE_KINDS = ("university_student", "enterprise_seat", "app_backend", "benchmark", "reseller_customer")


@dataclass
class Day:
    """One day of traffic, the Detector that consumed it, and its verdicts."""

    events_path: Path
    labels: dict[str, Label]  # empty for real traffic
    manifest: dict
    detector: dg.Detector
    verdicts: list[dg.AccountVerdict]
    clusters: list[dg.ClusterVerdict]

    def features(self) -> tuple[list[str], np.ndarray]:
        """Account ids and the Detector's feature matrix (columns as ``detector.features.FEATURES``)."""
        f = self.detector.features()
        return list(f.account_ids), f.matrix

    def kind(self, account_id: str) -> str:
        """The simulator's population of an account ("?" without labels)."""
        label = self.labels.get(account_id)
        return label.kind if label else "?"


def simulated_day(scale: float = SCALE, seed: int = SEED, scenario: str = "standard") -> Path:
    """The directory of a simulated day, simulating it the first time."""
    out = CACHE / f"s{seed}-x{scale:g}-{scenario}"
    if not (out / "manifest.json").exists():
        simulate(out, seed=seed, scale=scale, scenario=scenario)
    return out


def events(path: str | Path) -> Iterator[dg.Event]:
    """Valid events of a JSON Lines file (plain or gzip), in file order."""
    return dg.read_events(path)


def run_detector(path: str | Path) -> dg.Detector:
    """The packaged Detector over a whole file, flushed."""
    det = dg.Detector()
    det.process(events(path))
    det.flush()
    return det


def load_verdicts(
    source: str, clusters_path: str | None = None
) -> tuple[list[dg.AccountVerdict], list[dg.ClusterVerdict]]:
    """Verdicts and clusters from the review database (a SQLAlchemy URL, read through the review service's
    public :mod:`distillguard.api.detections.export`; needs ``distillguard[api]``) or ``detect`` JSON Lines files."""
    if "://" in source:
        from distillguard.api.detections.export import read_clusters, read_verdicts

        return read_verdicts(source), read_clusters(source)
    verdicts = [verdict_from_json(line) for line in Path(source).read_bytes().splitlines() if line.strip()]
    clusters = (
        [cluster_from_json(line) for line in Path(clusters_path).read_bytes().splitlines() if line.strip()]
        if clusters_path
        else []
    )
    return verdicts, clusters


def load_day(scenario: str = "standard") -> Day:
    """The day the environment points at (or a simulated one), with the Detector's verdicts, or the
    stored ones when ``DG_NB_VERDICTS`` is set (the Detector still runs over the events for features)."""
    if os.environ.get("DG_NB_EVENTS"):
        events_path = Path(os.environ["DG_NB_EVENTS"])
        labels_file = os.environ.get("DG_NB_LABELS")
        manifest_file = events_path.parent / "manifest.json"
    else:
        sim = simulated_day(scenario=scenario)
        events_path, labels_file, manifest_file = (
            sim / "events.jsonl.gz",
            str(sim / "labels.json"),
            sim / "manifest.json",
        )
    labels = load_labels(json.loads(Path(labels_file).read_text())) if labels_file else {}
    manifest = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
    det = run_detector(events_path)
    if os.environ.get("DG_NB_VERDICTS"):
        verdicts, clusters = load_verdicts(os.environ["DG_NB_VERDICTS"], os.environ.get("DG_NB_CLUSTERS"))
    else:
        verdicts, clusters = det.verdicts() + det.archived_verdicts(), det.clusters()
    return Day(events_path, labels, manifest, det, verdicts, clusters)


def standardise(X: np.ndarray) -> np.ndarray:
    """Columns centred on the median and scaled by the interquartile range (robust to the heavy tails)."""
    q1, med, q3 = np.percentile(X, [25, 50, 75], axis=0)
    iqr = np.where(q3 - q1 > 1e-9, q3 - q1, np.maximum(X.std(axis=0), 1e-9))
    return (X - med) / iqr


__all__ = [
    "FEATURES",
    "HARD_NEGATIVE_KINDS",
    "Day",
    "events",
    "load_day",
    "load_verdicts",
    "run_detector",
    "simulated_day",
    "standardise",
]
