"""xAPI statement identity: re-sends have no effect, conflicts are 409, across gateways."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from typing import Any

import httpx
import pytest

from services.ingest import metrics
from services.ingest.app import create_app

pytestmark = pytest.mark.integration

ADL = "http://adlnet.gov/expapi/verbs/"
XV = {"X-Experience-API-Version": "1.0.3"}


def _duplicates() -> float:
    return metrics.EVENTS.labels("xapi", "duplicate")._value.get()


@pytest.mark.slow
def test_ten_thousand_resends_store_one_event(
    make_gateway, make_key, new_statement, read_activity
) -> None:
    gw = make_gateway(rate_per_s=1e6, burst=1_000_000)
    key = make_key("lms")
    s = new_statement()
    sends, concurrency = 10_000, 100
    before = _duplicates()

    async def run() -> list[int]:
        app = create_app(gw.settings)
        statuses: list[int] = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gw", headers={**key.basic, **XV}
            ) as client:

                async def send_until_stored() -> None:
                    while True:
                        r = await client.post("/xapi/statements", json=s)
                        statuses.append(r.status_code)
                        if r.status_code == 200:
                            assert r.json() == [s["id"]]
                            return
                        # 503 only while the first copy is in flight to Kafka.
                        assert r.status_code == 503, r.text
                        await asyncio.sleep(0.05)

                for _ in range(sends // concurrency):  # waves of concurrent re-sends
                    await asyncio.gather(*(send_until_stored() for _ in range(concurrency)))
        return statuses

    started = time.monotonic()
    statuses = asyncio.run(run())
    elapsed = time.monotonic() - started
    assert statuses.count(200) == sends
    assert _duplicates() - before == sends - 1
    got = read_activity(2, timeout=8)
    assert [rec["event_id"] for _, rec, _ in got] == [s["id"]]
    assert elapsed < 120, f"10,000 re-sends took {elapsed:.0f}s"


def test_conflicting_resend_is_409_and_stores_nothing(
    gateway, make_key, new_statement, read_activity
) -> None:
    key = make_key("lms")
    s = new_statement()
    assert gateway.xapi(key, s).status_code == 200
    other = copy.deepcopy(s)
    other["verb"] = {"id": ADL + "failed"}
    fresh = new_statement()
    r = gateway.xapi(key, [fresh, other])  # whole batch refused, fresh one included
    assert r.status_code == 409
    assert r.json()["errors"] == [
        {"path": "/1/id", "error": f"statement {s['id']} already stored with different content"}
    ]
    # The fresh statement's claim was released: it can be stored later.
    assert gateway.xapi(key, [fresh]).json() == [fresh["id"]]
    got = read_activity(3, timeout=8)
    assert sorted(rec["event_id"] for _, rec, _ in got) == sorted([s["id"], fresh["id"]])
    assert {rec["verb"] for _, rec, _ in got} == {"completed"}


def test_resend_in_a_batch_with_new_statements(
    gateway, make_key, new_statement, read_activity
) -> None:
    key = make_key("lms")
    old, new = new_statement(), new_statement()
    assert gateway.xapi(key, [old]).status_code == 200
    r = gateway.xapi(key, [new, old])
    assert r.status_code == 200 and r.json() == [new["id"], old["id"]]
    got = read_activity(3, timeout=8)
    assert sorted(rec["event_id"] for _, rec, _ in got) == sorted([old["id"], new["id"]])


def test_identity_holds_across_gateway_processes(
    make_gateway, make_key, new_statement, read_activity
) -> None:
    a, b = make_gateway(), make_gateway()  # two apps, two producers, one Redis
    key = make_key("lms")
    s = new_statement()
    assert a.xapi(key, s).status_code == 200
    assert b.xapi(key, s).status_code == 200  # identical: accepted, no effect
    changed = {**s, "timestamp": "2024-05-02T10:00:00Z"}
    assert b.xapi(key, changed).status_code == 409
    got = read_activity(2, timeout=8)
    assert [rec["event_id"] for _, rec, _ in got] == [s["id"]]


def test_put_statement(gateway, make_key, new_statement, read_activity) -> None:
    key = make_key("lms")
    sid = str(uuid.uuid4())
    body: dict[str, Any] = new_statement()
    body.pop("id")
    url = f"/xapi/statements?statementId={sid}"
    headers = {**key.basic, **XV}
    assert gateway.client.put(url, json=body, headers=headers).status_code == 204
    assert gateway.client.put(url, json=body, headers=headers).status_code == 204
    # The same statement POSTed with its id is the same statement too.
    assert gateway.xapi(key, {**body, "id": sid}).json() == [sid]
    body["object"] = {"id": "https://lms.example.com/courses/2"}
    assert gateway.client.put(url, json=body, headers=headers).status_code == 409
    got = read_activity(2, timeout=8)
    assert [rec["event_id"] for _, rec, _ in got] == [sid]
    assert got[0][1]["object_id"] == "https://lms.example.com/courses/1"


def test_statements_without_id_get_distinct_ids(gateway, make_key, read_activity) -> None:
    key = make_key("lms")
    body = {
        "actor": {"mbox": "mailto:ada@example.org"},
        "verb": {"id": ADL + "experienced"},
        "object": {"id": "https://lms.example.com/v/1"},
    }
    ids = gateway.xapi(key, [body, body]).json()
    assert len(ids) == 2 and ids[0] != ids[1]
    got = read_activity(2, timeout=20)
    assert sorted(rec["event_id"] for _, rec, _ in got) == sorted(ids)
    assert {rec["verb"] for _, rec, _ in got} == {"viewed"}
    assert all("ada@example.org" not in str(rec) for _, rec, _ in got)
