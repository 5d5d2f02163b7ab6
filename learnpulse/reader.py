"""Read a learner's LearnPulse values from Redis (docs/redis-contract.md).

For Python front-ends and back-ends that can reach Redis with the read-only
``lp-frontend`` user. Values come back parsed, their version checked: a value
written in a format this module does not know raises :class:`UnknownVersion`
instead of being misread.

>>> parse_value(b'{"v":1,"learner_id":"l-1","items":[]}', "lp:{l-1}:reco")["items"]
[]
>>> parse_value(b'{"v":2}', "lp:{l-1}:reco")
Traceback (most recent call last):
...
learnpulse.reader.UnknownVersion: lp:{l-1}:reco has value version 2; this reader understands 1
>>> parse_update(b'{"type":"reco","value":{"v":1,"items":[]}}', "lp:{l-1}:live").type
'reco'

Synchronous use::

    with LearnPulseReader("redis://lp-frontend:pw@127.0.0.1:6379/0") as r:
        r.recommendations("l-1")             # dict or None
        with r.subscribe("l-1") as updates:  # subscribed (confirmed by Redis) from here on
            for update in updates:           # Update(type="reco"|"nudge", value=dict)
                ...

``AsyncLearnPulseReader`` has the same methods as coroutines, and
``async with r.subscribe("l-1") as updates: async for update in updates: ...``.
Subscribe first, then read the current value: then no update published in
between is missed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from learnpulse import keys

SUPPORTED_VERSIONS = frozenset({keys.VALUE_VERSION})
UPDATE_TYPES = frozenset({"reco", "nudge"})
CONFIRM_TIMEOUT_S = 5.0


class ContractError(ValueError):
    """A value in Redis does not follow the contract (not JSON, wrong shape)."""


class UnknownVersion(ContractError):  # noqa: N818 - reads better at the call site
    """A value carries a format version this reader does not understand."""


@dataclass(frozen=True)
class Update:
    """One live update of a learner: ``type`` is ``reco`` or ``nudge``."""

    type: str
    value: dict[str, Any]


def _check_version(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ContractError(f"{where} is not a JSON object")
    v = value.get("v")
    if v not in SUPPORTED_VERSIONS:
        known = ", ".join(str(x) for x in sorted(SUPPORTED_VERSIONS))
        raise UnknownVersion(f"{where} has value version {v}; this reader understands {known}")
    return value


def _json(raw: bytes | str, where: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"{where} is not JSON: {exc}") from exc


def parse_value(raw: bytes | str, key: str) -> dict[str, Any]:
    """A versioned JSON value (``reco``, ``state``, cluster values)."""
    return _check_version(_json(raw, key), key)


def parse_nudge(entry_id: Any, fields: Any, key: str) -> dict[str, Any]:
    """One entry of a nudges stream: fields ``v`` and ``nudge`` (JSON).

    The stream entry id is added to the nudge as ``stream_id``.
    """
    if not isinstance(fields, dict):
        raise ContractError(f"{key} entry {entry_id!r} has no fields")
    f = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
    where = f"{key} entry {entry_id!r}"
    try:
        v = int(f.get("v", b""))
    except ValueError as exc:
        raise ContractError(f"{where} has no integer field v") from exc
    if v not in SUPPORTED_VERSIONS:
        raise UnknownVersion(
            f"{where} has value version {v}; this reader understands "
            f"{', '.join(str(x) for x in sorted(SUPPORTED_VERSIONS))}"
        )
    if "nudge" not in f:
        raise ContractError(f"{where} has no field nudge")
    nudge = _json(f["nudge"], where)
    if not isinstance(nudge, dict):
        raise ContractError(f"{where}: nudge is not a JSON object")
    nudge["stream_id"] = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return nudge


def parse_nudges(entries: Any, key: str) -> list[dict[str, Any]]:
    """The entries of an ``XRANGE``/``XREVRANGE`` reply, parsed, in the same order."""
    return [parse_nudge(eid, fields, key) for eid, fields in entries or ()]


def parse_update(raw: bytes | str, channel: str) -> Update:
    """A message of a learner's live channel: ``{"type": ..., "value": {...}}``."""
    msg = _json(raw, channel)
    if not isinstance(msg, dict) or msg.get("type") not in UPDATE_TYPES:
        raise ContractError(f"{channel}: message type must be one of {sorted(UPDATE_TYPES)}")
    value = msg.get("value")
    if msg["type"] == "reco":
        value = _check_version(value, f"{channel} reco")
    elif not isinstance(value, dict):
        raise ContractError(f"{channel}: nudge value is not a JSON object")
    return Update(msg["type"], value)


