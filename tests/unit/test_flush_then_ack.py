"""Offsets are acked only after the states of their batch are durable, in order."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.intake import FlushThenAck


class FakeIntake:
    def __init__(self) -> None:
        self.acked: list[str] = []

    def ack(self, batch: list[Any]) -> None:
        self.acked.extend(batch)


def test_batches_are_acked_after_the_flush_that_covers_them() -> None:
    async def scenario() -> list[tuple[str, list[str]]]:
        intake = FakeIntake()
        release = asyncio.Event()
        seen: list[tuple[str, list[str]]] = []

        async def flush() -> None:
            seen.append(("flush started", list(intake.acked)))
            await release.wait()
            release.clear()

        acker = FlushThenAck(intake.ack, flush)
        task = asyncio.create_task(acker.run())
        acker.add(["a1", "a2"])
        await asyncio.sleep(0.01)
        acker.add(["b1"])  # arrives while the first flush is in flight
        await asyncio.sleep(0.01)
        seen.append(("before release", list(intake.acked)))
        release.set()
        await asyncio.sleep(0.01)
        seen.append(("after first flush", list(intake.acked)))
        release.set()
        await asyncio.sleep(0.01)
        seen.append(("after second flush", list(intake.acked)))
        task.cancel()
        return seen

    seen = asyncio.run(scenario())
    assert seen == [
        ("flush started", []),
        ("before release", []),  # nothing acked while its states may not be durable
        # b1 came during the first flush, so it waits for the next one
        ("flush started", ["a1", "a2"]),
        ("after first flush", ["a1", "a2"]),
        ("after second flush", ["a1", "a2", "b1"]),
    ]


def test_a_failed_flush_acks_nothing() -> None:
    async def scenario() -> tuple[list[str], BaseException | None]:
        intake = FakeIntake()

        async def flush() -> None:
            raise RuntimeError("broker gone")

        acker = FlushThenAck(intake.ack, flush)
        acker.add(["a1"])
        try:
            await acker.run()
        except RuntimeError as exc:
            return intake.acked, exc
        return intake.acked, None

    acked, err = asyncio.run(scenario())
    assert acked == []
    assert isinstance(err, RuntimeError)
