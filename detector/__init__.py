"""DistillGuard detection core: parse api-event/v1, derive signals and features, link accounts, score.

Pure Python + numpy/scikit-learn: no Kafka, no database. The batch CLI, the stream worker and the
notebooks all drive the same :class:`detector.detector.Detector`.
"""

__version__ = "0.1.0"
