"""Every rejection rule of the gateway: status, reason, field path; nothing reaches Kafka."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from learnpulse.stack.services import create_topics
from learnpulse.topics import Topics
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.integration

V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"
ADL = "http://adlnet.gov/expapi/verbs/"


@dataclass
class Rules:
    client: TestClient
    topics: Topics
    keys: dict[str, Any]


@pytest.fixture(scope="module")
def rules(
    kafka_bootstrap: str, redis_server: Any, make_key: Callable[..., Any], key_store: Any
) -> Iterator[Rules]:
    topics = Topics(prefix=f"rules{uuid.uuid4().hex[:8]}.", partitions=2)
    create_topics(kafka_bootstrap, topics.all(), topics.compacted())
    settings = IngestSettings(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_server.ingest_url,
        topic_prefix=topics.prefix,
        max_body_bytes=4096,
        max_batch=5,
        key_cache_s=0.0,
    )
    revoked = make_key("lms")
    key_store.revoke(revoked.key_id, 1)
    keys = {
        "all": make_key("lms"),
        "xapi_only": make_key("lms", formats=("xapi",)),
        "completed_only": make_key("lms", verbs=("completed",)),
        "revoked": revoked,
        "slow": make_key("slowtool", rate_per_s=0.5, burst=2),
    }
    with TestClient(create_app(settings)) as client:
        yield Rules(client, topics, keys)


def stmt(**over: Any) -> dict[str, Any]:
    s = {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:ada@example.org"},
        "verb": {"id": ADL + "completed"},
        "object": {"id": "https://lms.example.com/c/1"},
    }
    s.update(over)
    return {k: v for k, v in s.items() if v is not None}


def event(**over: Any) -> dict[str, Any]:
    e = {
        "event_id": str(uuid.uuid4()),
        "learner_id": "u-1",
        "verb": "completed",
        "object_id": "c-1",
        "occurred_at_ms": 1_714_557_600_000,
    }
    e.update(over)
    return e


def caliper_event(**over: Any) -> dict[str, Any]:
    e = {
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": "ViewEvent",
        "actor": "https://example.edu/users/1",
        "action": "Viewed",
        "object": "https://example.edu/docs/1",
        "eventTime": "2024-05-01T10:00:00Z",
    }
    e.update(over)
    return e


def envelope(*data: Any, **over: Any) -> dict[str, Any]:
    env = {
        "sensor": "https://example.edu/sensors/1",
        "sendTime": "2024-05-01T10:00:01Z",
        "dataVersion": V1P1,
        "data": list(data),
    }
    env.update(over)
    return {k: v for k, v in env.items() if v is not None}


XV = {"X-Experience-API-Version": "1.0.3"}
Case = tuple[str, str, str, Any, dict[str, str], int, str, str | None]
# (method, url, key name, JSON body or raw bytes, extra headers, status, reason, error path)
CASES: dict[str, Case] = {
    "xapi version header missing": (
        "POST",
        "/xapi/statements",
        "all",
        [stmt()],
        {},
        400,
        "unsupported_version",
        None,
    ),
    "xapi version unsupported": (
        "POST",
        "/xapi/statements",
        "all",
        [stmt()],
        {"X-Experience-API-Version": "0.95"},
        400,
        "unsupported_version",
        None,
    ),
    "xapi invalid statement rejects batch": (
        "POST",
        "/xapi/statements",
        "all",
        [stmt(), stmt(actor={"mbox": "ada"})],
        XV,
        400,
        "invalid",
        "/1/actor/mbox",
    ),
    "xapi actor required": (
        "POST",
        "/xapi/statements",
        "all",
        stmt(actor=None),
        XV,
        400,
        "invalid",
        "/actor",
    ),
    "xapi duplicate ids in batch": (
        "POST",
        "/xapi/statements",
        "all",
        [
            stmt(id="3a648e68-f00d-4c08-aa59-8738e1884f2c"),
            stmt(id="3a648e68-f00d-4c08-aa59-8738e1884f2c"),
        ],
        XV,
        400,
        "invalid",
        "/1/id",
    ),
    "xapi unparseable timestamp": (
        "POST",
        "/xapi/statements",
        "all",
        [stmt(timestamp="yesterday at noon")],
        XV,
        400,
        "invalid",
        "/0/timestamp",
    ),
    "xapi non-JSON": (
        "POST",
        "/xapi/statements",
        "all",
        b"<xml/>",
        {**XV, "Content-Type": "application/xml"},
        415,
        "unsupported_media_type",
        None,
    ),
    "xapi malformed JSON": (
        "POST",
        "/xapi/statements",
        "all",
        b"[{",
        {**XV, "Content-Type": "application/json"},
        400,
        "malformed",
        None,
    ),
    "xapi body too large": (
        "POST",
        "/xapi/statements",
        "all",
        [stmt(result={"response": "x" * 5000})],
        XV,
        413,
        "too_large",
        None,
    ),
    "xapi batch too large": (
        "POST",
        "/xapi/statements",
        "all",
        [stmt() for _ in range(6)],
        XV,
        413,
        "too_large",
        None,
    ),
    "xapi PUT without statementId": (
        "PUT",
        "/xapi/statements",
        "all",
        stmt(id=None),
        XV,
        400,
        "invalid",
        "?statementId",
    ),
    "xapi PUT id differs": (
        "PUT",
        "/xapi/statements?statementId=" + str(uuid.uuid4()),
        "all",
        stmt(),
        XV,
        400,
        "invalid",
        "/id",
    ),
    "caliper non-JSON": (
        "POST",
        "/caliper",
        "all",
        b"sensor=1",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        None,
    ),
    "caliper envelope without sensor": (
        "POST",
        "/caliper",
        "all",
        envelope(caliper_event(), sensor=None),
        {},
        400,
        "malformed",
        "/sensor",
    ),
    "caliper envelope data not array": (
        "POST",
        "/caliper",
        "all",
        envelope(data={"x": 1}),
        {},
        400,
        "malformed",
        "/data",
    ),
    "caliper unsupported dataVersion": (
        "POST",
        "/caliper",
        "all",
        envelope(caliper_event(), dataVersion="http://purl.imsglobal.org/ctx/caliper/v1p0"),
        {},
        422,
        "unsupported_version",
        "/dataVersion",
    ),
    "caliper entity is not an event": (
        "POST",
        "/caliper",
        "all",
        envelope(caliper_event(), {"id": "https://example.edu/u/1", "type": "Person"}),
        {},
        422,
        "invalid",
        "/data/1",
    ),
    "caliper event missing eventTime": (
        "POST",
        "/caliper",
        "all",
        envelope(caliper_event(eventTime=None)),
        {},
        422,
        "invalid",
        "/data/0/eventTime",
    ),
    "native invalid event": (
        "POST",
        "/v1/events",
        "all",
        [event(), event(learner_id="")],
        {},
        422,
        "invalid",
        "/1/learner_id",
    ),
    "native not an array": ("POST", "/v1/events", "all", event(), {}, 400, "malformed", None),
    "missing credentials": ("POST", "/v1/events", "", [event()], {}, 401, "unauthenticated", None),
    "forged secret": ("POST", "/v1/events", "forged", [event()], {}, 401, "unauthenticated", None),
    "unknown key id": (
        "POST",
        "/v1/events",
        "unknown",
        [event()],
        {},
        401,
        "unauthenticated",
        None,
    ),
    "revoked key": ("POST", "/v1/events", "revoked", [event()], {}, 401, "unauthenticated", None),
    "format not allowed": (
        "POST",
        "/caliper",
        "xapi_only",
        envelope(caliper_event()),
        {},
        403,
        "forbidden",
        None,
    ),
    "verb not allowed (native)": (
        "POST",
        "/v1/events",
        "completed_only",
        [event(), event(verb="viewed")],
        {},
        403,
        "forbidden",
        "/1/verb",
    ),
    "verb not allowed (caliper)": (
        "POST",
        "/caliper",
        "completed_only",
        envelope(caliper_event()),
        {},
        403,
        "forbidden",
        "/data/0/action",
    ),
    "source not allowed": (
        "POST",
        "/v1/events",
        "all",
        [event(source="hr-system")],
        {},
        403,
        "forbidden",
        "/0/source",
    ),
}


def _auth(rules: Rules, name: str, url: str) -> dict[str, str]:
    if not name:
        return {}
    if name in ("forged", "unknown"):
        real = rules.keys["all"]
        kid = real.key_id if name == "forged" else "lpk_0000000000000000"
        return {"Authorization": f"Bearer {kid}.{real.secret}x"}
    key = rules.keys[name]
    return key.basic if url.startswith("/xapi") else key.bearer


def send(
    rules: Rules, method: str, url: str, keyname: str, body: Any, headers: dict[str, str]
) -> Any:
    h = {**_auth(rules, keyname, url), **headers}
    if isinstance(body, bytes):
        return rules.client.request(method, url, content=body, headers=h)
    return rules.client.request(method, url, json=body, headers=h)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_rejection_rule(rules: Rules, case: str) -> None:
    method, url, keyname, body, headers, status, reason, path = CASES[case]
    r = send(rules, method, url, keyname, body, headers)
    assert r.status_code == status, r.text
    payload = r.json()
    assert payload["error"] == reason and payload["message"]
    if path is not None:
        assert path in [e["path"] for e in payload["errors"]], payload
    if status == 401:
        assert r.headers["WWW-Authenticate"].startswith(("Bearer", "Basic"))


def test_rate_limit_answers_429_with_retry_after(rules: Rules) -> None:
    key = rules.keys["slow"]
    first = rules.client.post("/v1/events", json=[event(), event()], headers=key.bearer)
    assert first.status_code == 200, first.text
    second = rules.client.post("/v1/events", json=[event()], headers=key.bearer)
    assert second.status_code == 429
    assert second.json()["error"] == "rate_limited"
    assert int(second.headers["Retry-After"]) >= 1


def test_xapi_answers_carry_the_version_header(rules: Rules) -> None:
    r = send(rules, "POST", "/xapi/statements", "all", [stmt()], XV)
    assert r.status_code == 200
    assert r.headers["X-Experience-API-Version"] == "1.0.3"
    about = rules.client.get("/xapi/about")
    assert about.json() == {"version": ["1.0.3", "2.0.0"]}


def test_rejected_requests_reached_no_topic_and_were_counted(
    rules: Rules, consume_all: Any
) -> None:
    """Runs last in this module: only the 3 accepted events above are on the topic."""
    metrics = rules.client.get("/metrics").text
    for reason in (
        "unauthenticated",
        "forbidden",
        "invalid",
        "malformed",
        "too_large",
        "unsupported_media_type",
        "unsupported_version",
        "rate_limited",
    ):
        assert f'reason="{reason}"' in metrics
    got = consume_all(rules.topics.activity, 4, timeout=10)
    assert len(got) == 3  # the 2 events of the rate-limit test + 1 statement
