"""Where the stream worker writes its verdicts: the :class:`VerdictSink` protocol and the sinks that need
nothing beyond the core (a JSON Lines file, nothing at all).

The worker is given a sink; it never knows what is behind one. The review database's sink lives in the
review service (``distillguard.api.detections.sink``) and is found through the ``distillguard.verdict_sinks``
entry-point group, so this layer never imports the review service.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

from distillguard.detector.records import AccountVerdict, ClusterVerdict, cluster_line, verdict_line

SINK_ENTRY_POINTS = "distillguard.verdict_sinks"
JSONL_PREFIX = "jsonl:"


class SinkError(Exception):
    """A sink could not take a write. ``reason`` says why in words an operator can act on; the worker
    keeps its verdicts and retries with backoff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SinkUnavailableError(Exception):
    """A named sink cannot be opened in this installation (unknown, or its extra is not installed)."""


class VerdictSink(Protocol):
    """A destination of the worker's verdicts. Every ``write`` carries the whole current set of the
    worker's accounts and clusters, so it must be idempotent and a later write repairs a failed one."""

    def prepare(self) -> None:
        """Make the destination ready (create, migrate); called once before the first write."""

    def write(self, verdicts: Sequence[AccountVerdict], clusters: Sequence[ClusterVerdict]) -> None:
        """Store ``verdicts`` and ``clusters``; raise :class:`SinkError` when that fails."""

    def close(self) -> None:
        """Release what the sink holds; called once when the worker stops."""


class NullSink:
    """Discards verdicts (the worker still publishes changes to the detections topic)."""

    def prepare(self) -> None:
        """Nothing to prepare."""

    def write(self, verdicts: Sequence[AccountVerdict], clusters: Sequence[ClusterVerdict]) -> None:
        """Discard."""

    def close(self) -> None:
        """Nothing to release."""


class JsonLinesSink:
    """Keeps the latest verdicts in a ``detect --out`` JSON Lines file (and clusters in a
    ``detect --clusters`` one), each replaced atomically on every write."""

    def __init__(self, verdicts_path: Path, clusters_path: Path | None = None) -> None:
        self.verdicts_path = verdicts_path
        self.clusters_path = clusters_path or verdicts_path.with_name(f"{verdicts_path.stem}.clusters.jsonl")

    def prepare(self) -> None:
        """Create the folder of the files."""
        try:
            self.verdicts_path.parent.mkdir(parents=True, exist_ok=True)
            self.clusters_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create the folder of {self.verdicts_path} ({exc})") from exc

    def write(self, verdicts: Sequence[AccountVerdict], clusters: Sequence[ClusterVerdict]) -> None:
        """Replace both files (a reader sees the old or the new set, never a mix)."""
        try:
            _replace(self.verdicts_path, b"".join(verdict_line(v) + b"\n" for v in verdicts))
            _replace(self.clusters_path, b"".join(cluster_line(c) + b"\n" for c in clusters))
        except OSError as exc:
            raise SinkError(f"cannot write {exc.filename or self.verdicts_path} ({exc.strerror or exc})") from exc

    def close(self) -> None:
        """Nothing to release (every write closes its files)."""


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def open_sink(spec: str) -> VerdictSink:
    """The sink ``spec`` names: ``none``, ``jsonl:PATH``, or a ``distillguard.verdict_sinks`` entry point
    (``review-db``, installed with ``distillguard[api]``), called without arguments."""
    if spec == "none":
        return NullSink()
    if spec.startswith(JSONL_PREFIX):
        return JsonLinesSink(Path(spec.removeprefix(JSONL_PREFIX)))
    found = entry_points(group=SINK_ENTRY_POINTS, name=spec)
    if not found:
        known = ["none", f"{JSONL_PREFIX}PATH", *sorted(ep.name for ep in entry_points(group=SINK_ENTRY_POINTS))]
        raise SinkUnavailableError(f"unknown verdict sink {spec!r}; choose one of: {', '.join(known)}")
    (ep,) = found
    try:
        factory = ep.load()
    except ImportError as exc:
        raise SinkUnavailableError(f"the {spec!r} verdict sink is not installed ({exc.name or exc})") from exc
    return factory()
