"""Field precision as Prometheus gauges, computed on scrape and kept ``API_METRICS_CACHE_SECONDS`` per viewer.

Every figure is over all flags (no date bounds) the scraping token may see (:mod:`.service`): precision and its
interval, flags, reviewed and confirmed per model version; the unreviewed queue's size and age quantiles, and the
quantiles of the times to the first review action and to the decision, over every model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from cachetools import TTLCache
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from distillguard.api.precision.service import MEDIAN, P90, Durations, GroupBy, Report, report
from distillguard.api.restrictions.hidden import Hidden

PREFIX = "distillguard_review_"
MAX_VIEWS = 64  # cached expositions (one per set of cases hidden from the scraping token)
MAX_QUANTILE = 1.0  # the queue's oldest flag, as the quantile label of the largest age


class _Snapshot(Collector):
    """The gauges of one report (a registry collects them once)."""

    def __init__(self, figures: Report) -> None:
        self.figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        per_model = {
            "flags": ("Accounts flagged now, per model version.", lambda f: f.flags),
            "reviewed": ("Flags with an effective decision, per model version.", lambda f: f.reviewed),
            "confirmed": ("Reviewed flags confirmed as attacks, per model version.", lambda f: f.confirmed),
            "precision": ("Confirmed / reviewed flags, per model version.", lambda f: f.precision),
            "precision_low": ("Lower bound of precision's Wilson 95% interval.", lambda f: f.interval_low),
            "precision_high": ("Upper bound of precision's Wilson 95% interval.", lambda f: f.interval_high),
        }
        for name, (doc, value) in per_model.items():
            family = GaugeMetricFamily(PREFIX + name, doc, labels=["model"])
            for g in self.figures.groups:
                if (v := value(g)) is not None:
                    family.add_metric([g.key], v)
            yield family
        overall = self.figures.overall
        yield GaugeMetricFamily(
            PREFIX + "queue_size", "Flags without an effective decision.", value=overall.queue.count
        )
        age = GaugeMetricFamily(
            PREFIX + "queue_age_seconds", "Age of the unreviewed flags (quantile 1: the oldest).", labels=["quantile"]
        )
        for q, v in ((MEDIAN, overall.queue.median_age_seconds), (MAX_QUANTILE, overall.queue.max_age_seconds)):
            if v is not None:
                age.add_metric([str(q)], v)
        yield age
        yield _durations("first_review_seconds", "Seconds from flag to the first review action.", overall.first_review)
        yield _durations("decision_seconds", "Seconds from flag to the effective decision.", overall.decision)


def _durations(name: str, doc: str, d: Durations) -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + name, doc, labels=["quantile"])
    for q, v in ((MEDIAN, d.median_seconds), (P90, d.p90_seconds)):
        if v is not None:
            family.add_metric([str(q)], v)
    return family


def exposition(figures: Report) -> bytes:
    """The Prometheus text exposition of ``figures`` (grouped by model)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(figures))
    return generate_latest(registry)


class PrecisionMetrics:
    """Expositions per set of hidden cases, each computed at most once per ``ttl`` seconds of ``clock`` (0: on
    every scrape)."""

    def __init__(
        self, sessions: sessionmaker[Session], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.sessions = sessions
        self._cache: TTLCache | None = TTLCache(MAX_VIEWS, ttl, timer=clock) if ttl > 0 else None
        self._lock = threading.Lock()

    def render(self, hidden: Hidden) -> bytes:
        """The exposition over what ``hidden`` leaves shown (from the cache when fresh)."""
        if self._cache is not None:
            with self._lock:
                body = self._cache.get(hidden)
            if body is not None:
                return body
        with self.sessions() as session:
            body = exposition(report(session, hidden, GroupBy.model))
        if self._cache is not None:
            with self._lock:
                self._cache[hidden] = body
        return body
