"""One Redis pub/sub connection per API process, fanned out to the SSE clients.

Every connected browser of a learner listens on that learner's channel
(``lp:{id}:live``). Rather than one Redis connection per browser, the hub holds
one subscriber connection, subscribes a channel when its first listener comes
and unsubscribes when its last one goes, and copies each message into every
listener's queue.

:meth:`LiveHub.add` returns only after Redis has *confirmed* the subscription,
so a caller that then reads the current value cannot miss an update published
in between (subscribe first, then read: the classic race is closed).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis

from learnpulse import keys
from learnpulse.reader import ContractError, parse_update
from services.delivery.metrics import LIVE_MESSAGES, SSE_CLIENTS

log = logging.getLogger(__name__)

# Items that end a stream (the SSE ``close`` event); the browser then reconnects.
SHUTDOWN = ("close", b'{"reason":"server shutting down"}')
OVERFLOW = ("close", b'{"reason":"too far behind, reconnect"}')


class LiveUnavailable(RuntimeError):
    """Redis did not confirm a subscription in time."""


@dataclass(eq=False)
class Listener:
    """One SSE client: a bounded queue of ``(event name, JSON bytes)``."""

    learner_id: str
    queue: asyncio.Queue[tuple[str, bytes]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=256)
    )
    removed: bool = False


@dataclass(eq=False)
class _Channel:
    listeners: set[Listener] = field(default_factory=set)
    ready: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class LiveHub:
    def __init__(self, client: aioredis.Redis, subscribe_timeout_s: float = 5.0) -> None:
        self.pubsub = client.pubsub()
        self.subscribe_timeout_s = subscribe_timeout_s
        self.channels: dict[str, _Channel] = {}
        # Redis confirms (un)subscribe commands in the order they were sent; this
        # FIFO per channel maps each confirmation to the request that caused it.
        self.pending: dict[str, collections.deque[_Channel | None]] = {}
        self.task: asyncio.Task[None] | None = None

    @property
    def clients(self) -> int:
        return sum(len(c.listeners) for c in self.channels.values())

    async def start(self) -> None:
        await self.pubsub.connect()
        self.task = asyncio.create_task(self._run(), name="live-hub")

    async def close(self) -> None:
        self.close_streams()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.pubsub.aclose()

    def close_streams(self) -> None:
        """Ask every open stream to end (server shutdown)."""
        for ch in self.channels.values():
            for lst in ch.listeners:
                _offer(lst, SHUTDOWN)

    async def add(self, learner_id: str) -> Listener:
        """A listener on the learner's channel, once Redis confirmed the subscription."""
        name = keys.live_channel(learner_id)
        lst = Listener(learner_id)
        ch = self.channels.get(name)
        SSE_CLIENTS.inc()
        if ch is None:
            ch = self.channels[name] = _Channel()
            ch.listeners.add(lst)
            pending = self.pending.setdefault(name, collections.deque())
            pending.append(ch)
            try:
                await self.pubsub.subscribe(name)
            except Exception as exc:
                # Never sent: forget the request, fail everyone waiting on it.
                if pending and pending[-1] is ch:
                    pending.pop()
                if self.channels.get(name) is ch:
                    del self.channels[name]
                ch.ready.set_exception(LiveUnavailable(f"cannot subscribe: {exc}"))
                ch.ready.exception()  # retrieved here; waiters get it from their shield
        else:
            ch.listeners.add(lst)
        try:
            await asyncio.wait_for(asyncio.shield(ch.ready), self.subscribe_timeout_s)
        except (TimeoutError, LiveUnavailable) as exc:
            await self.remove(lst)
            if isinstance(exc, LiveUnavailable):
                raise
            raise LiveUnavailable("Redis did not confirm a live subscription in time") from exc
        return lst

    async def remove(self, lst: Listener) -> None:
        """Forget a listener (idempotent); unsubscribe when it was the channel's last."""
        if lst.removed:
            return
        lst.removed = True
        SSE_CLIENTS.dec()
        name = keys.live_channel(lst.learner_id)
        ch = self.channels.get(name)
        if ch is None or lst not in ch.listeners:
            return
        ch.listeners.discard(lst)
        if not ch.listeners:
            del self.channels[name]
            self.pending.setdefault(name, collections.deque()).append(None)
            try:
                await self.pubsub.unsubscribe(name)
            except Exception as exc:  # the connection is gone: it resubscribes only live ones
                log.warning("unsubscribe failed: %s", type(exc).__name__)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                msg = await self.pubsub.get_message(timeout=1.0)
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone: redis-py reconnects and resubscribes
                log.warning("live channel reader: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if msg is not None:
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, object]) -> None:
        kind = msg["type"]
        name = _text(msg["channel"])
        if kind in ("subscribe", "unsubscribe"):
            pending = self.pending.get(name)
            if pending:
                req = pending.popleft()
                if req is not None and not req.ready.done():
                    req.ready.set_result(None)
                if not pending:
                    del self.pending[name]
            return
        if kind != "message":
            return
        ch = self.channels.get(name)
        if ch is None:
            return
        try:
            update = parse_update(msg["data"], name)  # type: ignore[arg-type]
        except ContractError as exc:
            LIVE_MESSAGES.labels("invalid").inc()
            # The message names the channel, i.e. the learner: never log it.
            log.warning("dropped a live message that breaks the contract (%s)", type(exc).__name__)
            return
        LIVE_MESSAGES.labels(update.type).inc()
        item = (update.type, orjson.dumps(update.value))
        for lst in ch.listeners:
            _offer(lst, item)


def _offer(lst: Listener, item: tuple[str, bytes]) -> None:
    try:
        lst.queue.put_nowait(item)
    except asyncio.QueueFull:
        # A client this far behind gets its stream closed; the browser reconnects
        # and starts again from the current values (never block the other clients).
        while not lst.queue.empty():
            lst.queue.get_nowait()
        lst.queue.put_nowait(OVERFLOW)


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
