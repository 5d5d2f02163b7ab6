"""Each learner reads only their own data: 401 without a valid token, 403 for someone else's."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from learnpulse import keys
from services.delivery.tokens import mint

pytestmark = pytest.mark.integration


def reco(learner: str, title: str) -> bytes:
    return (
        b'{"v":1,"learner_id":"%s","generated_at_ms":1,"model_version":"m","items":'
        b'[{"content_id":"c1","title":"%s","score":1.0,"source":"continue","reasons":[]}]}'
        % (learner.encode(), title.encode())
    )


@pytest.fixture
def api(start_api, topics, redis_server):
    w = redis.Redis.from_url(redis_server.worker_url)
    w.set(keys.reco("alice"), reco("alice", "Alice's course"))
    w.set(keys.reco("bob"), reco("bob", "Bob's course"))
    w.set(keys.state("alice"), b'{"v":1,"learner_id":"alice","streak_days":4}')
    return start_api(topics, cors_origins="https://portal.example")


def test_own_data_by_me_and_by_id(api) -> None:
    for path in ("/v1/me/recommendations", "/v1/learners/alice/recommendations"):
        r = httpx.get(api.url + path, headers=api.headers("alice"))
        assert r.status_code == 200, r.text
        assert r.json()["items"][0]["title"] == "Alice's course"
    r = httpx.get(api.url + "/v1/me/state", headers=api.headers("alice"))
    assert r.json()["streak_days"] == 4
    # EventSource cannot send headers: the token may come as ?token=.
    r = httpx.get(api.url + "/v1/me/recommendations", params={"token": api.token("bob")})
    assert r.json()["items"][0]["title"] == "Bob's course"


@pytest.mark.parametrize("path", ["recommendations", "state", "nudges", "events"])
def test_another_learners_data_is_forbidden(api, path: str) -> None:
    r = httpx.get(f"{api.url}/v1/learners/bob/{path}", headers=api.headers("alice"))
    assert r.status_code == 403
    assert "Bob" not in r.text


def test_feedback_for_another_learner_is_forbidden(api) -> None:
    r = httpx.post(
        f"{api.url}/v1/learners/bob/feedback",
        headers=api.headers("alice"),
        json={"type": "click", "content_id": "c1"},
    )
    assert r.status_code == 403


@pytest.mark.parametrize("how", ["missing", "forged", "expired", "garbage", "basic"])
def test_bad_credentials_are_401(api, how: str) -> None:
    headers = {
        "missing": {},
        "forged": {"Authorization": "Bearer " + mint(b"not-the-api-secret-123", "alice")},
        "expired": {
            "Authorization": "Bearer " + mint(api.secret, "alice", ttl_s=1, now=time.time() - 10)
        },
        "garbage": {"Authorization": "Bearer abc.def"},
        "basic": {"Authorization": "Basic YWxpY2U6cHc="},
    }[how]
    for path in ("/v1/me/recommendations", "/v1/learners/alice/state", "/v1/me/events"):
        r = httpx.get(api.url + path, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "Alice" not in r.text


def test_no_recommendations_yet_is_404_not_someone_elses(api) -> None:
    r = httpx.get(api.url + "/v1/me/recommendations", headers=api.headers("carol"))
    assert r.status_code == 404
    assert r.json()["learner_id"] == "carol"


def test_unknown_value_version_is_a_clear_error(api, redis_server) -> None:
    redis.Redis.from_url(redis_server.worker_url).set(keys.reco("dave"), b'{"v":9}')
    r = httpx.get(api.url + "/v1/me/recommendations", headers=api.headers("dave"))
    assert r.status_code == 500
    assert "version 9" in r.json()["error"]


def test_nudges_newest_first_and_count_checked(api, redis_server) -> None:
    w = redis.Redis.from_url(redis_server.worker_url)
    for i in range(4):
        w.xadd(keys.nudges("erin"), {"v": "1", "nudge": f'{{"nudge_id":"n{i}","message":"m{i}"}}'})
    r = httpx.get(api.url + "/v1/me/nudges", params={"count": 3}, headers=api.headers("erin"))
    assert [n["nudge_id"] for n in r.json()["nudges"]] == ["n3", "n2", "n1"]
    bad = httpx.get(
        api.url + "/v1/me/nudges", params={"count": "lots"}, headers=api.headers("erin")
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["path"] == "?count"


def test_cors_only_for_configured_origins(api) -> None:
    pre = httpx.options(
        api.url + "/v1/me/recommendations",
        headers={
            "Origin": "https://portal.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://portal.example"
    ok = httpx.get(
        api.url + "/v1/me/recommendations",
        headers={**api.headers("alice"), "Origin": "https://portal.example"},
    )
    assert ok.headers["access-control-allow-origin"] == "https://portal.example"
    other = httpx.get(
        api.url + "/v1/me/recommendations",
        headers={**api.headers("alice"), "Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_metrics_by_route_never_by_learner(api) -> None:
    httpx.get(api.url + "/v1/learners/alice/recommendations", headers=api.headers("alice"))
    httpx.get(api.url + "/v1/learners/bob/recommendations", headers=api.headers("alice"))
    text = httpx.get(api.url + "/metrics").text
    assert 'route="/v1/learners/{learner_id}/recommendations"' in text
    assert "learnpulse_delivery_sse_clients" in text
    assert "alice" not in text and "bob" not in text


def test_pages_and_ops_stats(api, redis_server) -> None:
    page = httpx.get(api.url + "/")
    assert page.status_code == 200 and "Recommended for you" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(api.url + "/static/learner.js").status_code == 200
    assert "Events processed" in httpx.get(api.url + "/ops").text
    redis.Redis.from_url(redis_server.url).hset(
        keys.STATS,
        mapping={"events_total": 1200, "recos_total": 300, "nudges_total": 7, "updated_at_ms": 5},
    )
    stats = httpx.get(api.url + "/v1/ops/stats").json()
    assert stats["pipeline"] == {
        "events_total": 1200,
        "recos_total": 300,
        "nudges_total": 7,
        "updated_at_ms": 5,
    }
    assert httpx.get(api.url + "/healthz").json() == {"ok": True}
