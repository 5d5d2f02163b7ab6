"""Timers ``checkpoint_models`` and ``sample_lag``: shared-model checkpoints and consumer lag."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from learnpulse import keys
from streams import checkpoint
from streams.lag import LagSampler
from streams.metrics import TABLE_RECOVERY_REMAINING

if TYPE_CHECKING:
    from streams.worker import Worker

log = logging.getLogger(__name__)


def register(w: Worker) -> None:
    s = w.settings
    if checkpoint.load_sync(s.redis_url.get_secret_value(), s.app_id, w.batch):
        log.info("shared models restored from their checkpoint")

    @w.app.timer(interval=s.checkpoint_every_s, name="checkpoint_models")
    async def checkpoint_models() -> None:
        async with w.lock:  # a consistent snapshot, not one taken mid-batch
            blob = checkpoint.snapshot(w.batch)
        await w.redis_sink.client.set(keys.models(s.app_id), blob)

    sampler = LagSampler(s.kafka_bootstrap, s.app_id, s.topics.keyed_by_learner())

    # Every worker samples (not on_leader): dashboards take max by topic/partition.
    @w.app.timer(interval=s.lag_sample_s, name="sample_lag")
    async def sample_lag() -> None:
        await sampler.sample()

    # Recovery progress after a restart or rebalance (0 when the table is live).
    @w.app.timer(interval=1.0, name="recovery_progress")
    async def recovery_progress() -> None:
        recovery = w.app.tables.recovery  # type: ignore[attr-defined]
        TABLE_RECOVERY_REMAINING.labels("active").set(recovery.active_remaining_total())
        TABLE_RECOVERY_REMAINING.labels("standby").set(recovery.standby_remaining_total())
