"""The changelog producer's flush target is settled per partition (no broker needed)."""

from __future__ import annotations

import types

from streams.store import ChangelogProducer


def _report(partition: int) -> types.SimpleNamespace:
    # What a delivery report's Message offers the callback.
    return types.SimpleNamespace(partition=lambda: partition)


def test_later_records_elsewhere_do_not_settle_an_earlier_flush() -> None:
    # Nothing listens on port 1: records only queue, and reports are fed by hand.
    p = ChangelogProducer("127.0.0.1:1", "t-changelog", end_markers=False, extra={"log_level": 0})
    p.send(0, b"a", b"1")
    p.send(0, b"b", b"1")
    p.send(1, b"c", b"1")
    target = dict(p.sent)
    for key in (b"d", b"e", b"f"):  # the next batch, all on partition 1
        p.send(1, key, b"2")
    for _ in range(4):  # partition 1's broker answers first: 4 reports, as many as the target
        p._on_delivery(None, _report(1))
    assert p.unsettled(target) == 2  # partition 0's two records are still in flight
    p._on_delivery(None, _report(0))
    p._on_delivery(None, _report(0))
    assert p.unsettled(target) == 0
    assert p.unsettled(dict(p.sent)) == 0
