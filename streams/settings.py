"""Settings of the stream worker (Kafka topics, metrics), read from environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from distillguard.detector.settings import KafkaSettings


class EventsTopicSettings(KafkaSettings):
    """The input topic, which the worker reads and the gateway integrations (:mod:`distillguard.streams.gateways`)
    write."""

    events_topic: str = Field("api-events", description="Input topic of api-event/v1 messages.")


class StreamSettings(EventsTopicSettings):
    """Stream configuration. Each field reads the upper-case environment variable of its name."""

    dlq_topic: str = Field("api-events-dlq", description="Dead-letter topic for rejected messages.")
    detections_topic: str = Field("detections", description="Topic of newly flagged/changed accounts and clusters.")
    summaries_topic: str = Field(
        "account-summaries", description="Compacted topic of per-account summaries for linking."
    )
    topic_partitions: int = Field(4, ge=1, description="Partitions for topics the worker creates.")
    metrics_port: int = Field(9108, description="Prometheus metrics port of the worker.")
    policy_path: str | None = Field(
        None, description="Response policy file (JSON); default: the one shipped in the package."
    )
    enforcement_shadow: bool | None = Field(
        None,
        description="Publish would_<action> only (true) or the actions themselves (false); unset: the policy's shadow.",
    )


@lru_cache(maxsize=1)
def get_stream_settings() -> StreamSettings:
    """The process-wide stream settings (cached; tests may call ``get_stream_settings.cache_clear()``)."""
    return StreamSettings()
