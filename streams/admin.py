"""Topic administration with kafka-python's admin client: the worker creates its topics at start."""

from __future__ import annotations

import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from distillguard.detector.logs import get_logger
from distillguard.streams.settings import StreamSettings

log = get_logger("admin")


def topic_specs(settings: StreamSettings, partitions: int | None = None) -> dict[str, tuple[int, dict[str, str]]]:
    """Topic name -> (partitions, configs) for every topic the stream uses."""
    n = partitions or settings.topic_partitions
    compact = {"cleanup.policy": "compact"}
    return {
        settings.events_topic: (n, {}),
        settings.dlq_topic: (1, {}),
        settings.detections_topic: (1, {}),
        settings.enforcement_topic: (1, {}),
        settings.summaries_topic: (n, compact),
    }


def ensure_topics(bootstrap: str, specs: dict[str, tuple[int, dict[str, str]]], timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet (retrying while the broker is unreachable); return the created ones."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="distillguard-admin"
            )
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("broker unreachable, retrying", bootstrap=bootstrap, error=str(exc))
            time.sleep(1.0)
    created = []
    try:
        existing = set(admin.list_topics())
        for name, (partitions, configs) in specs.items():
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    if created:
        log.info("topics created", topics=created)
    return created
