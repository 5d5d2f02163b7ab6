"""Task ``normalize``: raw xAPI / Caliper / Open edX records → canonical activity events.

Tools that produce straight to Kafka write to the raw topics. Each record is
normalised with the same code as the HTTP gateway (``services.ingest.raw``);
anything undecodable or invalid goes to the dead-letter topic with the reason
and origin in headers, is counted, and processing goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import orjson

import schemas
from services.ingest.errors import DecodeError, InvalidEvent
from services.ingest.raw import normalize_raw
from streams.agents.learn import to_msg
from streams.batch import DeadLetter, Effects
from streams.fatal import stop_worker
from streams.intake import BulkIntake
from streams.metrics import BATCH_SECONDS, BATCH_SIZE, DEADLETTERED, EVENTS_PROCESSED

if TYPE_CHECKING:
    from streams.worker import Worker

log = logging.getLogger(__name__)


def register(w: Worker) -> None:
    s = w.settings
    t = s.topics
    formats = {t.raw_xapi: "xapi", t.raw_caliper: "caliper", t.raw_openedx: "openedx"}
    intake = BulkIntake(w.app, list(formats), s.partitions, s.batch_size, s.batch_within_s)

    @w.app.task
    async def normalize() -> None:
        # The same bulk intake as ``learn`` (streams/intake.py), and the same
        # rule: an unexpected error stops the worker rather than leaving a live
        # process that no longer consumes.
        try:
            await run(intake)
        except asyncio.CancelledError:
            raise
        except Exception:
            stop_worker("the normalize loop failed")

    async def run(intake: BulkIntake) -> None:
        async for batch in intake.batches():
            t0 = time.perf_counter()
            fx = Effects()
            ok = 0
            for message in batch:
                m = to_msg(message)
                headers = {k: v for k, v in m.headers}
                try:
                    records = normalize_raw(
                        formats[m.topic], m.value, headers, received_at_ms=m.timestamp_ms
                    )
                    encoded = [
                        (r["learner_id"], schemas.encode(schemas.ACTIVITY, r)) for r in records
                    ]
                except DecodeError as exc:
                    fx.dead.append(DeadLetter(m, "undecodable", type(exc).__name__, str(exc)))
                    continue
                except InvalidEvent as exc:
                    # Every field error, with its path, so the producer can fix them all.
                    fx.dead.append(
                        DeadLetter(
                            m, "invalid", type(exc).__name__, orjson.dumps(exc.errors).decode()
                        )
                    )
                    continue
                except ValueError as exc:
                    fx.dead.append(DeadLetter(m, "invalid", type(exc).__name__, str(exc)))
                    continue
                for learner_id, value in encoded:
                    fx.records.append((t.activity, learner_id, value))
                ok += 1
            for dl in fx.dead:
                DEADLETTERED.labels("normalize", dl.reason).inc()
            if ok:
                EVENTS_PROCESSED.labels("normalize", "applied").inc(ok)
            # A failure here stops the worker (above) before this batch is acked.
            await w.record_sink.write(fx)
            intake.ack(batch)
            BATCH_SIZE.labels("normalize").observe(len(batch))
            BATCH_SECONDS.labels("normalize").observe(time.perf_counter() - t0)
