"""Silence timers that scale: a due-time index in Redis, one sorted set per partition.

A learner who stops sends no events, so "if nothing by T, this learner is drifting"
must fire on its own. Each learner's due time (``rhythm.due_ms``) is a member of
the sorted set ``keys.due_index(partition)`` of their Kafka partition, scored by
due time in epoch ms. The worker that owns a partition is the only one claiming
from its set, and a claim is atomic, so a learner fires once per silence even if a
rebalance briefly gives two workers the same partition.

Cost: a claim is ``ZRANGEBYSCORE -inf now LIMIT 0 n`` + ``ZREM`` inside one Lua
script per partition: O(log N + due) — it grows with the learners that are due,
never with all learners. State lives only in Redis, so it survives worker
restarts and rebalances (the new owner claims from the same key) and Redis
reconnects (the script is reloaded if the server lost it).

Time is a parameter (``now_ms``): wall clock in production, event time in replays
and evaluations. Nothing here reads the clock.

Public API (``SilenceIndex(redis)``, a ``redis.asyncio.Redis`` client):

``await schedule([(partition, learner_id, due_ms), ...])``
    Set (or move) due times; one pipelined round trip for the whole batch.
``await cancel([(partition, learner_id), ...])``
    Forget learners (they came back and were rescheduled, or left).
``await claim_due(partitions, now_ms, limit) -> [(partition, learner_id, due_ms)]``
    Atomically take up to ``limit`` learners per partition due at or before
    ``now_ms``, oldest first. With ``lease_ms`` the learners stay in the index
    with score ``now_ms + lease_ms`` until ``ack``: a worker that dies before
    acting on them lets them fire again after the lease (at-least-once, with
    idempotent nudge ids downstream) instead of losing them.
``await ack([(partition, learner_id), ...], lease_until_ms)``
    Remove claimed learners, unless they were rescheduled since (score moved).
``await next_due_ms(partitions)``, ``await size(partition)``
    When the next learner is due (to sleep until then), how many are indexed.

Example (in a faust timer of the partition owner)::

    index = SilenceIndex(redis)
    for partition, learner_id, due in await index.claim_due(assigned, now_ms, 500):
        ...  # rhythm.risk / nudge_policy.decide, then schedule a retry if deferred
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from redis.asyncio import Redis

from learnpulse import keys
from streams.redis_scripts import eval_many

# KEYS[1] = one partition's index; ARGV = now_ms, limit, lease_until_ms ("" = remove)
_CLAIM = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES',
                         'LIMIT', 0, tonumber(ARGV[2]))
local n = #items
if n == 0 then return items end
local batch = {}
for i = 1, n, 2 do
  if ARGV[3] == '' then
    batch[#batch + 1] = items[i]
  else
    batch[#batch + 1] = ARGV[3]
    batch[#batch + 1] = items[i]
  end
  if #batch >= 1000 then
    if ARGV[3] == '' then redis.call('ZREM', KEYS[1], unpack(batch))
    else redis.call('ZADD', KEYS[1], 'XX', unpack(batch)) end
    batch = {}
  end
end
if #batch > 0 then
  if ARGV[3] == '' then redis.call('ZREM', KEYS[1], unpack(batch))
  else redis.call('ZADD', KEYS[1], 'XX', unpack(batch)) end
end
return items
"""

# KEYS[1] = one partition's index; ARGV[1] = lease score, ARGV[2..] = members
_ACK = """
local removed = 0
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) == tonumber(ARGV[1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
"""

MAX_CLAIM = 10_000  # per partition per call: bounds the Lua time slice (Redis is single-threaded)


class SilenceIndex:
    """Due-time index of silent learners, one Redis sorted set per Kafka partition."""

    def __init__(self, redis: Redis, key: Callable[[int], str] = keys.due_index) -> None:
        self.redis = redis
        self.key = key

    async def schedule(self, items: Iterable[tuple[int, str, int]]) -> int:
        """Set due times; returns how many learners were new to the index."""
        by_part: dict[int, dict[str, int]] = defaultdict(dict)
        for partition, learner_id, due in items:
            by_part[partition][learner_id] = int(due)  # last one wins within a batch
        if not by_part:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for partition, mapping in by_part.items():
            pipe.zadd(self.key(partition), mapping)
        return sum(int(n) for n in await pipe.execute())

    async def cancel(self, items: Iterable[tuple[int, str]]) -> int:
        """Remove learners from the index; returns how many were there."""
        by_part: dict[int, list[str]] = defaultdict(list)
        for partition, learner_id in items:
            by_part[partition].append(learner_id)
        if not by_part:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for partition, members in by_part.items():
            pipe.zrem(self.key(partition), *members)
        return sum(int(n) for n in await pipe.execute())

    async def claim_due(
        self,
        partitions: Iterable[int],
        now_ms: int,
        limit: int = 1000,
        *,
        lease_ms: int | None = None,
    ) -> list[tuple[int, str, int]]:
        """Atomically take learners due at or before ``now_ms`` (oldest first), up to
        ``limit`` per partition. Without ``lease_ms`` they leave the index."""
        if not 0 < limit <= MAX_CLAIM:
            raise ValueError(f"limit must be in 1..{MAX_CLAIM}")
        parts = list(partitions)
        if not parts:
            return []
        lease = "" if lease_ms is None else str(int(now_ms) + int(lease_ms))
        calls = [(_CLAIM, [self.key(p)], [int(now_ms), int(limit), lease]) for p in parts]
        replies = await self._eval_many(calls)
        out: list[tuple[int, str, int]] = []
        for partition, flat in zip(parts, replies, strict=True):
            for i in range(0, len(flat), 2):
                member = flat[i].decode() if isinstance(flat[i], bytes) else str(flat[i])
                out.append((partition, member, int(float(flat[i + 1]))))
        return out

    async def ack(self, items: Iterable[tuple[int, str]], lease_until_ms: int) -> int:
        """Remove leased learners whose score is still ``lease_until_ms``."""
        by_part: dict[int, list[str]] = defaultdict(list)
        for partition, learner_id in items:
            by_part[partition].append(learner_id)
        calls = [(_ACK, [self.key(p)], [int(lease_until_ms), *m]) for p, m in by_part.items()]
        return sum(int(n) for n in await self._eval_many(calls)) if calls else 0

    async def next_due_ms(self, partitions: Iterable[int]) -> int | None:
        """Earliest due time over ``partitions`` (None when all are empty)."""
        pipe = self.redis.pipeline(transaction=False)
        for p in partitions:
            pipe.zrange(self.key(p), 0, 0, withscores=True)
        firsts = [r[0][1] for r in await pipe.execute() if r]
        return int(min(firsts)) if firsts else None

    async def size(self, partition: int) -> int:
        return int(await self.redis.zcard(self.key(partition)))

    async def _eval_many(self, calls: Sequence[tuple[str, list[str], list[Any]]]) -> list[Any]:
        return await eval_many(self.redis, calls)
