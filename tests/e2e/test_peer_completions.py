"""Peers' completions change a learner's recommendations and their explanation,
only once at least k people are behind the count, and never for an opted-out learner."""

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
DAY = 86_400_000
RUN = uuid.uuid4().hex[:6]
TEAM = f"team-{RUN}"


def profile(learner: str, now: int, **extra: Any) -> dict[str, Any]:
    return {
        "learner_id": learner,
        "updated_at_ms": now - DAY,
        "role": "account_executive",
        "department": "sales",
        "team_id": TEAM,
        "level": 2,
        **extra,
    }


event = activity


def test_peer_completions_change_recommendations(
    kafka_bootstrap, redis_server, topics, start_worker
) -> None:
    now = int(time.time() * 1000)
    zoe, opted_out = f"zoe-{RUN}", f"oli-{RUN}"
    peers = [f"peer{i}-{RUN}" for i in range(5)]
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"})

    def send(topic: str, key: str, schema: str, rec: dict[str, Any]) -> None:
        p.produce(topic, key=key.encode(), value=schemas.encode(schema, rec))

    for cid, title in (("neg-101", "Negotiation essentials"), ("crm-101", "CRM basics")):
        send(
            topics.catalog,
            cid,
            schemas.CONTENT,
            {
                "content_id": cid,
                "updated_at_ms": now - 90 * DAY,
                "title": title,
                "skills": ["negotiation"],
                "topics": ["sales_craft"],
                "level": 2,
                "format": "course",
                "duration_min": 30.0,
                "published_at_ms": now - 90 * DAY,
            },
        )
    for learner in [zoe, opted_out, *peers]:
        extra = {"peer_features_opt_out": True} if learner == opted_out else {}
        send(topics.profiles, learner, schemas.PROFILE, profile(learner, now, **extra))
    for learner in (zoe, opted_out):
        send(
            topics.activity,
            learner,
            schemas.ACTIVITY,
            event(learner, "started", "crm-101", now - 3_600_000, progress=0.1),
        )
    assert p.flush(15) == 0
    start_worker(topics)
    r = redis.Redis.from_url(redis_server.url)

    def reco(learner: str) -> dict[str, Any] | None:
        raw = r.get(keys.reco(learner))
        return orjson.loads(raw) if raw else None

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (reco(zoe) and reco(opted_out)):
        time.sleep(0.2)
    before = reco(zoe)
    assert before is not None
    assert not any("people" in r for i in before["items"] for r in i["reasons"])

    # Four teammates finish the negotiation course: below k = 5, nothing is said.
    for peer in peers[:4]:
        send(
            topics.activity,
            peer,
            schemas.ACTIVITY,
            event(peer, "completed", "neg-101", now - 600_000, completion=True),
        )
    send(
        topics.activity,
        zoe,
        schemas.ACTIVITY,
        event(zoe, "progressed", "crm-101", now - 300_000, progress=0.3),
    )
    assert p.flush(15) == 0
    mid = _wait_refresh(reco, zoe, before)
    assert not any("people" in r for i in mid["items"] for r in i["reasons"]), "count below k"

    # The fifth finishes: now the count may be shown, with the evidence.
    send(
        topics.activity,
        peers[4],
        schemas.ACTIVITY,
        event(peers[4], "completed", "neg-101", now - 200_000, completion=True),
    )
    for learner in (zoe, opted_out):
        send(
            topics.activity,
            learner,
            schemas.ACTIVITY,
            event(learner, "progressed", "crm-101", now - 100_000, progress=0.5),
        )
    assert p.flush(15) == 0
    after = _wait_refresh(reco, zoe, mid)
    neg = [i for i in after["items"] if i["content_id"] == "neg-101"]
    assert neg, f"teammates' completions should bring neg-101 in: {after['items']}"
    assert "5 people in your team finished this this week" in neg[0]["reasons"]
    state = orjson.loads(r.get(keys.state(zoe)))
    assert state["peers"]["opted_out"] is False
    # An opted-out learner gets no peer signals at all.
    out_state = orjson.loads(r.get(keys.state(opted_out)))
    assert out_state["peers"] == {"opted_out": True}
    out_reco = reco(opted_out)
    assert out_reco is not None
    assert not any("people" in r for i in out_reco["items"] for r in i["reasons"])


def _wait_refresh(reco: Any, learner: str, previous: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        value = reco(learner)
        if value and value["trigger_event_id"] != previous["trigger_event_id"]:
            return value
        time.sleep(0.1)
    raise AssertionError("recommendations were not refreshed")
