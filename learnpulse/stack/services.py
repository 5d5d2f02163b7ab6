"""Start the infrastructure of the embedded stack: Tansu and Redis (with ACL users)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from learnpulse.stack.procs import Proc, StackError, check_port, redis_binary, tansu_binary


def start_tansu(port: int, workdir: Path, timeout: float = 30.0) -> Proc:
    """A Tansu broker with memory storage on 127.0.0.1:port, ready for clients."""
    check_port(port, "Kafka broker (Tansu)")
    url = f"tcp://127.0.0.1:{port}"
    proc = Proc(
        "tansu",
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        workdir / "tansu.log",
        env={"RUST_LOG": "warn"},
    ).start()
    proc.wait_ready(lambda: kafka_ready(f"127.0.0.1:{port}"), timeout, "accepting Kafka requests")
    return proc


def kafka_ready(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    # log_level 0: connection-refused noise is expected while the broker boots.
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000, "log_level": 0})
    md = admin.list_topics(timeout=2)
    return len(md.brokers) > 0


@dataclass(frozen=True)
class RedisUsers:
    """Per-role Redis credentials created by the stack (docs/redis-contract.md)."""

    admin_password: str
    worker_password: str
    frontend_password: str
    ingest_password: str

    @staticmethod
    def generate() -> RedisUsers:
        return RedisUsers(*(secrets.token_urlsafe(18) for _ in range(4)))


# Front-ends may only read LearnPulse keys and listen on LearnPulse channels.
FRONTEND_COMMANDS = (
    "+get +mget +strlen +exists +ttl +pttl +type +hget +hgetall +hmget +hlen "
    "+xread +xrange +xrevrange +xlen +zrange +zscore +zcard +subscribe +psubscribe "
    "+unsubscribe +punsubscribe +ping +hello +auth +client|setname +client|id +select "
    "+readonly +info"
)


def acl_lines(users: RedisUsers) -> list[str]:
    """The ACL file: default user off, one user per component, least privilege."""
    return [
        "user default off",
        f"user lp-admin on >{users.admin_password} ~* &* +@all",
        # Workers write only LearnPulse keys; no admin or dangerous commands, but
        # scripting stays (the silence index claims due learners atomically with Lua).
        f"user lp-worker on >{users.worker_password} ~lp:* resetchannels &lp:* "
        "+@all -@dangerous -@admin +info +eval +evalsha +script|load",
        f"user lp-ingest on >{users.ingest_password} ~lp:xapi:* ~lp:ingest:* resetchannels &lp:* "
        "+@read +@write +@string +@hash +@connection -@dangerous -@admin",
        f"user lp-frontend on >{users.frontend_password} ~lp:* resetchannels &lp:* "
        f"-@all {FRONTEND_COMMANDS}",
    ]


def start_redis(port: int, workdir: Path, users: RedisUsers, timeout: float = 20.0) -> Proc:
    """A redis-server on 127.0.0.1:port without persistence, users from an ACL file."""
    check_port(port, "Redis")
    workdir.mkdir(parents=True, exist_ok=True)
    aclfile = workdir / "users.acl"
    aclfile.write_text("\n".join(acl_lines(users)) + "\n")
    aclfile.chmod(0o600)
    proc = Proc(
        "redis",
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--aclfile",
            str(aclfile),
            "--protected-mode",
            "yes",
        ],
        workdir / "redis.log",
    ).start()

    def ping() -> bool:
        import redis

        r = redis.Redis(
            host="127.0.0.1",
            port=port,
            username="lp-admin",
            password=users.admin_password,
            socket_timeout=1,
        )
        try:
            return bool(r.ping())
        finally:
            r.close()

    proc.wait_ready(ping, timeout, "answering PING")
    return proc


def redis_url(port: int, user: str, password: str) -> str:
    return f"redis://{user}:{password}@127.0.0.1:{port}/0"


def create_topics(bootstrap: str, topics: dict[str, int], compacted: set[str]) -> None:
    """Create topics with explicit partition counts; existing ones are fine."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [
        NewTopic(
            name,
            num_partitions=n,
            replication_factor=1,
            config={"cleanup.policy": "compact"} if name in compacted else {},
        )
        for name, n in topics.items()
    ]
    for name, fut in admin.create_topics(new, request_timeout=15).items():
        try:
            fut.result(20)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise StackError(f"cannot create topic {name}: {exc}") from exc
