"""DistillGuard: detect distillation attacks, coordinated accounts harvesting a model API's outputs.

The notebook and library API (``import distillguard as dg``)::

    det = dg.Detector()                      # the shipped model; dg.load_model(path) for another
    det.process(dg.read_events("events.jsonl.gz"))
    det.flush()
    frame = dg.verdicts_frame(det.verdicts())  # a pandas DataFrame, with pandas installed

The packages below are the layers: ``distillguard.detector`` (the pure detection core),
``distillguard.streams`` (the Kafka worker, ``distillguard[stream]``) and ``distillguard.api`` (the
review service, ``distillguard[api]``). In the repository they are the folders ``detector/``,
``streams/`` and ``api/``; this folder links them under one import name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from distillguard.detector import __version__

if TYPE_CHECKING:
    from distillguard.detector.detector import Detector
    from distillguard.detector.events import BadLine, BadLineError, Event, EventError, parse_event, read_events
    from distillguard.detector.frames import clusters_frame, verdicts_frame
    from distillguard.detector.model import DetectionModel, ModelError, load_model
    from distillguard.detector.records import AccountVerdict, Change, ClusterVerdict

# Loaded on first use (PEP 562), so that importing one module of a layer (the stream worker's parser, a fuzzing
# harness) does not import scikit-learn through this package's __init__.
_EXPORTS = {
    "Detector": "distillguard.detector.detector",
    **dict.fromkeys(("BadLine", "BadLineError", "Event", "EventError", "parse_event", "read_events"),
                    "distillguard.detector.events"),
    **dict.fromkeys(("clusters_frame", "verdicts_frame"), "distillguard.detector.frames"),
    **dict.fromkeys(("DetectionModel", "ModelError", "load_model"), "distillguard.detector.model"),
    **dict.fromkeys(("AccountVerdict", "Change", "ClusterVerdict"), "distillguard.detector.records"),
}  # fmt: skip

__all__ = [
    "AccountVerdict", "BadLine", "BadLineError", "Change", "ClusterVerdict", "DetectionModel", "Detector", "Event",
    "EventError", "ModelError", "__version__", "clusters_frame", "load_model", "parse_event", "read_events",
    "verdicts_frame",
]  # fmt: skip


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'distillguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
