"""xAPI statement identity across gateway processes: re-sends and conflicts.

For every accepted statement Redis holds ``lp:xapi:{<id>}`` -> fingerprint
(SHA-256 of the statement as sent, minus LRS-assigned fields), with a TTL.
A request first *claims* its ids with ``SET NX`` and a ``p:`` (pending) mark,
publishes, then *confirms* (the plain fingerprint, long TTL) or *releases*
(delete) them. So:

- an identical re-send of a confirmed id is accepted with no effect;
- a different statement under a confirmed or pending id is a conflict (409);
- an identical re-send while the first is still in flight gets 503 + Retry-After
  (never "accepted" for something that might not reach Kafka);
- a gateway that dies between Kafka's ack and the confirm leaves a pending mark
  that expires, and the client's retry publishes again: a duplicate on Kafka
  with the same ``event_id``, which consumers drop (at-least-once).

Redis 6.2 has no ``SET NX GET``: a claim is one pipelined round trip of a
``SET NX`` per statement and one ``MGET`` of all the keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.exceptions import TimeoutError as RedisTimeoutError

from services.ingest.xapi import Statement

PENDING = "p:"
T = TypeVar("T")


def statement_key(statement_id: str) -> str:
    """``lp:xapi:{<id>}``: the id is a hash tag, so Redis Cluster can shard these."""
    return f"lp:xapi:{{{statement_id}}}"


@dataclass
class Claim:
    """What a batch's claim found, by statement index."""

    new: list[int] = field(default_factory=list)  # claimed by this request: publish these
    duplicates: list[int] = field(default_factory=list)  # identical, already stored
    conflicts: list[int] = field(default_factory=list)  # same id, different statement
    in_flight: list[int] = field(default_factory=list)  # identical, another request storing it


class StatementIds:
    def __init__(self, redis: Any, ttl_s: int, pending_ttl_s: int, timeout_s: float = 5.0) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.pending_ttl_s = pending_ttl_s
        self.timeout_s = timeout_s

    async def claim(self, stmts: list[Statement]) -> Claim:
        keys = [statement_key(s.id) for s in stmts]
        pipe = self.redis.pipeline(transaction=False)
        for key, s in zip(keys, stmts, strict=True):
            pipe.execute_command(
                "SET", key, PENDING + s.fingerprint, "NX", "EX", self.pending_ttl_s
            )
        pipe.execute_command("MGET", *keys)
        replies = await self._run(pipe.execute())
        stored_values = replies[-1]
        out = Claim()
        for i, s in enumerate(stmts):
            if replies[i]:
                out.new.append(i)
                continue
            stored = stored_values[i]
            value = stored.decode() if isinstance(stored, bytes) else stored
            if value == s.fingerprint:
                out.duplicates.append(i)
            elif value is None or value == PENDING + s.fingerprint:
                # In flight elsewhere, or expired between our SET and MGET: retry later.
                out.in_flight.append(i)
            else:
                out.conflicts.append(i)
        return out

    async def confirm(self, stmts: list[Statement]) -> None:
        if not stmts:
            return
        pipe = self.redis.pipeline(transaction=False)
        for s in stmts:
            pipe.execute_command("SET", statement_key(s.id), s.fingerprint, "EX", self.ttl_s)
        await self._run(pipe.execute())

    async def release(self, stmts: list[Statement]) -> None:
        if stmts:
            await self._run(self.redis.delete(*(statement_key(s.id) for s in stmts)))

    async def _run(self, op: Awaitable[T]) -> T:
        # One deadline per round trip, not per reply: redis-py's per-read socket timeout
        # costs an asyncio timeout context for every reply of a pipeline.
        try:
            return await asyncio.wait_for(op, self.timeout_s)
        except TimeoutError as exc:
            raise RedisTimeoutError(f"Redis did not answer within {self.timeout_s}s") from exc
