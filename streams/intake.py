"""Bulk intake: faust's consumer and conductor, without its per-message stream path.

A faust agent over ``take_events`` pays, per message, for an ``Event`` object,
the stream's processor chain, the take buffer's bookkeeping and an awaited ack;
measured here that was most of faust's ~100 µs per record (decision 0012). Its
batch also waits a fixed ``within`` window from the start of each wait, so an
event arriving early in the window waits for the rest of it.

This module keeps everything faust does for the worker (group membership, the
co-partitioning assignor, the table and its changelog recovery, flow control
during rebalances, offset tracking and commits) and replaces only the last
hop: the conductor puts the raw ``Message`` on the channel's queue (no Event),
and :class:`BulkIntake` takes whatever is queued, up to ``max_batch``, as soon
as anything is there. Offsets are acked (``Message.ack``) after the batch's
effects are written and its states saved, so faust commits exactly what was
processed, as it did for the agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import faust

# Event-loop turns without a new record after which a batch is closed. faust's
# own drain loop needs ~3 turns per record (an awaited wait_first); the lean
# one (streams/drain.py) yields once per 100 records.
SETTLE_TURNS = 8


async def _as_message(message: Any, *, propagate: bool = False) -> Any:
    # Replaces Channel.decode: the queue carries faust's Message itself; the
    # worker decodes the Avro payload in bulk.
    return message


class BulkIntake:
    """Raw messages of some topics, in batches, acked by the caller.

    Create it while registering the app (before the worker starts), so the
    conductor subscribes to its topics on the first join, like an agent's.
    """

    def __init__(
        self,
        app: faust.App,
        topic_names: list[str],
        partitions: int,
        max_batch: int,
        linger_s: float = 0.0,
    ) -> None:
        source = app.topic(
            *topic_names,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
        )
        # What Topic.__aiter__ does for an agent: an iterator clone registered
        # with the conductor, whose queue the conductor fills.
        channel: Any = source.clone(is_iterator=True)
        channel.decode = _as_message
        # faust clears channel queues whenever flow resumes, and its recovery
        # resumes twice: records fetched after the seek, in between, were
        # dropped from the queue with their read offsets already advanced, so
        # they waited for the next restart (seen in the restart e2e test). A
        # stream's drainer empties its queue at once; this loop only starts
        # after recovery. Keeping the queue is safe: flow control stops the
        # conductor from queueing during a rebalance, revocation waits until
        # every queued record is processed and acked (Consumer.wait_empty),
        # and a record fetched twice around a seek is a replay the learner
        # guard skips.
        channel._queue = app.FlowControlQueue(
            maxsize=app.conf.stream_buffer_maxsize, clear_on_resume=False
        )
        app.topics.add(channel)
        self.channel = channel
        self.app = app
        self.max_batch = max_batch
        self.linger_s = linger_s

    async def batches(self) -> AsyncIterator[list[Any]]:
        """Yield lists of faust ``Message`` objects; ack them with :meth:`ack`.

        Waits for the first message, then lets the consumer finish handing
        over the fetch it is delivering (it queues one record per few event
        loop turns): the batch is closed once the queue stops growing for
        ``SETTLE_TURNS`` turns, is full, or ``linger_s`` has passed. Light
        load gets small batches at once; a backlog gets full ones.
        """
        queue = self.channel.queue
        loop = asyncio.get_running_loop()
        max_batch = self.max_batch
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.linger_s
            size, still = queue.qsize(), 0
            while size < max_batch - 1 and still < SETTLE_TURNS and loop.time() < deadline:
                await asyncio.sleep(0)
                grown = queue.qsize()
                still = still + 1 if grown == size else 0
                size = grown
            get = queue.get_nowait
            while len(batch) < max_batch and not queue.empty():
                batch.append(get())
            yield batch

    def ack(self, batch: list[Any]) -> None:
        consumer = self.app.consumer
        for message in batch:
            message.ack(consumer)


class FlushThenAck:
    """Acks batches once their changelog records are acknowledged, off the batch path.

    A batch's offsets may be committed only after its states are durable, but
    waiting for that before taking the next batch costs a broker round trip
    per batch (on Tansu, one request per state record: ~30 ms for 500). Here
    the next batch is processed while one flush covers every record produced
    so far; its batches are acked when it returns, in order. A failed flush
    stops the worker (nothing after it is acked).
    """

    def __init__(
        self, ack: Callable[[list[Any]], None], flush: Callable[[], Awaitable[None]]
    ) -> None:
        self.ack = ack
        self.flush = flush
        self.waiting: list[list[Any]] = []
        self.wake = asyncio.Event()

    def add(self, batch: list[Any]) -> None:
        self.waiting.append(batch)
        self.wake.set()

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            batches, self.waiting = self.waiting, []
            await self.flush()
            for batch in batches:
                self.ack(batch)
