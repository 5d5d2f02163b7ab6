"""The audit and dead-letter sink on the real development broker.

It asks librdkafka for failure reports only (a report per record cost a Python
call each); these tests check that a written batch is on the broker when
``write`` returns, and that a record the broker refuses still fails the batch.
"""

from __future__ import annotations

import asyncio
import types
import uuid

import pytest
from confluent_kafka import Consumer

from learnpulse.stack.services import create_topics
from streams.sink import RecordSink, SinkError

pytestmark = pytest.mark.integration


def _effects(records: list[tuple[str, str, bytes]]) -> types.SimpleNamespace:
    # What RecordSink.write reads of a batch's Effects.
    return types.SimpleNamespace(records=records, dead=[])


def test_a_written_batch_is_on_the_broker_when_write_returns(kafka_bootstrap: str) -> None:
    topic = f"rs-{uuid.uuid4().hex[:10]}-audit"
    create_topics(kafka_bootstrap, {topic: 1}, set())
    sink = RecordSink(kafka_bootstrap, f"rs-{uuid.uuid4().hex[:10]}-dead")
    sent = {f"learner-{i}": b"ranking %d" % i for i in range(300)}
    asyncio.run(sink.write(_effects([(topic, k, v) for k, v in sent.items()])))
    assert len(sink.producer) == 0  # nothing left queued or in flight

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"rs-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    got: dict[str, bytes] = {}
    try:
        consumer.subscribe([topic])
        for _ in range(60):
            for m in consumer.consume(500, 0.5):
                if m.error() is None:
                    got[m.key().decode()] = m.value()
            if len(got) >= len(sent):
                break
    finally:
        consumer.close()
    assert got == sent


def test_a_record_the_broker_refuses_fails_the_batch(kafka_bootstrap: str) -> None:
    sink = RecordSink(
        kafka_bootstrap, f"rs-{uuid.uuid4().hex[:10]}-dead", extra={"message.timeout.ms": 5000}
    )
    with pytest.raises(SinkError, match="Invalid topic"):
        asyncio.run(sink.write(_effects([("not a valid topic!", "learner-1", b"x")])))
