"""Settings of the delivery API (env prefix ``LEARNPULSE_DELIVERY_``).

Required fields have no default: the API does not start without them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from learnpulse.topics import Topics

_CONFIG = SettingsConfigDict(
    env_prefix="LEARNPULSE_DELIVERY_", frozen=True, env_nested_delimiter="__", extra="ignore"
)


class TokenSettings(BaseSettings):
    """Just the token secret, for the token-minting command."""

    model_config = _CONFIG

    token_secret: SecretStr = Field(
        description="HMAC-SHA256 secret of learner tokens (at least 16 bytes)"
    )

    @field_validator("token_secret")
    @classmethod
    def _long_enough(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value().encode()) < 16:
            raise ValueError("token_secret must be at least 16 bytes")
        return v


class DeliverySettings(TokenSettings):
    """One delivery API process."""

    model_config = _CONFIG

    redis_url: SecretStr = Field(
        description="redis://lp-frontend:password@host:port/0 (the read-only front-end user)"
    )
    kafka_bootstrap: str = Field(description="host:port[,host:port] of the Kafka brokers")
    topic_prefix: str = Field("lp.", description="prefix of every LearnPulse topic")
    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(8081, description="HTTP port")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="browser origins allowed to call the API (comma-separated; empty = none)",
    )
    heartbeat_s: float = Field(15.0, description="SSE heartbeat interval, seconds")
    produce_timeout_s: float = Field(
        5.0, description="how long a feedback request waits for Kafka's acknowledgement"
    )
    nudges_max: int = Field(50, description="most nudges one request may ask for")
    log_level: str = Field("WARNING", description="log level")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        if isinstance(v, str):
            return [o.strip() for o in v.split(",") if o.strip()]
        return v

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)
