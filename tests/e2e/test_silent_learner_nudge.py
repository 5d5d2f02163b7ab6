"""A learner who went silent gets exactly one nudge in Redis; an active one gets none."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest
import redis
from confluent_kafka import Producer

import schemas
from learnpulse import keys

# Learner ids are unique per run: every test shares one Redis.
CAROL = f"carol-{uuid.uuid4().hex[:8]}"
DAVE = f"dave-{uuid.uuid4().hex[:8]}"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DAY = 86_400_000


def ev(learner: str, t_ms: int, verb: str, obj: str, progress: float | None = None) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "learner_id": learner,
        "occurred_at_ms": t_ms,
        "received_at_ms": t_ms,
        "source": "lms",
        "verb": verb,
        "object_id": obj,
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


def test_silent_learner_gets_exactly_one_nudge(
    kafka_bootstrap, redis_server, topics, start_worker
) -> None:
    now = int(time.time() * 1000)
    catalog = {
        "content_id": "vid-sql",
        "updated_at_ms": now - 30 * DAY,
        "title": "SQL joins explained",
        "skills": ["sql"],
        "duration_min": 30.0,
    }
    events: list[dict[str, Any]] = []
    # carol learned every two days, then stopped 20 days ago, 59% through a video.
    for i in range(10):
        events.append(
            ev(
                CAROL,
                now - (20 + 2 * (9 - i)) * DAY,
                "progressed",
                "vid-sql",
                round(0.05 + 0.06 * i, 2),
            )
        )
    # dave is active right now.
    events += [
        ev(DAVE, now - 2 * 3_600_000, "started", "vid-sql", 0.1),
        ev(DAVE, now - 60_000, "progressed", "vid-sql", 0.3),
    ]
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"})
    p.produce(topics.catalog, key=b"vid-sql", value=schemas.encode(schemas.CONTENT, catalog))
    for e in events:
        p.produce(
            topics.activity, key=e["learner_id"].encode(), value=schemas.encode(schemas.ACTIVITY, e)
        )
    assert p.flush(15) == 0
    # No quiet hours and one all-day window, so the test does not depend on the clock.
    start_worker(topics, nudge_quiet_hours="0-0", nudge_windows="all:0-24", silence_tick_s="0.5")
    r = redis.Redis.from_url(redis_server.url)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and r.xlen(keys.nudges(CAROL)) == 0:
        time.sleep(0.25)
    assert r.xlen(keys.nudges(CAROL)) == 1, "carol should have been nudged"
    time.sleep(4)  # several more ticks: the timer must not fire again for the same silence
    entries = r.xrange(keys.nudges(CAROL))
    assert len(entries) == 1
    nudge = orjson.loads(entries[0][1][b"nudge"])
    assert nudge["learner_id"] == CAROL
    assert "we miss you" not in nudge["message"].lower()
    assert "SQL joins explained" in nudge["message"] or "days" in nudge["message"]
    assert nudge["channel"] in ("in_app", "email", "chat")
    assert r.xlen(keys.nudges(DAVE)) == 0, "an active learner is not nudged"
    state = orjson.loads(r.get(keys.state(CAROL)))
    assert state["risk"] >= 0.5
