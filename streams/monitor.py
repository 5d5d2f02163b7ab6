"""faust's Prometheus sensor without a labelled-gauge update per consumed record."""

from __future__ import annotations

from faust.sensors.prometheus import PrometheusMonitor
from faust.types import TP


class LeanPrometheusMonitor(PrometheusMonitor):
    """Sets a partition's end-offset gauge only when the end offset moves.

    faust's consumer calls ``track_tp_end_offset`` for every record it hands
    over, with the high watermark of the fetch the record came in, so the value
    repeats for every record of a fetch. ``PrometheusMonitor`` resolves the
    gauge's labels each time: ~1.7 µs per record, about 1.5% of the worker's
    CPU per event when catching up.
    """

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        if self.tp_end_offsets.get(tp) != offset:
            super().track_tp_end_offset(tp, offset)
