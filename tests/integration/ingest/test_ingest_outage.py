"""Broker or Redis unreachable: 503 with Retry-After, never a false success."""

from __future__ import annotations

import time
import uuid

import pytest

from learnpulse.stack.procs import free_port
from learnpulse.stack.services import redis_url

pytestmark = pytest.mark.integration

XV = {"X-Experience-API-Version": "1.0.3"}


def _event() -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "learner_id": "u-1",
        "verb": "completed",
        "object_id": "c-1",
        "occurred_at_ms": 1_714_557_600_000,
    }


def test_broker_unreachable_is_503_for_every_format(make_gateway, make_key, new_statement) -> None:
    down = make_gateway(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", delivery_timeout_s=1.0, retry_after_s=7
    )
    key = make_key("lms")
    caliper = {
        "sensor": "s",
        "sendTime": "2024-05-01T10:00:01Z",
        "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1",
        "data": [
            {
                "id": f"urn:uuid:{uuid.uuid4()}",
                "type": "ViewEvent",
                "actor": "https://example.edu/u/1",
                "action": "Viewed",
                "object": "https://example.edu/d/1",
                "eventTime": "2024-05-01T10:00:00Z",
            }
        ],
    }
    for url, body, headers in (
        ("/v1/events", [_event()], key.bearer),
        ("/caliper", caliper, key.bearer),
        ("/xapi/statements", [new_statement()], {**key.basic, **XV}),
    ):
        started = time.monotonic()
        r = down.client.post(url, json=body, headers=headers)
        assert r.status_code == 503, (url, r.text)
        assert r.headers["Retry-After"] == "7"
        assert r.json()["error"] == "unavailable"
        assert time.monotonic() - started < 8  # the delivery timeout, not forever


def test_failed_statement_is_stored_on_retry(
    make_gateway, make_key, new_statement, read_activity
) -> None:
    """A 503 releases the statement id: the client's retry is stored, not a 'duplicate'."""
    down = make_gateway(kafka_bootstrap=f"127.0.0.1:{free_port()}", delivery_timeout_s=1.0)
    up = make_gateway()
    key = make_key("lms")
    s = new_statement()
    assert down.xapi(key, s).status_code == 503
    assert up.xapi(key, s).status_code == 200
    assert up.xapi(key, s).status_code == 200  # now a real duplicate: no effect
    got = read_activity(2, timeout=8)
    assert [rec["event_id"] for _, rec, _ in got] == [s["id"]]


def test_redis_unreachable_is_503(make_gateway, make_key) -> None:
    gw = make_gateway(redis_url=redis_url(free_port(), "lp-ingest", "x"))
    r = gw.client.post(
        "/v1/events", json=[_event()], headers={"Authorization": "Bearer lpk_1.secret"}
    )
    assert r.status_code == 503
    assert r.json()["error"] == "unavailable" and "Retry-After" in r.headers
