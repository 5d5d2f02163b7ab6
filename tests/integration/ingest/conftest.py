"""Fixtures for the ingest gateway against the real broker and Redis.

The gateway runs in-process (Starlette TestClient, which runs the app's
lifespan: a real confluent-kafka producer and a real Redis client as the
least-privilege ``lp-ingest`` user); keys are created with the same user.
"""

from __future__ import annotations

import base64
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

with warnings.catch_warnings():  # "use httpx2": not installed here, httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import schemas
from learnpulse.topics import Topics
from services.ingest.app import create_app
from services.ingest.keystore import KeyStore, new_credential
from services.ingest.settings import IngestSettings


@dataclass
class Key:
    key_id: str
    secret: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key_id}.{self.secret}"}

    @property
    def basic(self) -> dict[str, str]:
        raw = base64.b64encode(f"{self.key_id}:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}


@dataclass
class Gateway:
    client: TestClient
    topics: Topics
    settings: IngestSettings

    def xapi(self, key: Key, body: Any, version: str | None = "1.0.3", **headers: str) -> Any:
        h = {**key.basic, **headers}
        if version is not None:
            h["X-Experience-API-Version"] = version
        return self.client.post("/xapi/statements", json=body, headers=h)


@pytest.fixture(scope="session")
def key_store(redis_server: Any) -> Iterator[KeyStore]:
    r = redis.Redis.from_url(redis_server.ingest_url)
    yield KeyStore(r)
    r.close()


@pytest.fixture(scope="session")
def make_key(key_store: KeyStore) -> Callable[..., Key]:
    def make(tool: str = "lms", **scope: Any) -> Key:
        cred, token = new_credential(tool, **scope)
        key_store.add(cred)
        key_id, secret = token.split(".", 1)
        return Key(key_id, secret)

    return make


@pytest.fixture
def make_gateway(
    kafka_bootstrap: str, redis_server: Any, topics: Topics
) -> Iterator[Callable[..., Gateway]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> Gateway:
        conf: dict[str, Any] = {
            "kafka_bootstrap": kafka_bootstrap,
            "redis_url": redis_server.ingest_url,
            "topic_prefix": topics.prefix,
            "delivery_timeout_s": 10.0,
            "key_cache_s": 0.0,
        }
        conf.update(overrides)
        settings = IngestSettings(**conf)
        client = TestClient(create_app(settings), raise_server_exceptions=True)
        client.__enter__()
        clients.append(client)
        return Gateway(client, topics, settings)

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway()


@pytest.fixture
def read_activity(
    consume_all: Callable[..., Any], topics: Topics
) -> Callable[..., list[tuple[bytes, dict[str, Any], dict]]]:
    """Decoded records on this test's activity topic: (key, record, headers)."""

    def read(n: int, timeout: float = 30.0) -> list[tuple[bytes, dict[str, Any], dict]]:
        return [
            (k, schemas.decode(schemas.ACTIVITY, v), h)
            for k, v, h in consume_all(topics.activity, n, timeout)
        ]

    return read


def statement(sid: str | None = None, **over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "actor": {"account": {"homePage": "https://lms.example.com", "name": "u-1"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://lms.example.com/courses/1"},
        "timestamp": "2024-05-01T10:00:00Z",
    }
    if sid is not None:
        s["id"] = sid
    s.update(over)
    return s


@pytest.fixture
def new_statement() -> Callable[..., dict[str, Any]]:
    def make(**over: Any) -> dict[str, Any]:
        return statement(str(uuid.uuid4()), **over)

    return make
