"""Settings of the detection core, read from environment variables.

The optional layers read their own: :mod:`distillguard.streams.settings` (Kafka, the worker) and
:mod:`distillguard.api.settings` (the review database and API). The environment variable names are the
upper-case field names, shared by every process.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from distillguard.detector.retention import MIN_RETENTION_HOURS, RETENTION_HOURS, check_retention
from distillguard.detector.state import DEDUP_HORIZON_HOURS

# protected_namespaces: the field model_path is ours, not a pydantic "model_" method (pydantic < 2.10 warned).
ENV_CONFIG = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", protected_namespaces=())


class Settings(BaseSettings):
    """Core configuration. Each field reads the upper-case environment variable of its name."""

    model_config = ENV_CONFIG

    model_path: str | None = Field(None, description="Model artifact; default: the one shipped in the package.")
    window_minutes: float = Field(15.0, gt=0, description="Re-score every this many minutes of event time.")
    retention_hours: float = Field(
        RETENTION_HOURS,
        ge=0,
        description="Accounts idle this many hours of event time leave memory for the archive, and come back as they "
        f"left when they send again (0: every account stays; else at least {MIN_RETENTION_HOURS:g}).",
    )

    @field_validator("retention_hours")
    @classmethod
    def _retention_comes_back_exactly(cls, hours: float) -> float:
        check_retention(hours or None, DEDUP_HORIZON_HOURS)
        return hours

    log_level: str = Field("INFO", description="Log level.")
    log_json: bool = Field(False, description="Log JSON lines instead of console format.")


class KafkaSettings(BaseSettings):
    """The Kafka connection that the stream worker and the review service's enforcement publisher share (the
    core never connects to Kafka; both layers' settings extend this, so each variable is declared once)."""

    model_config = ENV_CONFIG

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    enforcement_topic: str = Field(
        "enforcement-actions",
        description="Topic of enforcement actions: confirmed reviews, and the worker's automated ladder moves.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide core settings (cached; tests may call ``get_settings.cache_clear()``)."""
    return Settings()
