"""Feedback reaches Kafka as canonical events, keyed by learner, before the API says 202."""

from __future__ import annotations

import httpx
import pytest

import schemas
from learnpulse.stack.procs import free_port

pytestmark = pytest.mark.integration


def test_click_becomes_a_canonical_event_on_the_activity_topic(
    start_api, topics, consume_all
) -> None:
    api = start_api(topics)
    r = httpx.post(
        api.url + "/v1/me/feedback",
        headers=api.headers("fb-alice"),
        json={"type": "click", "content_id": "sql-101", "position": 0, "surface": "web"},
    )
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1
    ((key, value, _headers),) = consume_all(topics.activity, 1, timeout=20)
    assert key == b"fb-alice"
    rec = schemas.decode(schemas.ACTIVITY, value)
    assert rec["learner_id"] == "fb-alice"
    assert rec["verb"] == "clicked"
    assert rec["object_id"] == "sql-101"
    assert (rec["source"], rec["source_format"]) == ("delivery", "native")
    assert rec["event_id"] == r.json()["event_ids"][0]
    assert rec["extensions"]["position"] == "0"


def test_a_batch_and_invalid_requests(start_api, topics, consume_all) -> None:
    api = start_api(topics)
    h = api.headers("fb-bob")
    # Refused requests produce nothing.
    bad = httpx.post(
        api.url + "/v1/me/feedback",
        headers=h,
        json=[{"type": "rating", "content_id": "c1", "rating": 5}, {"type": "nudge_opened"}],
    )
    assert bad.status_code == 422
    assert [e["path"] for e in bad.json()["errors"]] == ["/0/rating", "/1/nudge_id"]
    malformed = httpx.post(
        api.url + "/v1/me/feedback",
        headers={**h, "Content-Type": "application/json"},
        content=b"{oops",
    )
    assert malformed.status_code == 400
    assert (
        httpx.post(
            api.url + "/v1/me/feedback",
            headers={**h, "Content-Type": "text/plain"},
            content=b"click",
        ).status_code
        == 415
    )
    big = [{"type": "impression", "content_id": "c" * 100}] * 600
    assert httpx.post(api.url + "/v1/me/feedback", headers=h, json=big).status_code == 413
    ok = httpx.post(
        api.url + "/v1/me/feedback",
        headers=h,
        json=[
            {"type": "impression", "content_id": "c1", "position": 0},
            {"type": "rating", "content_id": "c1", "rating": 0.75},
            {"type": "dismiss", "content_id": "c2"},
            {"type": "nudge_opened", "nudge_id": "n-42"},
            {"type": "nudge_dismissed", "nudge_id": "n-43"},
        ],
    )
    assert ok.status_code == 202, ok.text
    got = consume_all(topics.activity, 6, timeout=8)  # one more than sent: none may sneak in
    recs = [schemas.decode(schemas.ACTIVITY, v) for _k, v, _h in got]
    assert [(r["verb"], r["object_id"]) for r in recs] == [
        ("impression", "c1"),
        ("rated", "c1"),
        ("dismissed", "c2"),
        ("nudge_opened", "n-42"),
        ("nudge_dismissed", "n-43"),
    ]
    assert recs[1]["result"]["rating"] == 0.75
    assert {k for k, _v, _h in got} == {b"fb-bob"}


def test_503_when_kafka_cannot_acknowledge(start_api, topics) -> None:
    api = start_api(topics, kafka_bootstrap=f"127.0.0.1:{free_port()}", produce_timeout_s=1.0)
    r = httpx.post(
        api.url + "/v1/me/feedback",
        headers=api.headers("fb-carol"),
        json={"type": "click", "content_id": "c1"},
        timeout=10,
    )
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    text = httpx.get(api.url + "/metrics").text
    assert 'learnpulse_delivery_feedback_rejected_total{reason="kafka_unavailable"}' in text
