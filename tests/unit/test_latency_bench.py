"""The latency bench's matching of sent events to the live publishes that show them."""

from __future__ import annotations

import math

from loadtests.harness import next_wait, pct
from loadtests.latency import latencies


def test_a_publish_shows_every_earlier_event_of_its_learner() -> None:
    # event id, learner, stamp ms (produce()), ack µs (produce() -> acknowledgement)
    sends = ["e1 L1 1000 4000", "e2 L1 1010 3000", "e3 L2 1020 2500", "e4 L1 1030 1000"]
    # L1's first publish names e2: it shows e1 and e2; the second names e4.
    feed = [(1050.0, "L1", "e2"), (1060.0, "L2", "e3"), (1100.0, "L1", "e4")]
    from_stamp, from_ack, unseen = latencies(sends, feed, skip_before_ms=0)
    assert sorted(from_stamp) == [40.0, 40.0, 50.0, 70.0]
    # from the acknowledgement: stamp + ack time, so never more than from the stamp
    assert sorted(from_ack) == [37.0, 37.5, 46.0, 69.0]
    assert unseen == 0


def test_events_never_published_are_counted_not_dropped() -> None:
    sends = ["e1 L1 1000 100", "e2 L1 1010 100", "e3 L2 1020 100"]
    from_stamp, _from_ack, unseen = latencies(sends, [(1040.0, "L1", "e1")], skip_before_ms=0)
    assert from_stamp == [40.0]
    assert unseen == 2  # e2 (no later publish for L1) and e3 (none for L2)


def test_a_stale_publish_does_not_resolve_a_later_event() -> None:
    # A publish whose trigger is an event already shown (a re-send) must not count
    # for events sent after it.
    sends = ["e1 L1 1000 100", "e2 L1 1010 100"]
    feed = [(1020.0, "L1", "e1"), (1030.0, "L1", "e1"), (1090.0, "L1", "e2")]
    from_stamp, _from_ack, unseen = latencies(sends, feed, skip_before_ms=0)
    assert from_stamp == [20.0, 80.0]
    assert unseen == 0


def test_the_settling_seconds_are_skipped() -> None:
    sends = ["e1 L1 1000 100", "e2 L1 3000 100"]
    feed = [(1010.0, "L1", "e1"), (3020.0, "L1", "e2")]
    from_stamp, _from_ack, unseen = latencies(sends, feed, skip_before_ms=2000)
    assert from_stamp == [20.0]
    assert unseen == 0


def test_percentiles_are_of_the_sorted_values() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert pct(values, 0.5) == 51.0
    assert pct(values, 0.99) == 100.0
    assert math.isnan(pct([], 0.5))  # nothing measured


def test_progress_is_scraped_less_often_far_from_the_target() -> None:
    # 1,000 events/s so far: 10,000 to go is 10 s away, capped at one scrape a second
    assert next_wait(5_000, 5.0, 10_000) == 1.0
    # 0.4 s away: half of it
    assert math.isclose(next_wait(5_000, 5.0, 400), 0.2)
    # close to the target, or nothing counted yet: the base interval
    assert next_wait(5_000, 5.0, 50) == 0.1
    assert next_wait(0, 0.0, 10_000) == 0.1
