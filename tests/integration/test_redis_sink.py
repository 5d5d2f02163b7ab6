"""The worker's Redis writes (streams/sink.py) on a real redis-server, as the worker's user."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from learnpulse import keys
from streams.batch import Effects
from streams.sink import CHUNK_VALUES, RedisSink

pytestmark = pytest.mark.integration

TTL_S = 3600


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _db(url: str) -> str:
    # A database of its own: lp:stats is one key per database, and other tests'
    # workers count into database 0.
    return url.rsplit("/", 1)[0] + "/9"


def _effects(tag: str, learners: int) -> Effects:
    fx = Effects()
    for i in range(learners):
        lid = f"{tag}-{i}"
        reco = orjson.dumps({"learner_id": lid, "items": [{"content_id": f"c{i}"}]})
        fx.redis_values[keys.reco(lid)] = reco
        fx.redis_values[keys.state(lid)] = orjson.dumps({"learner_id": lid, "streak_days": i})
        fx.publish.append((keys.live_channel(lid), b'{"type":"reco","value":' + reco + b"}"))
        fx.appended_ms.append(1_700_000_000_000 + i)
    return fx


def test_a_batch_is_written_whole_and_published_after_its_values(redis_server: Any) -> None:
    tag = uuid.uuid4().hex[:8]

    async def go() -> None:
        admin = Redis.from_url(_db(redis_server.url))
        worker = Redis.from_url(_db(redis_server.worker_url))
        fx = _effects(tag, 3)
        fx.nudges.append((f"{tag}-1", {"nudge_id": "n1", "template": "streak.save"}))
        fx.nudges.append((f"{tag}-1", {"nudge_id": "n2", "template": "path.deadline"}))
        fx.due += [(0, f"{tag}-0", 111), (1, f"{tag}-1", 222), (0, f"{tag}-2", 333)]
        fx.due.append((0, f"{tag}-0", 444))  # moved again later in the batch: last wins
        before = await admin.hgetall(keys.STATS)

        pubsub = admin.pubsub()
        await pubsub.psubscribe(f"lp:{{{tag}-*}}:live")
        await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        await RedisSink(worker, TTL_S, nudge_maxlen=50).write(fx)

        for key, value in fx.redis_values.items():
            assert await admin.get(key) == value
            assert 0 < await admin.ttl(key) <= TTL_S
        seen: list[tuple[str, bytes]] = []
        while len(seen) < 3:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            assert msg is not None, f"only {len(seen)} of 3 live messages arrived"
            seen.append((msg["channel"].decode(), msg["data"]))
        assert seen == [(ch, m) for ch, m in fx.publish]

        stream: Any = await admin.xrange(keys.nudges(f"{tag}-1"))
        assert [orjson.loads(fields[b"nudge"])["nudge_id"] for _, fields in stream] == ["n1", "n2"]
        assert all(fields[b"v"] == str(keys.VALUE_VERSION).encode() for _, fields in stream)
        assert 0 < await admin.ttl(keys.nudges(f"{tag}-1")) <= TTL_S
        assert await admin.zscore(keys.due_index(0), f"{tag}-0") == 444
        assert await admin.zscore(keys.due_index(0), f"{tag}-2") == 333
        assert await admin.zscore(keys.due_index(1), f"{tag}-1") == 222

        after = await admin.hgetall(keys.STATS)

        def delta(field: bytes) -> int:
            return int(after[field]) - int(before.get(field, 0))

        assert (delta(b"events_total"), delta(b"recos_total"), delta(b"nudges_total")) == (3, 3, 2)
        assert int(after[b"updated_at_ms"]) > 1_700_000_000_000
        await pubsub.aclose()
        await admin.aclose()
        await worker.aclose()

    _run(go())


def test_a_batch_larger_than_one_call_is_written_whole_and_counted_once(redis_server: Any) -> None:
    tag = uuid.uuid4().hex[:8]

    async def go() -> None:
        admin = Redis.from_url(_db(redis_server.url))
        worker = Redis.from_url(_db(redis_server.worker_url))
        learners = CHUNK_VALUES + CHUNK_VALUES // 3  # two values each: three calls
        fx = _effects(tag, learners)
        before = int((await admin.hget(keys.STATS, "recos_total")) or 0)
        await RedisSink(worker, TTL_S, nudge_maxlen=50).write(fx)
        got = await admin.mget(list(fx.redis_values))
        assert got == list(fx.redis_values.values())
        assert int(await admin.hget(keys.STATS, "recos_total") or 0) - before == learners
        await admin.aclose()
        await worker.aclose()

    _run(go())


def test_writes_after_redis_lost_its_scripts(redis_server: Any) -> None:
    tag = uuid.uuid4().hex[:8]

    async def go() -> None:
        admin = Redis.from_url(_db(redis_server.url))
        worker = Redis.from_url(_db(redis_server.worker_url))
        sink = RedisSink(worker, TTL_S, nudge_maxlen=50)
        await sink.write(_effects(tag, 1))
        await admin.script_flush()  # what a restart or a failover to a fresh replica does
        fx = _effects(tag + "b", 2)
        await sink.write(fx)
        assert await admin.mget(list(fx.redis_values)) == list(fx.redis_values.values())
        await admin.aclose()
        await worker.aclose()

    _run(go())
