"""The Python ceiling: a plain confluent-kafka ``consume(500)`` loop doing the worker's work.

    LEARNPULSE_STREAMS_...=... .venv/bin/python -m loadtests.plain_worker

The learner processing is the real worker's: ``streams.worker.build`` assembles
the same ``LearnBatch``, ``RedisSink`` and ``RecordSink`` (its faust app is built
but never started), and each batch goes through ``streams.agents.learn.process``
(decode, dedupe, state, models, ranking, one Redis pipeline, audit records,
then the states are saved), and the same interest-clustering thread runs
beside it (``ClusterAgent``, as ``python -m streams`` starts it). Only the
transport differs: a confluent-kafka
consumer, learner states in a dict plus a changelog topic produced with
librdkafka (``LP_PLAIN_CHANGELOG=0`` turns that off), offsets committed about
every second once the changelog records produced before them are flushed (the
flush runs in a thread, so batches go on meanwhile, as in the worker).
uvloop runs the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from streams.batch import Msg

log = logging.getLogger("loadtests.plain_worker")


class ChangelogStore:
    """Learner states in memory, each put also sent to a changelog topic (as faust does).

    A ``StateStore`` of its own, not a ``DictStore`` subclass: the compiled
    ``streams.batch`` classes take no interpreted subclasses (decision 0016).
    """

    def __init__(self, producer: Producer | None, topic: str) -> None:
        self.data: dict[str, bytes] = {}
        self.producer = producer
        self.topic = topic

    def get(self, learner_id: str) -> bytes | None:
        return self.data.get(learner_id)

    def put(self, learner_id: str, value: bytes, partition: int) -> None:
        self.data[learner_id] = value
        if self.producer is None:
            return
        while True:
            try:
                self.producer.produce(
                    self.topic, value=value, key=learner_id.encode(), partition=partition
                )
                return
            except BufferError:
                self.producer.poll(0.05)


def to_msg(m: Any) -> Msg:
    return Msg(
        m.topic(),
        m.partition(),
        m.offset(),
        m.key(),
        m.value(),
        m.timestamp()[1],
        tuple(m.headers() or ()),
    )


async def run(stop: asyncio.Event) -> None:
    from streams.agents import learn
    from streams.metrics import BATCH_SIZE, LEARNERS_IN_STATE
    from streams.settings import StreamsSettings
    from streams.worker import build

    s = StreamsSettings()  # type: ignore[call-arg]
    w = build(s)
    topics = s.topics
    changelog = f"{s.app_id}-learner-state-changelog"
    producer: Producer | None = None
    if os.environ.get("LP_PLAIN_CHANGELOG", "1") != "0":
        from learnpulse.stack.services import create_topics

        create_topics(s.kafka_bootstrap, {changelog: s.partitions}, {changelog})
        producer = Producer(
            {
                "bootstrap.servers": s.kafka_bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
            }
        )
    w.batch.store = ChangelogStore(producer, changelog)
    if s.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(s.metrics_port, addr=s.metrics_host)
    w.reader.start()
    w.reader.wait_idle(30)
    from streams.agents.cluster_interests import ClusterAgent

    clusterer = ClusterAgent(w)
    clusterer.start()
    from streams.gctune import tune

    tune(s.gc_threshold)  # as python -m streams does
    consumer = Consumer(
        {
            "bootstrap.servers": s.kafka_bootstrap,
            "group.id": s.app_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": int(s.session_timeout_s * 1000),
            "heartbeat.interval.ms": int(s.heartbeat_s * 1000),
            "fetch.wait.max.ms": s.fetch_max_wait_ms,
        }
    )
    consumer.subscribe([topics.activity, topics.profiles])
    last_commit = time.monotonic()
    loop = asyncio.get_running_loop()
    done: dict[tuple[str, int], int] = {}  # next offset to commit, per partition
    flushing: asyncio.Future[int] | None = None
    commit_after: list[TopicPartition] = []
    try:
        while not stop.is_set():
            # As the faust worker's intake: wait for the first record, then take what
            # is already fetched. consume(n, timeout) would wait for n or the timeout,
            # holding a light load's records back (latency bench, --worker plain).
            first = consumer.poll(0.1)
            msgs = [] if first is None else [first, *consumer.consume(s.batch_size - 1, 0)]
            batch = [to_msg(m) for m in msgs if not m.error()]
            if batch:
                await learn.process(w, batch)
                BATCH_SIZE.labels("learn").observe(len(batch))
                LEARNERS_IN_STATE.set(len(w.batch.store.data))  # type: ignore[attr-defined]
                for m in batch:
                    done[(m.topic, m.partition)] = m.offset + 1
            if producer is not None:
                producer.poll(0)
            if flushing is not None and flushing.done():
                if flushing.result():
                    raise RuntimeError("the changelog flush timed out: offsets not committed")
                consumer.commit(offsets=commit_after, asynchronous=True)
                flushing = None
            if flushing is None and done and time.monotonic() - last_commit >= 1.0:
                # States before offsets, as faust's changelog. The flush runs off the
                # loop, as the worker's FlushThenAck does, so batches go on meanwhile;
                # the offsets are those processed before it started.
                commit_after = [TopicPartition(t, p, o) for (t, p), o in done.items()]
                flush = producer.flush if producer is not None else (lambda _t: 0)
                flushing = loop.run_in_executor(None, flush, 30)
                last_commit = time.monotonic()
            await asyncio.sleep(0)  # let signal handlers and the Redis client breathe
    finally:
        consumer.close()
        clusterer.stop()
        w.reader.stop()
        w.record_sink.close()
        if producer is not None:
            producer.flush(10)


def main() -> int:
    import uvloop

    from learnpulse.logs import setup_logging
    from loadtests.patches import apply_from_env

    setup_logging(os.environ.get("LEARNPULSE_STREAMS_LOG_LEVEL", "WARNING"))
    apply_from_env()

    async def amain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(stop)

    uvloop.run(amain())
    return 0


if __name__ == "__main__":
    sys.exit(main())
