"""The faust floor: the worker's faust app and consumer settings, an agent that only counts.

    LEARNPULSE_STREAMS_...=... .venv/bin/python -m loadtests.noop_worker

Same ``create_app`` (broker profile, fetch-wait patch, buffer and poll sizes), same
topics and ``take_events`` batches as the ``learn`` agent; it counts activity
events on the worker's ``learnpulse_stream_events_processed_total`` and does
nothing else. Started by ``loadtests.throughput``.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> int:
    from faust.worker import Worker as FaustWorker
    from prometheus_client import start_http_server

    from loadtests.patches import apply_from_env
    from streams.app import create_app
    from streams.metrics import EVENTS_PROCESSED
    from streams.settings import StreamsSettings

    apply_from_env()
    s = StreamsSettings()  # type: ignore[call-arg]
    app = create_app(s)
    activity = s.topics.activity
    source = app.topic(
        activity,
        s.topics.profiles,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=s.partitions,
    )
    counter = EVENTS_PROCESSED.labels("learn", "applied")

    @app.agent(source, name="learn")
    async def learn(stream: Any) -> None:
        async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
            n = sum(1 for e in events if e.message.topic == activity)
            if n:
                counter.inc(n)

    if s.metrics_port:
        start_http_server(s.metrics_port, addr=s.metrics_host)
    FaustWorker(
        app, loglevel=s.log_level, quiet=True, redirect_stdouts=False, override_logging=False
    ).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
