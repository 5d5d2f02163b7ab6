"""Writing a batch's effects: one Redis round trip, then the audit and dead-letter records.

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
from streams.redis_scripts import Call, eval_many

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


# One batch's Redis writes, in Lua (decision 0019). Pipelined one by one, redis-py
# spent ~11 µs of the worker's CPU per command, three commands per learner: 8 ms
# for a batch of 250 learners, against 1.4 ms as one call carrying them all.
#
# KEYS: n value keys, m nudge streams, d due indexes, then the stats hash.
# ARGV: 1 ttl, 2 n, 3 m, 4 d, 5 "1" to update the stats, 6 nudge stream maxlen,
#       7 value version, 8 events, 9 recos, 10 nudges, 11 now (ms); from 12: the
#       n values, the m nudges, per due index its pair count and score/member
#       pairs, and last the channel/message pairs to publish, after every write.
# Returns the server's clock once the writes are visible: latency is measured to
# that moment, not to when the worker got around to reading the reply.
WRITE_BATCH = """
local ttl = ARGV[1]
local n, m, d = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local a = 12
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[a], 'EX', ttl)
  a = a + 1
end
for i = n + 1, n + m do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[6], '*', 'v', ARGV[7], 'nudge', ARGV[a])
  redis.call('EXPIRE', KEYS[i], ttl)
  a = a + 1
end
for i = n + m + 1, n + m + d do
  local pairs_left = tonumber(ARGV[a])
  a = a + 1
  while pairs_left > 0 do
    redis.call('ZADD', KEYS[i], ARGV[a], ARGV[a + 1])
    a = a + 2
    pairs_left = pairs_left - 1
  end
end
if ARGV[5] == '1' then
  local stats = KEYS[n + m + d + 1]
  redis.call('HINCRBY', stats, 'events_total', ARGV[8])
  redis.call('HINCRBY', stats, 'recos_total', ARGV[9])
  redis.call('HINCRBY', stats, 'nudges_total', ARGV[10])
  redis.call('HSET', stats, 'updated_at_ms', ARGV[11])
end
for j = a, #ARGV - 1, 2 do
  redis.call('PUBLISH', ARGV[j], ARGV[j + 1])
end
return redis.call('TIME')
"""
# Values per call. A script holds Redis for its whole run (front-ends' reads
# wait); 512 values took 1.4-3 ms of the server (redis_write_bench: wall - CPU).
CHUNK_VALUES = 512


def write_calls(fx: Effects, ttl_s: int, nudge_maxlen: int, now_ms: int, recos: int) -> list[Call]:
    """The batch's writes as :data:`WRITE_BATCH` calls, to send in order.

    Values are split into calls of :data:`CHUNK_VALUES`; the last call also
    carries the nudges, due times, stats and, after all of them, the messages
    to publish (a subscriber told of a change finds it written).
    """
    items = list(fx.redis_values.items())
    chunks = [items[i : i + CHUNK_VALUES] for i in range(0, len(items), CHUNK_VALUES)] or [[]]
    calls: list[Call] = []
    for chunk in chunks[:-1]:
        head = [ttl_s, len(chunk), 0, 0, 0, nudge_maxlen, keys.VALUE_VERSION, 0, 0, 0, now_ms]
        calls.append((WRITE_BATCH, [k for k, _ in chunk], head + [v for _, v in chunk]))
    last = chunks[-1]
    by_partition: dict[int, dict[str, int]] = {}
    for partition, learner_id, due_ms in fx.due:
        by_partition.setdefault(partition, {})[learner_id] = due_ms  # last one wins
    ks: list[Any] = [k for k, _ in last]
    ks += [keys.nudges(learner_id) for learner_id, _ in fx.nudges]
    ks += [keys.due_index(p) for p in by_partition]
    ks.append(keys.STATS)
    args: list[Any] = [ttl_s, len(last), len(fx.nudges), len(by_partition), 1, nudge_maxlen]
    args += [keys.VALUE_VERSION, len(fx.appended_ms), recos, len(fx.nudges), now_ms]
    args += [v for _, v in last]
    args += [orjson.dumps(nudge) for _, nudge in fx.nudges]
    for mapping in by_partition.values():
        args.append(len(mapping))
        for learner_id, due_ms in mapping.items():
            args += (due_ms, learner_id)
    for channel, message in fx.publish:
        args += (channel, message)
    calls.append((WRITE_BATCH, ks, args))
    return calls


class RedisSink:
    def __init__(self, client: aioredis.Redis, ttl_s: int, nudge_maxlen: int) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.nudge_maxlen = nudge_maxlen

    async def write(self, fx: Effects) -> None:
        if not (fx.redis_values or fx.publish or fx.nudges or fx.due):
            return
        recos = sum(1 for k in fx.redis_values if k.endswith(":reco"))
        calls = write_calls(fx, self.ttl_s, self.nudge_maxlen, int(time.time() * 1000), recos)

        sent = time.time()
        replies = await retry("redis write", lambda: eval_many(self.client, calls))
        seconds, micros = replies[-1]
        now = int(seconds) + int(micros) / 1e6  # when Redis made the values visible
        # Send to visible, by two clocks (like the end-to-end histograms): the
        # reply can wait behind other tasks of the event loop.
        REDIS_WRITE_SECONDS.observe(max(0.0, now - sent))
        RECOMMENDATIONS_WRITTEN.inc(recos)
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
            # Only failures are reported: flush() already waits for every record's
            # acknowledgement, and a report per record costs a Message object and
            # a Python call, served inside flush (fifteenth round: 2% of the worker's
            # CPU per event in a drain, within the noise).
            "delivery.report.only.error": True,
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
