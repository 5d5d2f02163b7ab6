"""Raw Kafka topics: valid records are normalised into the canonical topic, garbage is
dead-lettered with reason and origin, and the worker keeps going."""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson
import pytest
import redis
from confluent_kafka import Producer

import schemas
from learnpulse import keys

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_garbage_is_deadlettered_and_valid_events_flow(
    kafka_bootstrap, redis_server, topics, start_worker, consume_all
) -> None:
    from tests.conftest import shared_data

    caliper_event = json.loads(
        Path(shared_data("caliper-v1p1", "caliperEventViewViewedDocument.json")).read_text()
    )
    statement = {
        "id": "6f2b2b7e-1c1a-4c52-9d3b-3b4f0f6f1d11",
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": "https://lms.example.com", "name": "erin"},
        },
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://lms.example.com/courses/sql-101"},
        "timestamp": "2026-11-20T10:00:00Z",
    }
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"})
    p.produce(topics.raw_caliper, key=b"k1", value=b"\x00\xffnot json at all")
    p.produce(topics.raw_xapi, key=b"k2", value=b'{"actor": {}}')  # JSON, invalid statement
    p.produce(topics.raw_caliper, key=b"k3", value=orjson.dumps(caliper_event))
    p.produce(
        topics.raw_xapi,
        key=b"k4",
        value=orjson.dumps(statement),
        headers=[("X-Experience-API-Version", b"1.0.3")],
    )
    assert p.flush(15) == 0
    worker = start_worker(topics)

    dead = consume_all(topics.deadletter, 2, timeout=90)
    assert len(dead) == 2
    by_origin = {h["origin.topic"].decode(): h for _k, _v, h in dead}
    assert set(by_origin) == {topics.raw_caliper, topics.raw_xapi}
    assert by_origin[topics.raw_caliper]["error.reason"] == b"undecodable"
    assert by_origin[topics.raw_xapi]["error.reason"] == b"invalid"
    assert b"actor" in by_origin[topics.raw_xapi]["error.message"]
    assert {h["origin.offset"] for h in by_origin.values()} == {b"0"}
    assert any(v == b"\x00\xffnot json at all" for _k, v, _h in dead), "raw bytes kept"

    good = consume_all(topics.activity, 2, timeout=60)
    records = [schemas.decode(schemas.ACTIVITY, v) for _k, v, _h in good]
    assert {r["source_format"] for r in records} == {"caliper", "xapi"}
    for (key, _v, _h), rec in zip(good, records, strict=True):
        assert key.decode() == rec["learner_id"], "canonical records are keyed by learner"
    xapi_rec = next(r for r in records if r["source_format"] == "xapi")
    assert xapi_rec["verb"] == "completed"
    assert xapi_rec["object_id"] == "https://lms.example.com/courses/sql-101"

    # The worker went on: the normalised events reached the learners' state in Redis.
    r = redis.Redis.from_url(redis_server.url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not r.exists(keys.state(xapi_rec["learner_id"])):
        time.sleep(0.2)
    state = orjson.loads(r.get(keys.state(xapi_rec["learner_id"])))
    assert state["completed"] == 1
    assert worker.proc.alive()
