"""Silence timers with two workers and a restart: each silent learner is nudged exactly once."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from confluent_kafka import Producer

import schemas
from learnpulse import keys

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DAY = 86_400_000
RUN = uuid.uuid4().hex[:6]


def ev(learner: str, t_ms: int, progress: float) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "learner_id": learner,
        "occurred_at_ms": t_ms,
        "received_at_ms": t_ms,
        "source": "lms",
        "verb": "progressed",
        "object_id": "vid-git",
        "object_type": "video",
        "result": {
            "score_scaled": None,
            "success": None,
            "completion": None,
            "progress": progress,
            "duration_s": None,
            "rating": None,
        },
    }


def test_each_silent_learner_is_nudged_once_across_workers_and_restarts(
    kafka_bootstrap, redis_server, topics, start_worker
) -> None:
    now = int(time.time() * 1000)
    learners = [f"silent{i}-{RUN}" for i in range(8)]  # spread over both partitions
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"})
    p.produce(
        topics.catalog,
        key=b"vid-git",
        value=schemas.encode(
            schemas.CONTENT,
            {
                "content_id": "vid-git",
                "updated_at_ms": now - 60 * DAY,
                "title": "Git in practice",
                "duration_min": 40.0,
            },
        ),
    )
    for learner in learners:
        for i in range(10):  # every two days, then silent for 20 days
            p.produce(
                topics.activity,
                key=learner.encode(),
                value=schemas.encode(
                    schemas.ACTIVITY, ev(learner, now - (20 + 2 * (9 - i)) * DAY, 0.05 + 0.06 * i)
                ),
            )
    assert p.flush(15) == 0
    cfg = {"nudge_quiet_hours": "0-0", "nudge_windows": "all:0-24", "silence_tick_s": "0.5"}
    first = start_worker(topics, name="w1", **cfg)
    start_worker(topics, name="w2", **cfg)
    r = redis.Redis.from_url(redis_server.url)

    def counts() -> list[int]:
        return [r.xlen(keys.nudges(lid)) for lid in learners]

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and min(counts()) == 0:
        time.sleep(0.5)
    assert counts() == [1] * len(learners), f"one nudge per silent learner: {counts()}"
    # A worker restarts (its partitions move to the other and back): no second nudge.
    first.restart()
    time.sleep(15)
    assert counts() == [1] * len(learners), f"no nudge fired twice: {counts()}"
