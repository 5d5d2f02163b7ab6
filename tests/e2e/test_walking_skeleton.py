"""The whole flow on real parts: Kafka event → stream worker → Redis → delivery endpoint."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import redis
from confluent_kafka import Producer

import schemas
from learnpulse import keys
from learnpulse.stack.procs import Proc, free_port

# Learner ids are unique per run: every test shares one Redis.
ALICE = f"alice-{uuid.uuid4().hex[:8]}"
BOB = f"bob-{uuid.uuid4().hex[:8]}"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def activity(
    learner: str, verb: str, obj: str, progress: float | None = None, event_id: str | None = None
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "learner_id": learner,
        "occurred_at_ms": now,
        "received_at_ms": now,
        "source": "lms",
        "verb": verb,
        "object_id": obj,
        "result": {
            "score_scaled": None,
            "success": None,
            "completion": None,
            "progress": progress,
            "duration_s": None,
            "rating": None,
        },
    }


def produce(bootstrap: str, topic: str, records: list[dict[str, Any]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for rec in records:
        value = schemas.encode(schemas.ACTIVITY, rec)
        p.produce(topic, key=rec["learner_id"].encode(), value=value)
    assert p.flush(15) == 0


def wait_for(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}")


def test_event_to_recommendation_in_redis_and_http(
    kafka_bootstrap, redis_server, topics, start_worker, tmp_path
) -> None:
    r = redis.Redis.from_url(redis_server.url)
    start_worker(topics)
    produce(
        kafka_bootstrap,
        topics.activity,
        [activity(ALICE, "started", "sql-101", 0.1), activity(ALICE, "progressed", "sql-101", 0.4)],
    )

    def reco() -> dict[str, Any] | None:
        raw = r.get(keys.reco(ALICE))
        return orjson.loads(raw) if raw else None

    value = wait_for(reco, 60, "alice's recommendations")
    assert value["v"] == 1
    assert value["items"][0]["content_id"] == "sql-101"
    assert value["items"][0]["source"] == "continue"
    assert "40%" in value["items"][0]["reasons"][0]

    # Served to front-ends by the delivery API, from the read-only Redis user.
    port = free_port()
    api = Proc(
        "delivery",
        [sys.executable, "-m", "services.delivery"],
        tmp_path / "delivery.log",
        env={
            "LEARNPULSE_DELIVERY_REDIS_URL": redis_server.frontend_url,
            "LEARNPULSE_DELIVERY_PORT": str(port),
            "LEARNPULSE_DELIVERY_TOKEN_SECRET": "test-secret-" + "x" * 20,
            "LEARNPULSE_DELIVERY_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "LEARNPULSE_DELIVERY_TOPIC_PREFIX": topics.prefix,
        },
    ).start()
    try:
        api.wait_ready(
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200, 30, "serving"
        )
        from learnpulse.testing import auth_headers

        resp = httpx.get(
            f"http://127.0.0.1:{port}/v1/learners/{ALICE}/recommendations",
            headers=auth_headers(ALICE),
            timeout=5,
        )
        assert resp.status_code == 200
        assert resp.json()["items"][0]["content_id"] == "sql-101"
    finally:
        api.stop()


def test_restart_recovers_state_without_duplicate_effects(
    kafka_bootstrap, redis_server, topics, start_worker
) -> None:
    r = redis.Redis.from_url(redis_server.url)
    worker = start_worker(topics)
    first = activity(BOB, "started", "py-201", 0.3)
    produce(kafka_bootstrap, topics.activity, [first, activity(BOB, "progressed", "py-201", 0.6)])

    def state() -> dict[str, Any] | None:
        raw = r.get(keys.state(BOB))
        return orjson.loads(raw) if raw else None

    wait_for(lambda: (s := state()) and s["events_applied"] == 2, 60, "two events applied")
    assert worker.stop() is not None
    # While it is down: a new event, and a re-send of the first (a producer retry).
    produce(kafka_bootstrap, topics.activity, [activity(BOB, "started", "ml-301", 0.2), first])
    worker.restart()
    s = wait_for(
        lambda: (s := state()) and s["events_applied"] >= 3 and s,
        90,
        "the new event applied after restart",
    )
    time.sleep(2)  # give a duplicate every chance to be (wrongly) applied
    s = state()
    assert s is not None
    assert s["events_applied"] == 3, "the re-sent event must not be applied twice"
    # Progress from before the restart was recovered from the changelog, not lost.
    assert s["in_progress"] == {"py-201": 0.6, "ml-301": 0.2}


def test_restart_recovers_every_learner_of_multi_record_changelog_batches(
    kafka_bootstrap, redis_server, topics, start_worker
) -> None:
    """Many learners at once: their states reach the changelog in multi-record
    batches, and on the development broker only the end markers make a recovery
    read past the first record of the last batch (decision 0018)."""
    r = redis.Redis.from_url(redis_server.url)
    run = uuid.uuid4().hex[:6]
    learners = [f"many{i}-{run}" for i in range(300)]
    worker = start_worker(topics)
    produce(
        kafka_bootstrap, topics.activity, [activity(L, "started", "py-201", 0.4) for L in learners]
    )

    def states() -> dict[str, dict[str, Any]]:
        raws = r.mget([keys.state(L) for L in learners])
        return {L: orjson.loads(raw) for L, raw in zip(learners, raws, strict=True) if raw}

    wait_for(lambda: len(states()) == len(learners), 90, "every learner's first event")
    assert worker.stop() is not None
    restarted_ms = int(time.time() * 1000)
    produce(
        kafka_bootstrap,
        topics.activity,
        [activity(L, "started", "ml-301", 0.1) for L in learners],
    )
    worker.restart()
    # Written again after the restart: with its state recovered (2 events) or,
    # had recovery missed it, from a fresh one (1 event).
    wait_for(
        lambda: all(s["updated_at_ms"] > restarted_ms for s in states().values()),
        120,
        "every learner's second event after the restart",
    )
    got = {L: s["events_applied"] for L, s in states().items()}
    lost = [L for L in learners if got.get(L) != 2]
    assert not lost, f"{len(lost)} learners' states were not recovered, e.g. {lost[:3]}"
    state = orjson.loads(r.get(keys.state(learners[-1])) or b"{}")
    assert state["in_progress"] == {"py-201": 0.4, "ml-301": 0.1}
