"""Session fixtures: one real Tansu broker and one real Redis per test session.

Every test gets its own topic prefix (``topics``) and group ids, so tests share
the broker without seeing each other's data (group joins cost seconds on Tansu).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from learnpulse.stack.procs import Proc, free_port
from learnpulse.stack.services import (
    RedisUsers,
    create_topics,
    redis_url,
    start_redis,
    start_tansu,
)
from learnpulse.topics import Topics

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()
ARTIFACTS = ROOT / "artifacts"


def shared_data(*parts: str) -> Path:
    """Path to the team's real data; fail (never skip) in CI when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = f"shared data missing: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_dir: Path) -> Iterator[str]:
    """A real Tansu broker (memory storage) on a free loopback port."""
    port = free_port()
    proc = start_tansu(port, stack_dir / "tansu")
    yield f"127.0.0.1:{port}"
    proc.stop()


@dataclass(frozen=True)
class RedisServer:
    port: int
    users: RedisUsers
    proc: Proc

    @property
    def url(self) -> str:
        """Admin connection (tests set up and inspect with it)."""
        return redis_url(self.port, "lp-admin", self.users.admin_password)

    @property
    def worker_url(self) -> str:
        return redis_url(self.port, "lp-worker", self.users.worker_password)

    @property
    def frontend_url(self) -> str:
        return redis_url(self.port, "lp-frontend", self.users.frontend_password)

    @property
    def ingest_url(self) -> str:
        return redis_url(self.port, "lp-ingest", self.users.ingest_password)


@pytest.fixture(scope="session")
def redis_server(stack_dir: Path) -> Iterator[RedisServer]:
    """A real redis-server with the stack's ACL users (default user off)."""
    users = RedisUsers.generate()
    port = free_port()
    proc = start_redis(port, stack_dir / "redis", users)
    yield RedisServer(port, users, proc)
    proc.stop()


@pytest.fixture
def redis_url_admin(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def unique_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topics(kafka_bootstrap: str, unique_id: str) -> Topics:
    """This test's own topics, created on the shared broker."""
    t = Topics(prefix=f"t{unique_id}.", partitions=2)
    create_topics(kafka_bootstrap, t.all(), t.compacted())
    return t


Consumed = list[tuple[bytes | None, bytes | None, dict[str, bytes]]]


def _headers(raw: Any) -> dict[str, bytes]:
    items = raw.items() if isinstance(raw, dict) else (raw or [])
    return {k: v.encode() if isinstance(v, str) else (v or b"") for k, v in items}


@pytest.fixture
def consume_all(kafka_bootstrap: str) -> Callable[..., Consumed]:
    """Read a topic from the beginning until ``n`` records or ``timeout`` seconds."""

    def consume(topic: str, n: int, timeout: float = 30.0) -> Consumed:
        from confluent_kafka import Consumer

        c = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                "fetch.wait.max.ms": 20,
            }
        )
        c.subscribe([topic])
        out: Consumed = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < n and time.monotonic() < deadline:
                for m in c.consume(500, 0.2):
                    if m.error():
                        continue
                    headers = _headers(m.headers())
                    out.append((m.key(), m.value(), headers))
        finally:
            c.close()
        return out

    return consume


@dataclass
class WorkerHandle:
    proc: Proc
    env: dict[str, str]

    def stop(self) -> int | None:
        return self.proc.stop()

    def restart(self) -> WorkerHandle:
        self.proc.stop()
        self.proc = Proc(self.proc.name, self.proc.argv, self.proc.log_path, env=self.env).start()
        return self


@pytest.fixture
def start_worker(
    kafka_bootstrap: str, redis_server: RedisServer, tmp_path: Path, unique_id: str
) -> Iterator[Callable[..., WorkerHandle]]:
    """Start real stream workers (``python -m streams``) on this test's topics."""
    import sys

    started: list[WorkerHandle] = []

    def start(topics: Topics, name: str = "w0", **extra: str) -> WorkerHandle:
        env = {
            "LEARNPULSE_STREAMS_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "LEARNPULSE_STREAMS_REDIS_URL": redis_server.worker_url,
            "LEARNPULSE_STREAMS_TOPIC_PREFIX": topics.prefix,
            "LEARNPULSE_STREAMS_PARTITIONS": str(topics.partitions),
            "LEARNPULSE_STREAMS_APP_ID": f"lp-test-{unique_id}",
            "LEARNPULSE_STREAMS_DATA_DIR": str(tmp_path / name),
            "LEARNPULSE_STREAMS_SESSION_TIMEOUT_S": "6",
        }
        env.update({f"LEARNPULSE_STREAMS_{k.upper()}": v for k, v in extra.items()})
        log = ARTIFACTS / "logs" / f"{unique_id}-{name}.log"
        proc = Proc(name, [sys.executable, "-m", "streams"], log, env=env).start()
        handle = WorkerHandle(proc, env)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()
