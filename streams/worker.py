"""Assemble a stream worker: faust app, learner table, reference data, sinks, agents."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import faust
import redis.asyncio as aioredis

from streams.app import create_app
from streams.batch import LearnBatch
from streams.clustering import CentroidCache
from streams.engagement import EngagementModels
from streams.listcache import ListCache
from streams.reference import ReferenceData, ReferenceReader
from streams.settings import StreamsSettings
from streams.sink import RecordSink, RedisSink
from streams.store import ChangelogProducer, TableStore
from streams.writebehind import WriteBehind

log = logging.getLogger(__name__)


@dataclass
class Worker:
    settings: StreamsSettings
    app: faust.App
    table: Any
    reference: ReferenceData
    reader: ReferenceReader
    batch: LearnBatch
    redis_sink: RedisSink
    record_sink: RecordSink
    store: TableStore
    # The learn agent and the silence timer both change learner states; they
    # take turns so neither saves over the other's update.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The learn loop's batches still being made durable, in order (decision 0020).
    writes: WriteBehind = field(default_factory=WriteBehind)


def build(s: StreamsSettings) -> Worker:
    from streams.agents import housekeeping, learn, normalize, watch_engagement

    app = create_app(s)
    topics = s.topics
    table = app.Table(
        "learner-state",
        partitions=s.partitions,
        schema=faust.Schema(
            key_type=str, value_type=bytes, key_serializer="json", value_serializer="raw"
        ),
    )
    store = TableStore(
        table,
        ChangelogProducer(
            s.kafka_bootstrap,
            table.changelog_topic.get_topic_name(),
            end_markers=s.broker_profile == "tansu",
        ),
    )
    reference = ReferenceData()
    centroids = CentroidCache()
    reader = ReferenceReader(s.kafka_bootstrap, topics, reference, centroids=centroids)
    client = aioredis.Redis.from_url(
        s.redis_url.get_secret_value(), socket_timeout=5, health_check_interval=30
    )
    w = Worker(
        settings=s,
        app=app,
        table=table,
        reference=reference,
        reader=reader,
        batch=LearnBatch(
            topics,
            store,
            reference,
            k=s.reco_k,
            models=EngagementModels(config=s.nudge_config()),
            centroids=centroids,
            k_min=s.peer_min_count,
            lists=ListCache(s.reco_cache_learners, int(s.reco_max_age_s * 1000)),
            decoded_states=s.decoded_states,
        ),
        redis_sink=RedisSink(client, s.redis_ttl_s, s.nudge_stream_maxlen),
        record_sink=RecordSink(s.kafka_bootstrap, topics.deadletter),
        store=store,
    )
    learn.register(w)
    watch_engagement.register(w)
    normalize.register(w)
    housekeeping.register(w)

    return w
