"""The faust floor: the worker's faust app, consumer settings and intake, counting only.

    LEARNPULSE_STREAMS_...=... .venv/bin/python -m loadtests.noop_worker

Same ``create_app`` (broker profile, fetch-wait patch, buffer and poll sizes), same
topics and ``BulkIntake`` batches as the ``learn`` loop (or, with the
``stock-stream`` patch, faust's agent stream with ``take_events``); it counts activity
events on the worker's ``learnpulse_stream_events_processed_total`` and does
nothing else. Started by ``loadtests.throughput``.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> int:
    from faust.worker import Worker as FaustWorker
    from prometheus_client import start_http_server

    from loadtests import patches
    from loadtests.patches import apply_from_env
    from streams.app import create_app
    from streams.intake import BulkIntake
    from streams.metrics import EVENTS_PROCESSED
    from streams.settings import StreamsSettings

    apply_from_env()
    s = StreamsSettings()  # type: ignore[call-arg]
    app = create_app(s)
    activity = s.topics.activity
    counter = EVENTS_PROCESSED.labels("learn", "applied")

    def count(topics: list[str]) -> None:
        n = sum(1 for t in topics if t == activity)
        if n:
            counter.inc(n)

    if patches.STOCK_STREAM:
        source = app.topic(
            activity,
            s.topics.profiles,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=s.partitions,
        )

        @app.agent(source, name="learn")
        async def learn(stream: Any) -> None:
            async for events in stream.take_events(s.batch_size, within=s.batch_within_s or 0.02):
                count([e.message.topic for e in events])

    else:
        intake = BulkIntake(
            app, [activity, s.topics.profiles], s.partitions, s.batch_size, s.batch_within_s
        )

        @app.task
        async def learn_bulk() -> None:
            async for batch in intake.batches():
                count([m.topic for m in batch])
                intake.ack(batch)

    if s.metrics_port:
        start_http_server(s.metrics_port, addr=s.metrics_host)
    FaustWorker(
        app, loglevel=s.log_level, quiet=True, redirect_stdouts=False, override_logging=False
    ).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
