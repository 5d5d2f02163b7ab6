"""Settings of the ingest gateway (env prefix ``LEARNPULSE_INGEST_``), frozen.

Required fields have no default: the gateway does not start without them.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from learnpulse.topics import Topics

_CONFIG = SettingsConfigDict(
    env_prefix="LEARNPULSE_INGEST_", frozen=True, env_nested_delimiter="__", extra="ignore"
)


class RedisSettings(BaseSettings):
    """Just Redis, for the keys command (which needs no Kafka)."""

    model_config = _CONFIG

    redis_url: SecretStr = Field(
        description="redis://lp-ingest:password@host:port/0 (the ingest user: lp:xapi:*, "
        "lp:ingest:*)"
    )


class IngestSettings(RedisSettings):
    """One ingest gateway process."""

    model_config = _CONFIG

    kafka_bootstrap: str = Field(description="host:port[,host:port] of the Kafka brokers")
    topic_prefix: str = Field(default="lp.", description="prefix of every LearnPulse topic")
    host: str = Field(default="127.0.0.1", description="bind address (loopback by default)")
    port: int = Field(default=8080, description="HTTP port")
    max_batch: int = Field(default=500, ge=1, description="most events/statements in one request")
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="largest request body accepted (else 413)"
    )
    delivery_timeout_s: float = Field(
        default=10.0, gt=0, description="how long a request waits for Kafka's ack before a 503"
    )
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After of a 503 answer, seconds")
    xapi_id_ttl_s: int = Field(
        default=7 * 86400,
        ge=60,
        description="how long a statement id's fingerprint is kept to detect re-sends and "
        "conflicts (memory: ~120 bytes per statement)",
    )
    key_cache_s: float = Field(
        default=5.0,
        ge=0,
        description="how long a credential is cached; a revoked key stops working after "
        "at most this long",
    )
    rate_per_s: float = Field(
        default=2000.0, gt=0, description="default events per second per producer tool"
    )
    burst: int = Field(
        default=4000, ge=1, description="default burst (token bucket size) per producer tool"
    )
    kafka_linger_ms: int = Field(default=5, ge=0, description="producer linger.ms")
    kafka_compression: str = Field(default="lz4", description="producer compression.type")
    log_level: str = Field(default="WARNING", description="log level")

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    @property
    def pending_ttl_s(self) -> int:
        """How long an in-flight statement id is held before another request may retry it."""
        return int(self.delivery_timeout_s) + 30
