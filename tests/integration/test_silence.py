"""The silence index against a real redis-server (session fixture ``redis_server``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from streams.silence import SilenceIndex

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
MIN = 60_000


def _keyfn() -> Callable[[int], str]:
    tag = uuid.uuid4().hex[:8]
    return lambda p: f"lp:due:{{t{tag}p{p}}}"  # this test's own keys, inside the worker ACL


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _fill(index: SilenceIndex, n: int = 1000) -> list[tuple[int, str, int]]:
    items = [(i % 4, f"l{i}", T0 + i * MIN) for i in range(n)]  # l0 due first
    assert await index.schedule(items) == n
    return items


def test_claims_only_due_learners_oldest_first_and_once(redis_server: Any) -> None:
    async def go() -> None:
        r = Redis.from_url(redis_server.worker_url)  # the stream worker's ACL user
        index = SilenceIndex(r, key=_keyfn())
        await _fill(index)
        now = T0 + 99 * MIN  # l0..l99 are due
        got = await index.claim_due(range(4), now, limit=1000)
        assert sorted(m for _, m, _ in got) == sorted(f"l{i}" for i in range(100))
        assert all(due <= now and p == int(m[1:]) % 4 for p, m, due in got)
        per_part = [d for p, _, d in got if p == 1]
        assert per_part == sorted(per_part)
        assert await index.claim_due(range(4), now, limit=1000) == []  # fired once
        assert sum([await index.size(p) for p in range(4)]) == 900
        assert await index.next_due_ms(range(4)) == T0 + 100 * MIN
        await r.aclose()

    _run(go())


def test_limit_caps_each_partition_and_cancel_removes(redis_server: Any) -> None:
    async def go() -> None:
        r = Redis.from_url(redis_server.worker_url)
        index = SilenceIndex(r, key=_keyfn())
        await _fill(index)
        got = await index.claim_due([0, 1], T0 + 999 * MIN, limit=10)
        assert len(got) == 20 and {p for p, _, _ in got} == {0, 1}
        assert await index.cancel([(2, "l2"), (2, "l6"), (2, "absent")]) == 2
        rest = await index.claim_due([2], T0 + 6 * MIN, limit=100)
        assert [m for _, m, _ in rest] == []  # l2 and l6 were the only due ones there
        # rescheduling moves a learner instead of duplicating it
        await index.schedule([(3, "l3", T0 + 5000 * MIN)])
        assert await index.claim_due([3], T0 + 10 * MIN, limit=100) == [(3, "l7", T0 + 7 * MIN)]
        await r.aclose()

    _run(go())


def test_two_concurrent_claimers_never_get_the_same_learner(redis_server: Any) -> None:
    async def go() -> None:
        keyfn = _keyfn()
        r1, r2 = Redis.from_url(redis_server.worker_url), Redis.from_url(redis_server.worker_url)
        a, b = SilenceIndex(r1, key=keyfn), SilenceIndex(r2, key=keyfn)
        await _fill(a)
        now = T0 + 2000 * MIN  # everyone due

        async def drain(index: SilenceIndex) -> list[str]:
            got: list[str] = []
            while batch := await index.claim_due(range(4), now, limit=7):
                got += [m for _, m, _ in batch]
                await asyncio.sleep(0)
            return got

        ga, gb = await asyncio.gather(drain(a), drain(b))
        assert ga and gb  # both really raced
        assert not set(ga) & set(gb)
        assert sorted(ga + gb) == sorted(f"l{i}" for i in range(1000))
        await r1.aclose()
        await r2.aclose()

    _run(go())


def test_state_survives_reconnect_restart_and_script_flush(redis_server: Any) -> None:
    keyfn = _keyfn()

    async def before() -> None:
        r = Redis.from_url(redis_server.worker_url)
        await _fill(SilenceIndex(r, key=keyfn))
        await r.aclose()  # the worker goes away

    async def after() -> list[tuple[int, str, int]]:
        admin = Redis.from_url(redis_server.url)
        await admin.script_flush()  # as after a Redis restart: cached scripts are gone
        await admin.aclose()
        r = Redis.from_url(redis_server.worker_url)  # a new worker, new connection
        got = await SilenceIndex(r, key=keyfn).claim_due(range(4), T0 + 9 * MIN, limit=50)
        await r.aclose()
        return got

    _run(before())
    got = _run(after())  # a new event loop too, like a restarted process
    assert sorted(m for _, m, _ in got) == sorted(f"l{i}" for i in range(10))


def test_lease_refires_unacked_learners_after_expiry_only(redis_server: Any) -> None:
    async def go() -> None:
        r = Redis.from_url(redis_server.worker_url)
        index = SilenceIndex(r, key=_keyfn())
        await index.schedule([(0, "a", T0), (0, "b", T0), (0, "c", T0)])
        lease = 5 * MIN
        first = await index.claim_due([0], T0, limit=10, lease_ms=lease)
        assert sorted(m for _, m, _ in first) == ["a", "b", "c"]
        assert await index.claim_due([0], T0 + lease - 1, limit=10, lease_ms=lease) == []
        # "a" was handled, "b" came back and got a new due time, "c"'s worker died
        await index.schedule([(0, "b", T0 + 60 * MIN)])
        assert await index.ack([(0, "a"), (0, "b")], T0 + lease) == 1
        again = await index.claim_due([0], T0 + lease, limit=10)
        assert [m for _, m, _ in again] == ["c"]
        assert await index.claim_due([0], T0 + 60 * MIN, limit=10) == [(0, "b", T0 + 60 * MIN)]
        await r.aclose()

    _run(go())
