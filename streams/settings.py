"""Settings of the stream worker (Kafka topics, metrics), read from environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings

from distillguard.detector.settings import ENV_CONFIG


class StreamSettings(BaseSettings):
    """Stream configuration. Each field reads the upper-case environment variable of its name."""

    model_config = ENV_CONFIG

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    events_topic: str = Field("api-events", description="Input topic of api-event/v1 messages.")
    dlq_topic: str = Field("api-events-dlq", description="Dead-letter topic for rejected messages.")
    detections_topic: str = Field("detections", description="Topic of newly flagged/changed accounts and clusters.")
    enforcement_topic: str = Field("enforcement-actions", description="Topic of enforcement actions from reviews.")
    summaries_topic: str = Field(
        "account-summaries", description="Compacted topic of per-account summaries for linking."
    )
    topic_partitions: int = Field(4, ge=1, description="Partitions for topics the worker creates.")
    metrics_port: int = Field(9108, description="Prometheus metrics port of the worker.")


@lru_cache(maxsize=1)
def get_stream_settings() -> StreamSettings:
    """The process-wide stream settings (cached; tests may call ``get_stream_settings.cache_clear()``)."""
    return StreamSettings()
