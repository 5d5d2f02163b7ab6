"""Settings of the stream worker (env prefix ``LEARNPULSE_STREAMS_``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from learnpulse.topics import Topics


class StreamsSettings(BaseSettings):
    """One stream worker process. Required fields have no default: start-up stops without them."""

    model_config = SettingsConfigDict(
        env_prefix="LEARNPULSE_STREAMS_", frozen=True, env_nested_delimiter="__", extra="ignore"
    )

    kafka_bootstrap: str = Field(description="host:port[,host:port] of the Kafka brokers")
    redis_url: SecretStr = Field(description="redis://user:password@host:port/db (worker user)")
    broker_profile: Literal["tansu", "kafka"] = Field(
        "tansu", description="tansu applies the development-broker workarounds (DESIGN.md)"
    )
    topic_prefix: str = Field("lp.", description="prefix of every LearnPulse topic")
    partitions: int = Field(4, description="partitions of learner-keyed topics")
    app_id: str = Field("learnpulse-streams", description="faust app id = consumer group")
    data_dir: str = Field(".lp/streams", description="faust data directory")
    batch_size: int = Field(
        2000,
        description="max events per processing batch (when catching up, more of a "
        "learner's events share one ranking)",
    )
    batch_within_s: float = Field(
        0.02,
        description="at most this long after a batch's first event to let the fetch being "
        "delivered fill it (it closes earlier when no more records arrive)",
    )
    lean_drain: bool = Field(
        True,
        description="hand fetched records to faust's conductor without a task race per "
        "record while flow runs (streams/drain.py, decision 0012)",
    )
    fetch_max_wait_ms: int = Field(
        10,
        description="consumer fetch wait (faust hard-codes 1500 ms; Tansu answers only "
        "when it expires)",
    )
    session_timeout_s: float = Field(10.0, description="consumer group session timeout")
    heartbeat_s: float = Field(1.0, description="consumer group heartbeat interval")
    reco_k: int = Field(10, description="recommendations kept per learner")
    reco_max_age_s: float = Field(
        120.0,
        description="a learner's cached list is patched for progress events until it is "
        "this old; then their next event ranks it again (streams/listcache.py)",
    )
    reco_cache_learners: int = Field(
        50_000, description="learners whose last list is cached in memory (0 = always rank)"
    )
    decoded_states: int = Field(
        2048,
        ge=0,
        description="learners of recent batches whose state is kept decoded (~9 KB each), "
        "so their next batch skips decoding it (0 = always decode)",
    )
    gc_threshold: int = Field(
        10_000,
        description="allocations between young garbage collections (Python's default is "
        "700; 0 keeps the defaults); start-up objects are frozen (decision 0017)",
    )
    redis_ttl_s: int = Field(30 * 86400, description="TTL of per-learner Redis values")
    nudge_stream_maxlen: int = Field(100, description="nudges kept per learner in Redis")
    silence_tick_s: float = Field(1.0, description="how often due silence timers are checked")
    nudge_max_per_day: int = Field(1, description="nudges per learner in any 24 h")
    nudge_max_per_week: int = Field(3, description="nudges per learner in any 7 days")
    nudge_quiet_hours: str = Field("20-8", description="local quiet hours start-end; 0-0 = none")
    nudge_windows: str = Field(
        "morning:8-11,midday:11-14,afternoon:14-17,evening:17-20",
        description="send windows the nudge bandit chooses from, name:start-end local hours",
    )
    nudge_min_silence_days: float = Field(1.0, description="silence before a nudge is considered")
    lag_sample_s: float = Field(15.0, description="how often consumer lag is sampled")
    replication_factor: int = Field(
        3, description="replication of faust's internal topics (kafka profile; tansu uses 1)"
    )
    peer_min_count: int = Field(5, description="k: peer counts are shown only when >= k people")
    interest_clusters: int = Field(8, description="interest clusters of the shared model")
    cluster_warmup: int = Field(
        0, description="updates before the first centroids (0 = 25 per cluster)"
    )
    cluster_publish_every_s: float = Field(5.0, description="how often centroids are published")
    checkpoint_every_s: float = Field(30.0, description="how often shared models are saved")
    faust_metrics: bool = Field(
        True,
        description="export faust's own monitor (rebalances, commits, send latency) "
        "as learnpulse_faust_* series",
    )
    metrics_host: str = Field("127.0.0.1", description="bind address of /metrics")
    metrics_port: int = Field(0, description="port of /metrics (0 = do not serve)")
    log_level: str = Field("INFO", description="log level")

    def nudge_config(self) -> Any:
        from streams.models.nudge_policy import NudgeConfig

        qs, qe = (int(x) for x in self.nudge_quiet_hours.split("-"))
        windows = []
        for part in self.nudge_windows.split(","):
            name, hours = part.split(":")
            a, b = (int(x) for x in hours.split("-"))
            windows.append((name.strip(), a, b))
        return NudgeConfig(
            max_per_day=self.nudge_max_per_day,
            max_per_week=self.nudge_max_per_week,
            quiet_start_hour=qs,
            quiet_end_hour=qe,
            windows=tuple(windows),
            min_silence_days=self.nudge_min_silence_days,
        )

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix, partitions=self.partitions)
