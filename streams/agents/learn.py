"""Agent ``learn``: per-learner processing of activity and profile events, in batches."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from streams.batch import Effects, Msg
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
                async with w.lock:
                    fx = compute(w, [to_msg(m) for m in batch])
                    await write_redis(w, fx)
                    # Made durable while the next batch is computed; its offsets
                    # are acked (and so committed) once its states are logged.
                    await w.writes.start(make_durable(w, fx, batch, acker))
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


def compute(w: Worker, msgs: list[Msg]) -> Effects:
    """One batch's effects; its learner states become current in memory only."""
    fx = w.batch.handle(msgs)
    w.store.keep(fx.states)
    return fx


async def write_redis(w: Worker, fx: Effects) -> None:
    """What learners and front-ends see, before the next batch is computed."""
    try:
        await w.redis_sink.write(fx)
    except Exception:
        # Neither logged nor committed: the batch is processed again after a restart.
        stop_worker("effects of a batch could not be written")


async def make_durable(w: Worker, fx: Effects, batch: list[Any], acker: FlushThenAck) -> None:
    """Audit records and dead letters acknowledged, then the states logged and the
    offsets handed to the acker (docs/decisions/0002: a recovered state never runs
    ahead of its effects)."""
    try:
        await w.record_sink.write(fx)
    except Exception:
        stop_worker("effects of a batch could not be written")
    w.store.log(fx.states)
    acker.add(batch)


async def process(w: Worker, msgs: list[Msg]) -> None:
    """One batch computed, written and saved in turn: the plain benchmark loop's
    (loadtests/plain_worker.py), whose store is not a faust table."""
    fx = w.batch.handle(msgs)
    await asyncio.gather(w.redis_sink.write(fx), w.record_sink.write(fx))
    w.batch.save_states(fx)
