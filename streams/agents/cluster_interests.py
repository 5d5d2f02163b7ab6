"""Agent ``cluster_interests``: the one clustering model of the whole deployment.

Every worker produces per-batch interest updates to a single-partition topic;
the consumer group ``<app_id>-clusterer`` gives that partition to exactly one
worker, whose thread here folds the updates into the River clustering model and
publishes versioned centroids and k-anonymous cluster summaries to a compacted
topic that every worker reads (``streams/reference.py`` feeds the
``CentroidCache``), plus dashboard values in Redis. Design: docs/decisions/0008.

It runs as a thread with its own confluent-kafka consumer, not a faust agent,
because it must replay its topic from the start on every assignment and never
commit: the published snapshot records which offset the model has learned.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer

from streams import clustering
from streams.fatal import stop_worker
from streams.metrics import DEADLETTERED, EVENTS_PROCESSED

if TYPE_CHECKING:
    from streams.worker import Worker

log = logging.getLogger(__name__)


class ClusterAgent(threading.Thread):
    def __init__(self, w: Worker) -> None:
        super().__init__(name="cluster-interests", daemon=True)
        s = w.settings
        self.w = w
        self.topic = s.topics.interest_updates
        self.out_topic = s.topics.interest_clusters
        self.every_s = s.cluster_publish_every_s
        self.n_clusters = s.interest_clusters
        self.warmup = s.cluster_warmup or None
        self.consumer = Consumer(
            {
                "bootstrap.servers": s.kafka_bootstrap,
                "group.id": f"{s.app_id}-clusterer",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": int(s.session_timeout_s * 1000),
                "heartbeat.interval.ms": int(s.heartbeat_s * 1000),
                "fetch.wait.max.ms": 50,
            }
        )
        self.producer = Producer(
            {"bootstrap.servers": s.kafka_bootstrap, "enable.idempotence": True, "acks": "all"}
        )
        self.redis = redis.Redis.from_url(s.redis_url.get_secret_value(), socket_timeout=5)
        self.clusterer: clustering.Clusterer | None = None
        self._stop = threading.Event()

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        # Restore from the last published snapshot, then replay the whole topic:
        # the clusterer skips what the snapshot's model already learned.
        raw = self.w.batch.centroids.raw
        if raw:
            self.clusterer = clustering.Clusterer.restore(raw, k_min=self.w.batch.k_min)
        else:
            self.clusterer = clustering.Clusterer(
                k_min=self.w.batch.k_min, n_clusters=self.n_clusters, warmup=self.warmup
            )
        for p in partitions:
            p.offset = OFFSET_BEGINNING
        consumer.assign(partitions)
        log.info("clusterer owns the interest update stream")

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self.clusterer = None
        consumer.unassign()

    def run(self) -> None:
        try:
            self._loop()
        except Exception:
            stop_worker("clusterer failed")

    def _loop(self) -> None:
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        last_publish = 0.0
        dirty = False
        while not self._stop.is_set():
            msgs = [m for m in self.consumer.consume(500, 0.2) if not m.error()]
            clusterer = self.clusterer
            if clusterer is None:
                continue
            due = time.monotonic() - last_publish >= self.every_s
            if not msgs and not (dirty and due):
                continue
            res = clustering.step(
                clusterer,
                [(m.offset() or 0, m.value()) for m in msgs],
                self.w.reference.catalog,
                publish=due,
            )
            dirty = dirty or bool(msgs)
            if msgs:
                EVENTS_PROCESSED.labels("cluster_interests", "applied").inc(len(msgs))
            for offset, reason in res.dead:
                DEADLETTERED.labels("cluster_interests", "invalid").inc()
                origin = next(m for m in msgs if m.offset() == offset)
                self.producer.produce(
                    self.w.settings.topics.deadletter,
                    value=origin.value(),
                    headers=[
                        ("error.reason", b"invalid"),
                        ("error.message", reason.encode()[:2000]),
                        ("origin.topic", self.topic.encode()),
                        ("origin.partition", b"0"),
                        ("origin.offset", str(offset).encode()),
                    ],
                )
            if due:
                for key, value in res.records:
                    self.producer.produce(self.out_topic, key=key.encode(), value=value)
                if res.redis_values:
                    pipe = self.redis.pipeline(transaction=False)
                    for k, v in res.redis_values.items():
                        pipe.set(k, v)
                    pipe.execute()
                last_publish = time.monotonic()
                dirty = False
            if self.producer.flush(30):
                raise RuntimeError("cluster records not acknowledged")

    def stop(self) -> None:
        self._stop.set()
