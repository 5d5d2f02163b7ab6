"""Write-behind of batches (streams/writebehind.py): order, bound, drain."""

from __future__ import annotations

import asyncio

from streams.writebehind import WriteBehind


def test_writes_finish_in_the_order_they_were_started_even_when_later_ones_are_faster() -> None:
    async def go() -> list[int]:
        done: list[int] = []

        async def write(i: int, delay: float) -> None:
            await asyncio.sleep(delay)
            done.append(i)

        wb = WriteBehind(depth=8)
        for i, delay in enumerate([0.05, 0.0, 0.02, 0.0]):
            await wb.start(write(i, delay))
        await wb.drain()
        return done

    assert asyncio.run(go()) == [0, 1, 2, 3]


def test_start_returns_at_once_until_depth_writes_are_in_flight() -> None:
    async def go() -> tuple[int, int]:
        release = asyncio.Event()
        started = 0

        async def write() -> None:
            nonlocal started
            started += 1
            await release.wait()

        wb = WriteBehind(depth=2)
        await wb.start(write())
        await wb.start(write())
        third = asyncio.ensure_future(wb.start(write()))
        await asyncio.sleep(0.01)
        blocked = 0 if third.done() else 1
        release.set()
        await third
        await wb.drain()
        return blocked, started

    assert asyncio.run(go()) == (1, 3)


def test_drain_waits_for_every_write_started() -> None:
    async def go() -> list[str]:
        done: list[str] = []

        async def write(name: str) -> None:
            await asyncio.sleep(0.01)
            done.append(name)

        wb = WriteBehind()
        await wb.start(write("a"))
        await wb.start(write("b"))
        await wb.drain()
        return done

    assert asyncio.run(go()) == ["a", "b"]
