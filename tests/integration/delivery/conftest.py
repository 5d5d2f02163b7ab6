"""A real delivery API (uvicorn on a free loopback port) on this test's topics and Redis."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from learnpulse.stack.procs import free_port
from learnpulse.topics import Topics
from services.delivery.app import create_app
from services.delivery.settings import DeliverySettings
from services.delivery.tokens import mint


@dataclass
class Api:
    url: str
    secret: bytes
    settings: DeliverySettings
    server: uvicorn.Server

    def token(self, learner_id: str, ttl_s: int = 600) -> str:
        return mint(self.secret, learner_id, ttl_s)

    def headers(self, learner_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(learner_id)}"}


def _serve(settings: DeliverySettings) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="delivery-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("delivery API did not start")
        time.sleep(0.02)
    return server, thread


@pytest.fixture
def start_api(redis_server, kafka_bootstrap: str) -> Iterator[Callable[..., Api]]:
    """Start the API for some topics: ``start_api(topics, heartbeat_s=0.2, ...)``."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(topics: Topics, **overrides: object) -> Api:
        secret = secrets.token_urlsafe(24)
        values: dict[str, object] = {
            "redis_url": redis_server.frontend_url,
            "kafka_bootstrap": kafka_bootstrap,
            "topic_prefix": topics.prefix,
            "token_secret": secret,
            "port": free_port(),
        }
        values.update(overrides)
        settings = DeliverySettings(**values)  # type: ignore[arg-type]
        server, thread = _serve(settings)
        running.append((server, thread))
        return Api(f"http://127.0.0.1:{settings.port}", secret.encode(), settings, server)

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(15)
