"""The embedded broker and Redis start, and Redis users have least privilege."""

from __future__ import annotations

import pytest
import redis

pytestmark = pytest.mark.integration


def test_topics_created_with_partitions(kafka_bootstrap: str, topics) -> None:
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    for name, n in topics.all().items():
        assert name in md.topics, name
        assert len(md.topics[name].partitions) == n


def test_frontend_user_is_read_only(redis_server) -> None:
    worker = redis.Redis.from_url(redis_server.worker_url)
    front = redis.Redis.from_url(redis_server.frontend_url)
    worker.set("lp:{acl-1}:reco", b'{"v":1}')
    assert front.get("lp:{acl-1}:reco") == b'{"v":1}'
    for forbidden in (
        lambda: front.set("lp:{acl-1}:reco", "x"),
        lambda: front.delete("lp:{acl-1}:reco"),
        lambda: front.keys("*"),
        lambda: front.scan(0),
        lambda: front.flushall(),
        lambda: front.config_get("*"),
        lambda: front.eval("return 1", 0),
        lambda: front.get("not-learnpulse"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            forbidden()
    assert front.get("lp:{acl-1}:reco") == b'{"v":1}'


def test_worker_user_writes_only_learnpulse_keys(redis_server) -> None:
    worker = redis.Redis.from_url(redis_server.worker_url)
    worker.set("lp:{acl-2}:state", "{}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        worker.set("elsewhere", "x")
    with pytest.raises(redis.exceptions.NoPermissionError):
        worker.flushall()


def test_default_user_is_disabled(redis_server) -> None:
    anon = redis.Redis(host="127.0.0.1", port=redis_server.port)
    with pytest.raises(redis.exceptions.RedisError):
        anon.ping()
