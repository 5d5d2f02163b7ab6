"""Agent ``learn``: per-learner processing of activity and profile events, in batches."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from streams.batch import Msg
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


def to_msg(event: Any) -> Msg:
    m = event.message
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
    source = app.topic(
        s.topics.activity,
        s.topics.profiles,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=s.partitions,
    )

    last_quality = [0.0]

    @app.agent(source, name="learn")
    async def learn(stream: Any) -> None:
        async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
            t0 = time.perf_counter()
            await w.lock.acquire()
            try:
                await process(w, [to_msg(e) for e in events])
            finally:
                w.lock.release()
            BATCH_SIZE.labels("learn").observe(len(events))
            BATCH_SECONDS.labels("learn").observe(time.perf_counter() - t0)
            LEARNERS_IN_STATE.set(len(w.table.data))
            if time.monotonic() - last_quality[0] > QUALITY_EVERY_S:
                last_quality[0] = time.monotonic()
                roc, logloss = w.batch.skills.quality()
                if roc is not None:
                    MODEL_AUC.labels("skill").set(roc)
                if logloss is not None:
                    MODEL_LOGLOSS.labels("skill").set(logloss)


async def process(w: Worker, msgs: list[Msg]) -> None:
    """One batch: compute, write effects, then save states (docs/decisions/0002)."""
    fx = w.batch.handle(msgs)
    try:
        # Both must succeed before the states are saved; waiting on them together
        # costs the slower round trip, not the sum.
        await asyncio.gather(w.redis_sink.write(fx), w.record_sink.write(fx))
    except Exception:
        # faust would log an agent crash and keep the process alive doing
        # nothing; exit instead so the supervisor restarts us, with this batch
        # neither saved nor committed (it is processed again).
        log.critical("effects of a batch could not be written; exiting", exc_info=True)
        logging.shutdown()
        os._exit(70)
    w.batch.save_states(fx)
