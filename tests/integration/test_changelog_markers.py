"""The learner changelog's end markers on the real development broker (decision 0018).

Tansu reports a partition's high watermark as the last *batch's* base offset
+ 1. faust's recovery reads up to that watermark, so without the markers it
would stop inside the last batch and lose learner states. These tests produce
learner-state records the way the worker does, in multi-record batches, and
check what a recovery would be told and would read.
"""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from learnpulse.stack.services import create_topics
from streams.store import END_KEY, ChangelogProducer

pytestmark = pytest.mark.integration
PARTITIONS = 2
PER_PARTITION = 150


def _topic(bootstrap: str) -> str:
    name = f"chl-{uuid.uuid4().hex[:10]}-learner-state-changelog"
    create_topics(bootstrap, {name: PARTITIONS}, {name})
    return name


def _write(bootstrap: str, topic: str, end_markers: bool, rounds: int = 2) -> set[bytes]:
    """Learner states in ``rounds`` flushes; linger long enough that they batch."""
    producer = ChangelogProducer(bootstrap, topic, end_markers, extra={"linger.ms": 50})
    keys: set[bytes] = set()
    for r in range(rounds):
        for i in range(PER_PARTITION * PARTITIONS // rounds):
            key = orjson.dumps(f"learner-{r}-{i}")
            producer.send(i % PARTITIONS, key, b'{"n":%d}' % i)
            keys.add(key)
        asyncio.run(producer.flush())
    producer.close()
    return keys


def _recover(bootstrap: str, topic: str) -> tuple[dict[int, int], set[bytes]]:
    """What faust's recovery does: ask each high watermark, read the records below it."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"chl-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    highs: dict[int, int] = {}
    seen: set[bytes] = set()
    try:
        for p in range(PARTITIONS):
            _lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            highs[p] = hi
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        left = {p for p, hi in highs.items() if hi > 0}
        while left:
            msgs = consumer.consume(500, 5.0)
            assert msgs, f"nothing more to read below the high watermarks {highs}"
            for m in msgs:
                assert m.error() is None, m.error()
                p, offset = m.partition(), m.offset()
                if offset < highs[p] and m.value() is not None:
                    seen.add(m.key())
                if offset >= highs[p] - 1:
                    left.discard(p)
    finally:
        consumer.close()
    return highs, seen


def test_with_end_markers_a_recovery_reads_every_flushed_state(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap)
    keys = _write(kafka_bootstrap, topic, end_markers=True)
    highs, seen = _recover(kafka_bootstrap, topic)
    assert END_KEY not in seen
    missing = keys - seen
    assert not missing, f"{len(missing)} learner states below no high watermark ({highs})"
    # Two flushes, one marker each per partition: the watermark is past all of them.
    assert all(hi == PER_PARTITION + 2 for hi in highs.values()), highs


def test_without_markers_the_broker_hides_the_last_batch(kafka_bootstrap: str) -> None:
    """The control: the records above really went out in multi-record batches, and
    the development broker's watermark then stops inside the last one. If this ever
    fails, Tansu reports watermarks correctly and decision 0018 can go."""
    topic = _topic(kafka_bootstrap)
    keys = _write(kafka_bootstrap, topic, end_markers=False)
    highs, seen = _recover(kafka_bootstrap, topic)
    assert all(hi < PER_PARTITION for hi in highs.values()), highs
    assert len(seen) < len(keys)
