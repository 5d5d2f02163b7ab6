"""Batches made durable in order, off the learn loop's path (decision 0020).

Before a batch's offsets may be committed, its audit records must be
acknowledged by the broker and then its learner states logged to the changelog
(docs/decisions/0002). The broker's acknowledgement took 5-90 ms at 50% load,
and the learn loop used to wait for it before taking the next batch. Now each
batch's durable writes run as a task chained after the previous batch's, so they
keep batch order (the changelog records too), while the loop computes the next
batch. Redis is still written before the loop goes on: that is what learners
see, and it takes about a millisecond.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine
from typing import Any


class WriteBehind:
    """Chained write tasks, at most ``depth`` in flight (the loop waits beyond)."""

    def __init__(self, depth: int = 4) -> None:
        self.depth = depth
        self._tasks: deque[asyncio.Future[None]] = deque()

    async def start(self, writes: Coroutine[Any, Any, None]) -> None:
        """Run ``writes`` after every write started before it."""
        while self._tasks and self._tasks[0].done():
            self._tasks.popleft().result()  # a failure stops the worker before this
        while len(self._tasks) >= self.depth:
            await self._tasks.popleft()
        prev = self._tasks[-1] if self._tasks else None
        self._tasks.append(asyncio.ensure_future(self._after(prev, writes)))

    async def drain(self) -> None:
        """Wait until every write started so far is done."""
        while self._tasks:
            await self._tasks.popleft()

    @staticmethod
    async def _after(prev: asyncio.Future[None] | None, writes: Coroutine[Any, Any, None]) -> None:
        if prev is not None:
            await asyncio.shield(prev)  # its own awaiter may be cancelled; it goes on
        await writes
