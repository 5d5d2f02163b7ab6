"""Settings of the delivery API (env prefix ``LEARNPULSE_DELIVERY_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEARNPULSE_DELIVERY_", frozen=True,
                                      extra="ignore")

    redis_url: SecretStr = Field(description="redis://lp-frontend:password@host:port/0 (read-only)")
    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(8081, description="HTTP port")
