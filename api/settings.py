"""Settings of the review service (database, HTTP, enforcement publishing), read from environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from distillguard.detector.settings import KafkaSettings


class ApiSettings(KafkaSettings):
    """Review-service configuration. Each field reads the upper-case environment variable of its name."""

    database_url: str = Field("sqlite:///distillguard.db", description="SQLAlchemy URL of the review database.")
    api_host: str = Field("127.0.0.1", description="Review API bind address.")
    api_port: int = Field(8000, description="Review API port.")
    api_rate_limit_per_minute: int = Field(
        600,
        ge=1,
        description="Requests a token may make in any 60 s (a sliding window), summed over API processes that share API_RATE_LIMIT_REDIS_URL; 429 above.",
    )
    api_rate_limit_redis_url: str | None = Field(
        None,
        description="Redis URL (redis://127.0.0.1:6379/0) holding the rate-limit windows shared by every API process. Unset: "
        "each process counts on its own. While Redis does not answer, each process limits on its own and logs a warning.",
    )
    api_rate_limit_redis_prefix: str = Field(
        "dg:rl:",
        min_length=1,
        description="Prefix of the rate-limit keys in Redis (deployments sharing one Redis use different ones).",
    )
    api_auth_failures_per_minute: int = Field(
        20,
        ge=1,
        description="Failed authentications (missing, unknown or revoked token; failed console sign-in) a client IP may "
        "make in any 60 s; it then gets 429 until the window frees up, whatever token it sends.",
    )
    policy_path: str | None = Field(
        None,
        description="Response policy file (JSON) the console explains; set it to the stream worker's POLICY_PATH. "
        "Default: the one shipped in the package.",
    )
    api_cookie_secure: bool = Field(
        False,
        description="Mark the console's session cookie Secure (sent over HTTPS only): set it when the console is served over TLS.",
    )
    api_session_hours: float = Field(
        12.0, gt=0, description="Hours a console sign-in lasts (sign-out and revoking its token end it sooner)."
    )
    api_max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body the review API accepts (413 above)."
    )
    api_token_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="Seconds an authenticated token is trusted without a database look-up (0: every "
        "request). A token revoked through the API is refused at once by that process, elsewhere within this.",
    )
    api_queue_cache_seconds: float = Field(
        1.0,
        ge=0,
        description="Seconds between background reads of the detections epoch behind cached queue pages "
        "(0: read it on every request). Writes through the same process show at once, other processes' within about this.",
    )
    api_bulk_max_items: int = Field(
        500,
        ge=1,
        description="Subjects a bulk request (POST /api/v1/bulk/cases, the console's bulk form) may list (422 above); "
        "a body never lists more than 10,000.",
    )
    api_metrics_cache_seconds: float = Field(
        30.0,
        ge=0,
        description="Seconds GET /metrics (field precision and the review queue's age as Prometheus gauges) reuses the "
        "gauges it computed for an earlier scrape by a token that sees the same cases (0: compute on every scrape).",
    )
    api_outbox_interval: float = Field(5.0, gt=0, description="Seconds between re-sends of pending enforcement events.")
    api_webhooks_dispatch: bool = Field(
        True,
        description="Deliver webhooks from this API process (a background loop). Off: deliveries wait in the outbox "
        "for a process that has it on.",
    )
    api_webhook_interval: float = Field(
        1.0, gt=0, description="Seconds the webhook dispatcher waits when no delivery is due before it looks again."
    )
    api_webhook_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a webhook receiver has to answer one delivery (a failed attempt after).",
    )
    api_webhook_max_attempts: int = Field(
        12, ge=1, le=100, description="Attempts at one webhook delivery before it is marked failed."
    )
    api_webhook_backoff_seconds: float = Field(
        1.0,
        gt=0,
        description="Seconds before a webhook delivery's first retry; each next waits twice as long (plus up to 20% "
        "jitter), at most API_WEBHOOK_BACKOFF_MAX_SECONDS.",
    )
    api_webhook_backoff_max_seconds: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts at one webhook delivery."
    )
    api_webhook_disable_after: int = Field(
        5,
        ge=1,
        description="Consecutive failed deliveries (each out of attempts) after which a webhook subscription is "
        "disabled (audited as webhook.disable by 'system').",
    )


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    """The process-wide review-service settings (cached; tests may call ``get_api_settings.cache_clear()``)."""
    return ApiSettings()
