"""A learner's graded quiz changes what they see next, with the evidence in the reasons."""

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
from learnpulse.testing import activity

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LEARNER = f"quinn-{uuid.uuid4().hex[:8]}"
DAY = 86_400_000


def item(cid: str, title: str, skills: list[str], fmt: str, level: int, now: int) -> dict:
    return {
        "content_id": cid,
        "updated_at_ms": now - 60 * DAY,
        "title": title,
        "skills": skills,
        "topics": ["data"],
        "level": level,
        "format": fmt,
        "duration_min": 20.0,
        "prerequisites": [],
        "published_at_ms": now - 60 * DAY,
        "active": True,
    }


def event(verb: str, obj: str, now: int, **result: Any) -> dict[str, Any]:
    kind = "quiz" if obj.startswith("q-") else "course"
    return activity(LEARNER, verb, obj, now, source="quiz", object_type=kind, **result)


def test_completed_quiz_changes_redis_recommendations(
    kafka_bootstrap, redis_server, topics, start_worker
) -> None:
    now = int(time.time() * 1000)
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"})
    for rec in (
        item("q-sql", "SQL check-up", ["sql"], "quiz", 2, now),
        item("sql-201", "Joins and window functions", ["sql"], "course", 2, now),
        item("excel-101", "Excel for analysts", ["excel"], "course", 2, now),
    ):
        p.produce(
            topics.catalog,
            key=rec["content_id"].encode(),
            value=schemas.encode(schemas.CONTENT, rec),
        )
    p.produce(
        topics.role_skills,
        key=b"data_analyst",
        value=schemas.encode(
            schemas.ROLE_SKILLS,
            {
                "role": "data_analyst",
                "updated_at_ms": now - DAY,
                "required_skills": {"sql": 0.8, "excel": 0.5},
            },
        ),
    )
    p.produce(
        topics.profiles,
        key=LEARNER.encode(),
        value=schemas.encode(
            schemas.PROFILE,
            {
                "learner_id": LEARNER,
                "updated_at_ms": now - DAY,
                "role": "data_analyst",
                "department": "finance",
                "team_id": "t1",
                "level": 2,
            },
        ),
    )
    p.produce(
        topics.activity,
        key=LEARNER.encode(),
        value=schemas.encode(
            schemas.ACTIVITY, event("started", "excel-101", now - 3_600_000, progress=0.2)
        ),
    )
    assert p.flush(15) == 0
    start_worker(topics)
    r = redis.Redis.from_url(redis_server.url)

    def reco() -> dict[str, Any] | None:
        raw = r.get(keys.reco(LEARNER))
        return orjson.loads(raw) if raw else None

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and reco() is None:
        time.sleep(0.2)
    before = reco()
    assert before is not None, "no recommendations after the first event"
    reasons_before = " ".join(" ".join(i["reasons"]) for i in before["items"])
    assert "scored" not in reasons_before

    # The learner takes the SQL quiz and scores 40%.
    p.produce(
        topics.activity,
        key=LEARNER.encode(),
        value=schemas.encode(
            schemas.ACTIVITY,
            event("attempted", "q-sql", now, score_scaled=0.4, success=False, completion=True),
        ),
    )
    assert p.flush(15) == 0
    deadline = time.monotonic() + 30
    after = before
    while time.monotonic() < deadline:
        after = reco()
        if after and after["trigger_event_id"] != before["trigger_event_id"]:
            break
        time.sleep(0.1)
    assert after and after["trigger_event_id"] != before["trigger_event_id"], "list not refreshed"
    sql_items = [i for i in after["items"] if i["content_id"] == "sql-201"]
    assert sql_items, f"SQL course should be suggested after a weak SQL quiz: {after['items']}"
    assert any("you scored 40% on the last quiz" in reason for reason in sql_items[0]["reasons"])
    assert "q-sql" not in [i["content_id"] for i in after["items"][:1]], "done quiz not first"
    state = orjson.loads(r.get(keys.state(LEARNER)))
    assert "sql" in state["skills"], "the quiz updated the learner's SQL mastery"
