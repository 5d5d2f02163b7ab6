"""Local time from cached quarter-hour offsets equals the zone's own (streams/models/rhythm.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from streams.models import rhythm

MIN_MS = 60_000


def _direct(t_ms: int, tz: str) -> int:
    off = datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(ZoneInfo(tz)).utcoffset()
    return t_ms + int(off.total_seconds() * 1000) if off else t_ms


def _transitions(tz: str, year: int) -> list[int]:
    """UTC instants (ms) in ``year`` where the zone's offset changes, to the minute."""
    out = []
    t = int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)
    prev = _direct(t, tz) - t
    step = 60 * MIN_MS
    while t < end:
        off = _direct(t + step, tz) - (t + step)
        if off != prev:  # narrow down to the minute
            lo, hi = t, t + step
            while hi - lo > MIN_MS:
                mid = (lo + hi) // 2 // MIN_MS * MIN_MS
                if _direct(mid, tz) - mid == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
            prev = off
        t += step
    return out


@pytest.mark.parametrize(
    "tz",
    [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Adelaide",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Pacific/Chatham",
    ],
)
def test_every_minute_around_each_transition(tz: str) -> None:
    rhythm._OFFSETS.clear()
    transitions = _transitions(tz, 2026)
    assert transitions or tz == "Asia/Kathmandu"  # zones with DST do change in 2026
    for tr in transitions + [int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1000)]:
        for minutes in range(-90, 91):
            t = tr + minutes * MIN_MS + 17_345  # seconds inside the minute too
            assert rhythm._local_ms(t, tz) == _direct(t, tz), (tz, t)


def test_unknown_and_utc_zones_are_utc() -> None:
    assert rhythm._local_ms(123_456, "Nowhere/Atlantis") == 123_456
    assert rhythm._local_ms(123_456, "UTC") == 123_456
