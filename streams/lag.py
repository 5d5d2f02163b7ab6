"""Consumer lag of the stream workers' group, per topic and partition.

Lag is what the group has not consumed yet: the partition's end offset (high
watermark) minus the group's committed offset. faust commits only after a
batch's effects are written (DESIGN.md, Semantics), so committed lag is an
upper bound of the work left, never an underestimate.

Every worker samples the *whole* group (one OffsetFetch and two batched
ListOffsets requests per sample, cheap), so the numbers survive any one worker
dying and never go stale after a rebalance. Dashboards and alerts therefore
aggregate with ``max by (topic, partition)``, never ``sum`` across instances.

On Tansu the end offset is approximate: its ListOffsets answers the last
batch's base offset + 1 (DESIGN.md), so lag is under-reported while producers
batch. On Apache Kafka it is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from streams.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)

Lag = dict[tuple[str, int], int]


def partition_lag(committed: int, low: int, high: int) -> int:
    """Records the group still has to read from one partition.

    ``committed`` < 0 means the group never committed there (librdkafka's
    OFFSET_INVALID is -1001): with ``auto.offset.reset=earliest`` it will read
    everything still retained. A commit below the low watermark (retention
    deleted what it had not read) counts the same way.

    >>> partition_lag(committed=40, low=0, high=100)
    60
    >>> partition_lag(committed=-1001, low=10, high=100)
    90
    >>> partition_lag(committed=5, low=10, high=100)
    90
    >>> partition_lag(committed=100, low=0, high=100)
    0
    """
    if committed < 0 or committed < low:
        return max(0, high - low)
    return max(0, high - committed)


class LagSampler:
    """Sample the lag of ``group_id`` on ``topics`` and publish it as ``CONSUMER_LAG``.

    Parameters
    ----------
    bootstrap
        Kafka bootstrap servers.
    group_id
        The consumer group to measure: the faust app id of the workers.
    topics
        Topics the group consumes (e.g. ``[topics.activity, topics.profiles]``).
    timeout
        Seconds allowed for each admin request.
    extra_config
        More librdkafka settings (security, client id).

    ``sample()`` is a coroutine for faust timers (the blocking admin calls run in
    the default executor); ``sample_blocking()`` is the same for plain threads.
    """

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        topics: Iterable[str],
        timeout: float = 5.0,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": f"{group_id}-lag-sampler",
        }
        conf.update(extra_config or {})
        self.admin = AdminClient(conf)
        self.group_id = group_id
        self.topics = list(topics)
        self.timeout = timeout
        self._published: set[tuple[str, str]] = set()

    async def sample(self) -> Lag | None:
        """Sample once without blocking the event loop; None when the broker did not answer."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.sample_blocking)

    def sample_blocking(self) -> Lag | None:
        """Sample once and update the gauge; None (and the gauge cleared) on failure."""
        try:
            lag = self.measure()
        except KafkaException as exc:
            # A stale lag would be a lie on the dashboard; show a gap instead.
            log.warning("consumer lag sample failed: %s", exc, extra={"group": self.group_id})
            self._publish({})
            return None
        self._publish(lag)
        return lag

    def measure(self) -> Lag:
        """Lag per (topic, partition), without touching the gauge. Raises KafkaException."""
        parts = self._partitions()
        if not parts:
            return {}
        committed = self._committed(parts)
        low = self._offsets(parts, OffsetSpec.earliest())
        high = self._offsets(parts, OffsetSpec.latest())
        return {
            key: partition_lag(committed.get(key, -1001), low[key], high[key])
            for key in high
            if key in low
        }

    def _partitions(self) -> list[TopicPartition]:
        md = self.admin.list_topics(timeout=self.timeout)
        out = []
        for topic in self.topics:
            t = md.topics.get(topic)
            if t is None or t.error is not None:
                continue  # not created yet: nothing to be behind on
            out += [TopicPartition(topic, p) for p in sorted(t.partitions)]
        return out

    def _committed(self, parts: list[TopicPartition]) -> dict[tuple[str, int], int]:
        req = [ConsumerGroupTopicPartitions(self.group_id, parts)]
        futures = self.admin.list_consumer_group_offsets(req, request_timeout=self.timeout)
        result = futures[self.group_id].result(self.timeout)
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions or ()
            if tp.error is None
        }

    def _offsets(self, parts: list[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        futures = self.admin.list_offsets({tp: spec for tp in parts}, request_timeout=self.timeout)
        return {
            (tp.topic, tp.partition): fut.result(self.timeout).offset for tp, fut in futures.items()
        }

    def _publish(self, lag: Lag) -> None:
        now = {(topic, str(p)) for topic, p in lag}
        for labels in self._published - now:
            # Partitions that went away (topic deleted, sample failed) stop being reported.
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(*labels)
        for (topic, p), n in lag.items():
            CONSUMER_LAG.labels(topic, str(p)).set(n)
        self._published = now
