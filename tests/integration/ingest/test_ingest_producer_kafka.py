"""The producer library puts valid, keyed events on the real broker, or says it did not."""

from __future__ import annotations

import pytest

from learnpulse.producer import ActivityProducer, DeliveryFailed, activity
from learnpulse.stack.procs import free_port

pytestmark = pytest.mark.integration


def test_events_land_keyed_by_learner(kafka_bootstrap, topics, read_activity) -> None:
    sent = [
        activity(
            learner,
            "answered",
            f"q-{i}",
            source="quiz",
            object_type="question",
            occurred_at=1_714_557_600_000 + i,
            result={"success": i % 2 == 0},
            skill_ids=["fractions"],
            event_id=f"quiz-{learner}-{i}",
        )
        for i, learner in enumerate(["u-1", "u-2", "u-1"])
    ]
    with ActivityProducer(kafka_bootstrap, source="quiz", topic=topics.activity) as p:
        for ev in sent:
            p.send(ev)
    assert p.delivered == 3
    got = read_activity(3, timeout=20)
    assert sorted((rec for _, rec, _ in got), key=lambda r: r["event_id"]) == sorted(
        sent, key=lambda r: r["event_id"]
    )
    for key, rec, headers in got:
        assert key == rec["learner_id"].encode()
        assert headers == {"source": b"quiz", "format": b"native"}


def test_flush_raises_when_kafka_is_unreachable(topics) -> None:
    p = ActivityProducer(
        f"127.0.0.1:{free_port()}", source="quiz", topic=topics.activity, timeout_s=1.0
    )
    p.send(activity("u-1", "completed", "c-1", source="quiz"))
    with pytest.raises(DeliveryFailed) as info:
        p.flush(timeout_s=5)
    assert info.value.errors and p.delivered == 0
