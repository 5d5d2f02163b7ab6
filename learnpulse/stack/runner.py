"""The embedded stack: broker, Redis, topics, stream workers and HTTP services.

Everything binds to 127.0.0.1 on configured or free ports. Children are started
in their own sessions and stopped by their own PIDs, newest first.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from learnpulse.stack.procs import Proc, StackError, check_port, free_port
from learnpulse.stack.services import (
    RedisUsers,
    create_topics,
    redis_url,
    start_redis,
    start_tansu,
)
from learnpulse.topics import Topics


@dataclass
class StackConfig:
    workdir: Path
    kafka_port: int = 0  # 0 = a free port
    redis_port: int = 0
    ingest_port: int = 0
    delivery_port: int = 0
    workers: int = 1
    partitions: int = 4
    topic_prefix: str = "lp."
    app_id: str = "learnpulse-streams"
    with_http: bool = True


def _port(p: int) -> int:
    return p or free_port()


@dataclass
class EmbeddedStack:
    config: StackConfig
    say: Callable[[str], None] = print
    procs: list[Proc] = field(default_factory=list)
    users: RedisUsers = field(default_factory=RedisUsers.generate)
    token_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    kafka_bootstrap: str = ""
    redis_port: int = 0
    endpoints: dict[str, str] = field(default_factory=dict)
    worker_procs: list[Proc] = field(default_factory=list)

    @property
    def topics(self) -> Topics:
        return Topics(self.config.topic_prefix, self.config.partitions)

    def redis(self, user: str) -> str:
        pw = {
            "lp-admin": self.users.admin_password,
            "lp-worker": self.users.worker_password,
            "lp-frontend": self.users.frontend_password,
            "lp-ingest": self.users.ingest_password,
        }[user]
        return redis_url(self.redis_port, user, pw)

    def start(self) -> EmbeddedStack:
        c = self.config
        c.workdir = c.workdir.resolve()
        c.workdir.mkdir(parents=True, exist_ok=True)
        for port, what in (
            (c.kafka_port, "Kafka broker"),
            (c.redis_port, "Redis"),
            (c.ingest_port, "ingest gateway"),
            (c.delivery_port, "delivery API"),
        ):
            if port:
                check_port(port, what)  # fail before starting anything
        kafka_port = _port(c.kafka_port)
        self.say(f"starting Tansu broker on 127.0.0.1:{kafka_port}")
        self.procs.append(start_tansu(kafka_port, c.workdir / "tansu"))
        self.kafka_bootstrap = f"127.0.0.1:{kafka_port}"
        self.redis_port = _port(c.redis_port)
        self.say(f"starting Redis on 127.0.0.1:{self.redis_port} (ACL users, default user off)")
        self.procs.append(start_redis(self.redis_port, c.workdir / "redis", self.users))
        self.endpoints["kafka"] = self.kafka_bootstrap
        self.endpoints["redis"] = f"127.0.0.1:{self.redis_port}"
        self.say(f"creating {len(self.topics.all())} topics")
        create_topics(self.kafka_bootstrap, self.topics.all(), self.topics.compacted())
        for i in range(c.workers):
            self.start_worker(i)
        if c.with_http:
            self._start_http()
        return self

    def worker_env(self, i: int, metrics_port: int) -> dict[str, str]:
        c = self.config
        return {
            "LEARNPULSE_STREAMS_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "LEARNPULSE_STREAMS_REDIS_URL": self.redis("lp-worker"),
            "LEARNPULSE_STREAMS_TOPIC_PREFIX": c.topic_prefix,
            "LEARNPULSE_STREAMS_PARTITIONS": str(c.partitions),
            "LEARNPULSE_STREAMS_APP_ID": c.app_id,
            "LEARNPULSE_STREAMS_DATA_DIR": str(c.workdir / f"worker-{i}"),
            "LEARNPULSE_STREAMS_METRICS_PORT": str(metrics_port),
        }

    def start_worker(self, i: int) -> Proc:
        metrics_port = free_port()
        proc = Proc(
            f"worker-{i}",
            [sys.executable, "-m", "streams"],
            self.config.workdir / f"worker-{i}.log",
            env=self.worker_env(i, metrics_port),
        ).start()
        self.say(f"started stream worker {i} (pid {proc.pid})")
        self.endpoints[f"worker-{i} metrics"] = f"http://127.0.0.1:{metrics_port}/metrics"
        self.procs.append(proc)
        if i < len(self.worker_procs):
            self.worker_procs[i] = proc
        else:
            self.worker_procs.append(proc)
        return proc

    def _start_http(self) -> None:
        c = self.config
        common = {"KAFKA_BOOTSTRAP": self.kafka_bootstrap, "TOPIC_PREFIX": c.topic_prefix}
        if importlib.util.find_spec("services.ingest.__main__") is not None:
            port = _port(c.ingest_port)
            env = {f"LEARNPULSE_INGEST_{k}": v for k, v in common.items()}
            env.update(
                {
                    "LEARNPULSE_INGEST_PORT": str(port),
                    "LEARNPULSE_INGEST_REDIS_URL": self.redis("lp-ingest"),
                }
            )
            self._start_http_proc("ingest", "services.ingest", port, env)
        port = _port(c.delivery_port)
        env = {f"LEARNPULSE_DELIVERY_{k}": v for k, v in common.items()}
        env.update(
            {
                "LEARNPULSE_DELIVERY_PORT": str(port),
                "LEARNPULSE_DELIVERY_REDIS_URL": self.redis("lp-frontend"),
                "LEARNPULSE_DELIVERY_TOKEN_SECRET": self.token_secret,
            }
        )
        self._start_http_proc("delivery", "services.delivery", port, env)

    def _start_http_proc(self, name: str, module: str, port: int, env: dict[str, str]) -> None:
        proc = Proc(
            name, [sys.executable, "-m", module], self.config.workdir / f"{name}.log", env=env
        ).start()
        self.procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        proc.wait_ready(lambda: _http_ok(f"{base}/healthz"), 30, "answering /healthz")
        self.endpoints[name] = base
        self.endpoints[f"{name} metrics"] = f"{base}/metrics"
        self.say(f"{name} listening on {base}")

    def dev_ingest_key(self, tool: str = "dev-tool") -> str | None:
        """Create a development API key on the gateway (the embedded Redis is not
        persistent, so keys last as long as the stack). Returns the token."""
        if "ingest" not in self.endpoints:
            return None
        import time

        import redis

        from services.ingest.keystore import KeyStore, new_credential

        cred, token = new_credential(
            tool, note="embedded stack development key", now_ms=int(time.time() * 1000)
        )
        client = redis.Redis.from_url(self.redis("lp-admin"))
        try:
            KeyStore(client).add(cred)
        finally:
            client.close()
        return token

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()

    def write_state(self) -> Path:
        """Endpoints for other terminals (`learnpulse status`); no secrets written."""
        path = self.config.workdir / "stack.json"
        path.write_text(
            json.dumps(
                {"endpoints": self.endpoints, "pids": {p.name: p.pid for p in self.procs}}, indent=2
            )
        )
        return path


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
        return bool(resp.status == 200)


__all__ = ["EmbeddedStack", "StackConfig", "StackError"]