class Subscription:
    """Live updates of one learner, subscribed (and confirmed by Redis) once constructed.

    Iterating yields :class:`Update` values; with ``timeout`` it stops after that
    many seconds without a message, else it runs until :meth:`close`.
    """

    def __init__(self, client: redis.Redis, learner_id: str, timeout: float | None) -> None:
        self.channel = keys.live_channel(learner_id)
        self.timeout = timeout
        self.pubsub = client.pubsub()
        self.pubsub.subscribe(self.channel)
        deadline = time.monotonic() + CONFIRM_TIMEOUT_S
        while True:  # wait for the confirmation: nothing published after it is missed
            msg = self.pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if msg is not None and msg["type"] == "subscribe":
                return
            if time.monotonic() >= deadline:
                self.close()
                raise ContractError(f"Redis did not confirm subscribing {self.channel}")

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Update]:
        wait = self.timeout if self.timeout is not None else 3600.0
        deadline = time.monotonic() + wait
        while True:
            msg = self.pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if msg is not None and msg["type"] == "message":
                yield parse_update(msg["data"], self.channel)
                deadline = time.monotonic() + wait
            elif time.monotonic() >= deadline:
                if self.timeout is not None:
                    return
                deadline = time.monotonic() + wait

    def close(self) -> None:
        self.pubsub.close()


class AsyncSubscription:
    """asyncio twin of :class:`Subscription`: subscribes on ``async with`` (or first use)."""

    def __init__(self, client: aioredis.Redis, learner_id: str, timeout: float | None) -> None:
        self.channel = keys.live_channel(learner_id)
        self.timeout = timeout
        self.pubsub = client.pubsub()
        self.subscribed = False

    async def subscribe(self) -> AsyncSubscription:
        if self.subscribed:
            return self
        await self.pubsub.subscribe(self.channel)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONFIRM_TIMEOUT_S
        while True:
            msg = await self.pubsub.get_message(timeout=max(0.0, deadline - loop.time()))
            if msg is not None and msg["type"] == "subscribe":
                self.subscribed = True
                return self
            if loop.time() >= deadline:
                await self.aclose()
                raise ContractError(f"Redis did not confirm subscribing {self.channel}")

    async def __aenter__(self) -> AsyncSubscription:
        return await self.subscribe()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __aiter__(self) -> AsyncIterator[Update]:
        await self.subscribe()
        loop = asyncio.get_running_loop()
        wait = self.timeout if self.timeout is not None else 3600.0
        deadline = loop.time() + wait
        while True:
            msg = await self.pubsub.get_message(timeout=max(0.0, deadline - loop.time()))
            if msg is not None and msg["type"] == "message":
                yield parse_update(msg["data"], self.channel)
                deadline = loop.time() + wait
            elif loop.time() >= deadline:
                if self.timeout is not None:
                    return
                deadline = loop.time() + wait

    async def aclose(self) -> None:
        await self.pubsub.aclose()


class LearnPulseReader:
    """Synchronous reader. ``redis_url`` should name the read-only front-end user."""

    def __init__(self, redis_url: str, client: redis.Redis | None = None) -> None:
        self.client = client or redis.Redis.from_url(redis_url, socket_timeout=5)

    def __enter__(self) -> LearnPulseReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def _get(self, key: str) -> dict[str, Any] | None:
        raw = self.client.get(key)
        return None if raw is None else parse_value(raw, key)  # type: ignore[arg-type]

    def recommendations(self, learner_id: str) -> dict[str, Any] | None:
        """The current top-K (``items`` with reasons), or None before the first event."""
        return self._get(keys.reco(learner_id))

    def state(self, learner_id: str) -> dict[str, Any] | None:
        """Streak, progress and the like, or None for an unknown learner."""
        return self._get(keys.state(learner_id))

    def nudges(self, learner_id: str, count: int = 20) -> list[dict[str, Any]]:
        """The latest ``count`` nudges, newest first."""
        key = keys.nudges(learner_id)
        return parse_nudges(self.client.xrevrange(key, count=count), key)

    def subscribe(self, learner_id: str, timeout: float | None = None) -> Subscription:
        """Live updates (see :class:`Subscription`); close it, or use ``with``."""
        return Subscription(self.client, learner_id, timeout)


class AsyncLearnPulseReader:
    """asyncio reader with the same methods as :class:`LearnPulseReader`."""

    def __init__(self, redis_url: str, client: aioredis.Redis | None = None) -> None:
        self.client = client or aioredis.Redis.from_url(redis_url, socket_timeout=5)

    async def __aenter__(self) -> AsyncLearnPulseReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.client.aclose()

    async def _get(self, key: str) -> dict[str, Any] | None:
        raw = await self.client.get(key)
        return None if raw is None else parse_value(raw, key)

    async def recommendations(self, learner_id: str) -> dict[str, Any] | None:
        return await self._get(keys.reco(learner_id))

    async def state(self, learner_id: str) -> dict[str, Any] | None:
        return await self._get(keys.state(learner_id))

    async def nudges(self, learner_id: str, count: int = 20) -> list[dict[str, Any]]:
        key = keys.nudges(learner_id)
        return parse_nudges(await self.client.xrevrange(key, count=count), key)

    def subscribe(self, learner_id: str, timeout: float | None = None) -> AsyncSubscription:
        """``async with reader.subscribe(id) as updates: async for update in updates: ...``"""
        return AsyncSubscription(self.client, learner_id, timeout)
