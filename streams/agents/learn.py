"""Agent ``learn``: per-learner processing of activity and profile events, in batches."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from streams.batch import Effects, LearnBatch, Msg
from streams.fatal import stop_worker
from streams.intake import BulkIntake, FlushThenAck
from streams.metrics import (
    BATCH_SECONDS,
    BATCH_SIZE,
    LEARNERS_IN_STATE,
    MODEL_AUC,
    MODEL_LOGLOSS,
)

if TYPE_CHECKING:
    from streams.worker import Worker

log = logging.getLogger(__name__)
QUALITY_EVERY_S = 5.0  # the rolling AUC sorts its window: not on every batch
# Records per slice of a batch's processing, between which the event loop runs.
# faust's consumer thread fetches a partition again only once its last fetch was
# handed over, and that hand-over runs on this loop: without these turns, records
# appended while a batch is processed were fetched only after it, and waited a
# whole extra batch (decision 0019).
SLICE = 100


def to_msg(m: Any) -> Msg:
    """A faust ``Message`` as the processing's plain record."""
    return Msg(
        m.topic,
        m.partition,
        m.offset,
        m.key,
        m.value,
        int(m.timestamp * 1000),
        tuple(m.headers or ()),
    )


def register(w: Worker) -> None:
    s = w.settings
    app = w.app
    intake = BulkIntake(
        app,
        [s.topics.activity, s.topics.profiles],
        s.partitions,
        s.batch_size,
        linger_s=s.batch_within_s,
    )
    last_quality = [0.0]
    acker = FlushThenAck(intake.ack, w.store.flush)

    @app.task
    async def ack_durable() -> None:
        try:
            await acker.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            stop_worker("learner states could not be made durable")

    @app.task
    async def learn() -> None:
        # Not an agent: see streams/intake.py (faust's per-message stream path
        # was most of its cost). A bug here must not leave a live process that
        # consumes nothing, so any error stops the worker for its supervisor.
        try:
            async for batch in intake.batches():
                t0 = time.perf_counter()
                await w.lock.acquire()
                try:
                    await process(w, [to_msg(m) for m in batch])
                finally:
                    w.lock.release()
                # Its offsets are acked (and so committed) once its states are
                # durable, while the next batch is processed.
                acker.add(batch)
                BATCH_SIZE.labels("learn").observe(len(batch))
                BATCH_SECONDS.labels("learn").observe(time.perf_counter() - t0)
                LEARNERS_IN_STATE.set(len(w.table.data))
                if time.monotonic() - last_quality[0] > QUALITY_EVERY_S:
                    last_quality[0] = time.monotonic()
                    roc, logloss = w.batch.skills.quality()
                    if roc is not None:
                        MODEL_AUC.labels("skill").set(roc)
                    if logloss is not None:
                        MODEL_LOGLOSS.labels("skill").set(logloss)
        except asyncio.CancelledError:
            raise
        except Exception:
            stop_worker("the learn loop failed")


async def process(w: Worker, msgs: list[Msg]) -> None:
    """One batch: compute, write effects, then save states (docs/decisions/0002)."""
    fx = await handle_in_slices(w.batch, msgs, SLICE)
    try:
        # Both must succeed before the states are saved; waiting on them together
        # costs the slower round trip, not the sum.
        await asyncio.gather(w.redis_sink.write(fx), w.record_sink.write(fx))
    except Exception:
        # This batch is neither saved nor committed: it is processed again.
        stop_worker("effects of a batch could not be written")
    w.batch.save_states(fx)


async def handle_in_slices(batch: LearnBatch, msgs: list[Msg], size: int) -> Effects:
    """``batch.handle(msgs)`` in slices of whole learners, yielding to the loop between.

    A learner's records stay together and in order (they share one partition,
    so one key), so each learner is still loaded, ranked and saved once per
    batch. A batch with unkeyed records is handled in one piece: their learner
    is only known after decoding.
    """
    if len(msgs) <= size or any(m.key is None for m in msgs):
        return batch.handle(msgs)
    by_learner: dict[bytes | None, list[Msg]] = {}
    for m in msgs:
        by_learner.setdefault(m.key, []).append(m)
    fx: Effects | None = None
    part: list[Msg] = []
    for records in by_learner.values():
        part.extend(records)
        if len(part) >= size:
            fx = merge(fx, batch.handle(part))
            part = []
            await asyncio.sleep(0)
    if part:
        fx = merge(fx, batch.handle(part))
    assert fx is not None
    return fx


def merge(into: Effects | None, more: Effects) -> Effects:
    """The effects of two slices of one batch (disjoint learners) as one."""
    if into is None:
        return more
    into.redis_values.update(more.redis_values)
    into.publish.extend(more.publish)
    into.nudges.extend(more.nudges)
    into.due.extend(more.due)
    into.records.extend(more.records)
    into.dead.extend(more.dead)
    into.states.update(more.states)
    into.appended_ms.extend(more.appended_ms)
    into.occurred_ms.extend(more.occurred_ms)
    into.changed += more.changed
    return into
