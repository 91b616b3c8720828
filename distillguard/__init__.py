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

from distillguard.detector import __version__
from distillguard.detector.detector import Detector
from distillguard.detector.events import BadLine, BadLineError, Event, EventError, parse_event, read_events
from distillguard.detector.frames import clusters_frame, verdicts_frame
from distillguard.detector.model import DetectionModel, ModelError, load_model
from distillguard.detector.records import AccountVerdict, Change, ClusterVerdict

__all__ = [
    "AccountVerdict",
    "BadLine",
    "BadLineError",
    "Change",
    "ClusterVerdict",
    "DetectionModel",
    "Detector",
    "Event",
    "EventError",
    "ModelError",
    "__version__",
    "clusters_frame",
    "load_model",
    "parse_event",
    "read_events",
    "verdicts_frame",
]
