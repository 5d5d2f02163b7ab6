"""Writing a batch's effects: one Redis pipeline, then the audit and dead-letter records.

Failures are not swallowed: each write is retried with backoff, and if it still
fails the error propagates, the worker stops, and the offsets stay uncommitted
so the batch is processed again after a restart (DESIGN.md, Semantics).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
from confluent_kafka import KafkaError, Producer

from learnpulse import keys
from streams.batch import Effects
from streams.metrics import (
    E2E_FROM_APPEND,
    E2E_FROM_EVENT,
    RECOMMENDATIONS_WRITTEN,
    REDIS_ERRORS,
    REDIS_WRITE_SECONDS,
    observe_many,
)

log = logging.getLogger(__name__)


class SinkError(RuntimeError):
    """Effects could not be written after retries; the worker must stop."""


async def retry(what: str, fn: Any, attempts: int = 5, base_delay: float = 0.2) -> Any:
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
            REDIS_ERRORS.inc()
            if attempt == attempts:
                raise SinkError(f"{what} failed {attempts} times: {exc}") from exc
            delay = base_delay * 2 ** (attempt - 1)
            log.warning("%s failed (%s), retry %d in %.1fs", what, exc, attempt, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


class RedisSink:
    def __init__(self, client: aioredis.Redis, ttl_s: int, nudge_maxlen: int) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.nudge_maxlen = nudge_maxlen

    async def write(self, fx: Effects) -> None:
        if not (fx.redis_values or fx.publish or fx.nudges or fx.due):
            return

        async def once() -> None:
            pipe = self.client.pipeline(transaction=False)
            for key, value in fx.redis_values.items():
                pipe.set(key, value, ex=self.ttl_s)
            for learner_id, nudge in fx.nudges:
                pipe.xadd(
                    keys.nudges(learner_id),
                    {"v": str(keys.VALUE_VERSION), "nudge": orjson.dumps(nudge)},
                    maxlen=self.nudge_maxlen,
                    approximate=True,
                )
                pipe.expire(keys.nudges(learner_id), self.ttl_s)
            by_partition: dict[int, dict[str, int]] = {}
            for partition, learner_id, due_ms in fx.due:
                by_partition.setdefault(partition, {})[learner_id] = due_ms
            for partition, mapping in by_partition.items():
                pipe.zadd(keys.due_index(partition), mapping)  # type: ignore[arg-type]
            for channel, message in fx.publish:
                pipe.publish(channel, message)
            # Live counters for the ops page (lp:stats), in the same round trip.
            recos = sum(1 for k in fx.redis_values if k.endswith(":reco"))
            pipe.hincrby(keys.STATS, "events_total", len(fx.appended_ms))
            pipe.hincrby(keys.STATS, "recos_total", recos)
            pipe.hincrby(keys.STATS, "nudges_total", len(fx.nudges))
            pipe.hset(keys.STATS, "updated_at_ms", int(time.time() * 1000))
            await pipe.execute()

        t0 = time.perf_counter()
        await retry("redis write", once)
        now = time.time()
        REDIS_WRITE_SECONDS.observe(time.perf_counter() - t0)
        RECOMMENDATIONS_WRITTEN.inc(sum(1 for k in fx.redis_values if k.endswith(":reco")))
        observe_many(E2E_FROM_APPEND, [max(0.0, now - ms / 1000) for ms in fx.appended_ms])
        observe_many(E2E_FROM_EVENT, [max(0.0, now - ms / 1000) for ms in fx.occurred_ms])


class RecordSink:
    """Audit records and dead letters, produced idempotently and flushed per batch."""

    def __init__(
        self, bootstrap: str, deadletter_topic: str, extra: dict[str, Any] | None = None
    ) -> None:
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "compression.type": "lz4",
        }
        conf.update(extra or {})
        self.producer = Producer(conf)
        self.deadletter_topic = deadletter_topic
        self._errors: list[KafkaError] = []

    def _on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self._errors.append(err)

    async def write(self, fx: Effects) -> None:
        if not fx.records and not fx.dead:
            return
        for topic, key, value in fx.records:
            self._produce(topic, key.encode(), value, None)
        for dl in fx.dead:
            # Where it came from and why; never the record's content (personal data).
            log.warning(
                "dead-lettered a record",
                extra={
                    "topic": dl.msg.topic,
                    "partition": dl.msg.partition,
                    "offset": dl.msg.offset,
                    "reason": dl.reason,
                    "error_class": dl.error_class,
                },
            )
            self._produce(self.deadletter_topic, dl.msg.key, dl.msg.value, list(dl.headers()))
        loop = asyncio.get_running_loop()
        left = await loop.run_in_executor(None, self.producer.flush, 30)
        if left or self._errors:
            errs, self._errors = self._errors, []
            raise SinkError(f"{left} records not acknowledged; errors: {errs[:3]}")

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None,
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                return
            except BufferError:
                self.producer.poll(0.05)

    def close(self) -> None:
        self.producer.flush(10)
