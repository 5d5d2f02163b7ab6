"""The front-end Redis user reads and listens; it cannot write or run dangerous commands."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis.exceptions import NoPermissionError

from learnpulse import keys
from learnpulse.reader import AsyncLearnPulseReader, LearnPulseReader, UnknownVersion

pytestmark = pytest.mark.integration

RECO = b'{"v":1,"learner_id":"acl-a","generated_at_ms":1,"model_version":"m","items":[]}'


@pytest.fixture
def front(redis_server) -> redis.Redis:
    return redis.Redis.from_url(redis_server.frontend_url)


@pytest.fixture
def worker(redis_server) -> redis.Redis:
    return redis.Redis.from_url(redis_server.worker_url)


def test_frontend_cannot_write_learnpulse_keys(front, worker) -> None:
    worker.set(keys.reco("acl-a"), RECO)
    worker.xadd(keys.nudges("acl-a"), {"v": "1", "nudge": "{}"})
    for write in (
        lambda: front.set(keys.reco("acl-a"), "x"),
        lambda: front.delete(keys.reco("acl-a")),
        lambda: front.expire(keys.reco("acl-a"), 1),
        lambda: front.hset(keys.STATS, "events_total", 1),
        lambda: front.xadd(keys.nudges("acl-a"), {"v": "1"}),
        lambda: front.xtrim(keys.nudges("acl-a"), 0),
        lambda: front.publish(keys.live_channel("acl-a"), "fake"),
        lambda: front.rename(keys.reco("acl-a"), keys.state("acl-a")),
    ):
        with pytest.raises(NoPermissionError):
            write()
    assert front.get(keys.reco("acl-a")) == RECO
    assert front.xlen(keys.nudges("acl-a")) == 1


@pytest.mark.parametrize(
    "command",
    [
        ("KEYS", "*"),
        ("SCAN", "0"),
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("CONFIG", "GET", "*"),
        ("CONFIG", "SET", "maxmemory", "1"),
        ("EVAL", "return 1", "0"),
        ("SCRIPT", "LOAD", "return 1"),
        ("DEBUG", "SLEEP", "0"),
        ("MONITOR",),
        ("ACL", "LIST"),
        ("CLIENT", "LIST"),
        ("CLIENT", "KILL", "ID", "1"),
        ("SAVE",),
        ("MIGRATE", "127.0.0.1", "1", "", "0", "100", "KEYS", "lp:{acl-a}:reco"),
    ],
)
def test_frontend_cannot_run_dangerous_commands(front, command: tuple[str, ...]) -> None:
    with pytest.raises(NoPermissionError):
        front.execute_command(*command)


def test_frontend_reads_only_learnpulse_keys_and_channels(front, redis_server) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    admin.set("billing:secret", "x")
    with pytest.raises(NoPermissionError):
        front.get("billing:secret")
    p = front.pubsub()
    with pytest.raises(NoPermissionError):
        p.subscribe("billing-events")
        p.get_message(timeout=1)
    p.close()


def test_frontend_reads_and_subscribes_through_the_reader(redis_server, worker) -> None:
    worker.set(keys.reco("acl-b"), RECO.replace(b"acl-a", b"acl-b"))
    worker.set(keys.state("acl-b"), b'{"v":1,"learner_id":"acl-b","streak_days":3}')
    for i in range(3):
        worker.xadd(keys.nudges("acl-b"), {"v": "1", "nudge": f'{{"nudge_id":"n{i}"}}'})
    with LearnPulseReader(redis_server.frontend_url) as reader:
        reco, state = reader.recommendations("acl-b"), reader.state("acl-b")
        assert reco is not None and reco["learner_id"] == "acl-b"
        assert state is not None and state["streak_days"] == 3
        assert [n["nudge_id"] for n in reader.nudges("acl-b", 2)] == ["n2", "n1"]
        assert reader.recommendations("nobody") is None
        with reader.subscribe("acl-b", timeout=3) as updates:
            # Subscribed and confirmed: a message published now must arrive.
            worker.publish(
                keys.live_channel("acl-b"), b'{"type":"nudge","value":{"nudge_id":"live-1"}}'
            )
            got = next(iter(updates), None)
        assert got is not None and got.type == "nudge" and got.value["nudge_id"] == "live-1"


def test_unknown_version_in_redis_is_a_clear_error(redis_server, worker) -> None:
    worker.set(keys.reco("acl-c"), b'{"v":7,"items":[]}')
    with (
        LearnPulseReader(redis_server.frontend_url) as reader,
        pytest.raises(UnknownVersion, match="version 7"),
    ):
        reader.recommendations("acl-c")


def test_async_reader(redis_server, worker) -> None:
    worker.set(keys.reco("acl-d"), RECO.replace(b"acl-a", b"acl-d"))

    async def run() -> tuple[str, str]:
        async with AsyncLearnPulseReader(redis_server.frontend_url) as reader:
            reco = await reader.recommendations("acl-d")
            async with reader.subscribe("acl-d", timeout=3) as updates:
                worker.publish(keys.live_channel("acl-d"), b'{"type":"reco","value":{"v":1}}')
                got = await anext(aiter(updates), None)
            assert reco is not None and got is not None
            return reco["learner_id"], got.type

    assert asyncio.run(run()) == ("acl-d", "reco")
