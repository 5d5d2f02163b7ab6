"""Play a simulated event stream on the wall clock (live demo, load generator)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def paced(
    events: Iterable[dict[str, Any]],
    speedup: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Yield each event when its event time is due, ``speedup`` times faster than real time.

    ``speedup=86_400 / 10`` plays one simulated day in ten wall seconds. The
    first event is due at once; events keep their simulated timestamps.

    >>> now = [0.0]
    >>> evs = [{"occurred_at_ms": 0}, {"occurred_at_ms": 10_000}]
    >>> out = list(paced(evs, 10.0, clock=lambda: now[0],
    ...                  sleep=lambda s: now.__setitem__(0, now[0] + s)))
    >>> now[0]
    1.0
    """
    if speedup <= 0:
        raise ValueError("speedup must be > 0")
    t0_wall: float | None = None
    t0_sim = 0
    for ev in events:
        if t0_wall is None:
            t0_wall, t0_sim = clock(), ev["occurred_at_ms"]
        due = t0_wall + (ev["occurred_at_ms"] - t0_sim) / 1000 / speedup
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        yield ev


def throttled(
    events: Iterable[dict[str, Any]],
    rate_per_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Yield events at a steady ``rate_per_s`` regardless of their event times.

    >>> now = [0.0]
    >>> out = list(throttled(range(5), 2.0, clock=lambda: now[0],
    ...                      sleep=lambda s: now.__setitem__(0, now[0] + s)))
    >>> now[0]
    2.0
    """
    if rate_per_s <= 0:
        raise ValueError("rate_per_s must be > 0")
    start: float | None = None
    for n, ev in enumerate(events):
        if start is None:
            start = clock()
        wait = start + n / rate_per_s - clock()
        if wait > 0:
            sleep(wait)
        yield ev
