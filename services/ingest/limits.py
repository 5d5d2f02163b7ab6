"""Request limits: body size (413) and a token bucket per producer tool (429).

The bucket counts events, not requests, so one batch of 100 costs 100. A batch
larger than the bucket passes when the bucket is full and leaves it in debt,
so big batches are slowed, never starved. Buckets live in the gateway process:
with N gateway processes a tool may send up to N times its rate.

>>> clock = [0.0]
>>> b = TokenBucket(rate=10, capacity=20, now=lambda: clock[0])
>>> b.take(20), b.take(1)
(0.0, 0.1)
>>> clock[0] = 1.0
>>> b.take(10)
0.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any


class TooLarge(Exception):
    """The body is over the limit."""


class TokenBucket:
    def __init__(
        self, rate: float, capacity: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self._now = now
        self.updated = now()

    def _refill(self) -> None:
        t = self._now()
        self.tokens = min(self.capacity, self.tokens + (t - self.updated) * self.rate)
        self.updated = t

    def take(self, n: float) -> float:
        """Take ``n`` tokens; 0.0 if granted, else the seconds until it would be."""
        self._refill()
        need = min(n, self.capacity)
        if self.tokens >= need:
            self.tokens -= n  # may go negative: a big batch leaves the bucket in debt
            return 0.0
        return (need - self.tokens) / self.rate

    def empty_for(self) -> float:
        """Seconds until at least one token is there (0.0 when there is one now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RateLimiter:
    """One bucket per producer tool; rates come from the credential or the defaults."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.default_rate = rate_per_s
        self.default_burst = burst
        self.buckets: dict[str, TokenBucket] = {}

    def bucket(self, tool: str, rate: float | None, burst: int | None) -> TokenBucket:
        b = self.buckets.get(tool)
        r, c = rate or self.default_rate, float(burst or self.default_burst)
        if b is None:
            b = self.buckets[tool] = TokenBucket(r, c)
        elif (b.rate, b.capacity) != (r, c):  # a changed key takes effect at once
            b.rate, b.capacity = r, c
        return b


def retry_after(seconds: float) -> str:
    """Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


async def read_body(request: Any, max_bytes: int) -> bytes:
    """The request body, refusing early (:class:`TooLarge`) when it is over ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"body of {declared} bytes is over the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:  # chunked uploads have no Content-Length to check first
            raise TooLarge(f"body is over the {max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
