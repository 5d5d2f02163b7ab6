"""Batch-level metric updates export exactly what per-value updates would."""

from __future__ import annotations

import random

from faust.sensors.prometheus import FaustMetrics
from faust.types import TP
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.metrics import observe_many
from streams.monitor import LeanPrometheusMonitor

BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def exported(fill: str) -> bytes:
    reg = CollectorRegistry()
    hist = Histogram("lp_test_seconds", "test", buckets=BUCKETS, registry=reg)
    rng = random.Random(5)
    # Bucket bounds themselves, zero, values past the last bound, and random ones.
    values = [*BUCKETS, 0.0, 3.0, 99.0] + [rng.random() * 0.6 for _ in range(500)]
    if fill == "one by one":
        for v in values:
            hist.observe(v)
    else:
        observe_many(hist, values)
    # Everything but the creation time.
    lines = generate_latest(reg).splitlines()
    return b"\n".join(line for line in lines if b"_created" not in line)


def test_observe_many_exports_the_same_buckets_count_and_sum_as_observe() -> None:
    bulk = exported("bulk")
    assert bulk == exported("one by one")
    assert b'lp_test_seconds_bucket{le="2.5"} 510.0' in bulk  # all but 3.0 and 99.0
    assert b"lp_test_seconds_count 512.0" in bulk


def test_observe_many_of_nothing_changes_nothing() -> None:
    reg = CollectorRegistry()
    hist = Histogram("lp_empty_seconds", "test", buckets=BUCKETS, registry=reg)
    observe_many(hist, [])
    assert b"lp_empty_seconds_count 0.0" in generate_latest(reg)


def test_lean_monitor_exports_each_partitions_latest_end_offset() -> None:
    reg = CollectorRegistry()
    mon = LeanPrometheusMonitor(metrics=FaustMetrics.create(reg, "lp_test"))
    a, b = TP("lp.activity", 0), TP("lp.activity", 1)
    for offset in (10, 10, 10, 12, 12):
        mon.track_tp_end_offset(a, offset)
    mon.track_tp_end_offset(b, 7)
    text = generate_latest(reg).decode()
    assert 'partition="0",topic="lp.activity"} 12.0' in text
    assert 'partition="1",topic="lp.activity"} 7.0' in text
    assert mon.tp_end_offsets == {a: 12, b: 7}
