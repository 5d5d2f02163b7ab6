"""Every Caliper fixture event posted to ``POST /caliper`` lands normalised on Kafka."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from services.ingest import caliper
from tests.conftest import SHARED_DATA, shared_data

pytestmark = pytest.mark.integration

DATA = SHARED_DATA / "caliper-v1p1"
V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"


def _data() -> Path:
    return shared_data("caliper-v1p1")  # fails in CI when missing


def _envelope(*events: Any) -> dict[str, Any]:
    return {
        "sensor": "https://example.edu/sensors/1",
        "sendTime": "2016-11-15T10:15:01.000Z",
        "dataVersion": V1P1,
        "data": list(events),
    }


def _fingerprint(rec: dict[str, Any]) -> tuple[Any, ...]:
    return (
        rec["event_id"],
        rec["learner_id"],
        rec["verb"],
        rec["object_id"],
        rec["object_type"],
        rec["occurred_at_ms"],
        json.dumps(rec["result"]),
        json.dumps(rec["context"]),
        rec["source"],
        rec["source_format"],
    )


def test_every_fixture_event_is_accepted_and_normalised_on_kafka(
    gateway, make_key, read_activity
) -> None:
    data = _data()
    key = make_key("lms", formats=("caliper",))
    envelopes: list[dict[str, Any]] = [
        _envelope(json.loads(p.read_text())) for p in sorted(data.glob("caliperEvent*.json"))
    ]
    envelopes += [
        json.loads(p.read_text())
        for p in sorted(data.glob("caliperEnvelope*.json"))
        if "Entity" not in p.name and "Mixed" not in p.name
    ]
    # Rejected first: none of their events may reach the topic.
    rejected = [
        json.loads(p.read_text())
        for p in sorted(data.glob("caliperEnvelope*.json"))
        if "Entity" in p.name or "Mixed" in p.name
    ]
    for env in rejected:
        r = gateway.client.post("/caliper", json=env, headers=key.bearer)
        assert r.status_code == 422, r.text
        assert all("is not an event" in e["error"] for e in r.json()["errors"])
    expected: Counter[tuple[Any, ...]] = Counter()
    for env in envelopes:
        r = gateway.client.post("/caliper", json=env, headers=key.bearer)
        assert r.status_code == 200, r.text
        assert r.json()["ids"] == [e["id"] for e in env["data"]]
        for rec in caliper.normalize_events(env["data"], source="lms", received_at_ms=0):
            expected[_fingerprint(rec)] += 1
    n = sum(expected.values())
    assert n >= 57
    got = read_activity(n + 1, timeout=20)  # one more than sent: a leak would show
    assert len(got) == n
    assert Counter(_fingerprint(rec) for _, rec, _ in got) == expected
    for k, rec, headers in got:
        assert k == rec["learner_id"].encode()
        assert headers == {"source": b"lms", "format": b"caliper"}
        assert rec["learner_id"] and rec["verb"] and rec["object_id"]


@pytest.mark.parametrize(
    "name",
    ["caliperEntityPerson.json", "caliperEntityAttempt.json", "caliperEntityVideoObject.json"],
)
def test_entities_are_rejected_with_reason(gateway, make_key, name: str) -> None:
    entity = json.loads((_data() / name).read_text())
    r = gateway.client.post("/caliper", json=_envelope(entity), headers=make_key().bearer)
    assert r.status_code == 422
    [err] = r.json()["errors"]
    assert err["path"] == "/data/0"
    assert err["error"].startswith(f"entity of type {entity['type']} is not an event")
