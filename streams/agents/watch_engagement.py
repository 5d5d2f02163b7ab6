"""Timer ``watch_engagement``: fire silence timers of this worker's partitions, decide nudges.

Only learners whose due time has passed are touched (the per-partition sorted
set in Redis), so the cost per tick grows with the learners due, not with all
learners. Each worker claims only from the partitions it owns, atomically, so
a learner fires once per window even with two workers.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import orjson

import schemas
from learnpulse import keys
from streams import clustering, engagement
from streams.batch import Effects, public_state
from streams.fatal import stop_worker
from streams.metrics import LEARNERS_AT_RISK, NUDGES
from streams.models.state import pack, unpack
from streams.silence import SilenceIndex

if TYPE_CHECKING:
    from streams.worker import Worker

log = logging.getLogger(__name__)
LEASE_MS = 60_000
CLAIM_LIMIT = 500


def register(w: Worker) -> None:
    s = w.settings
    index = SilenceIndex(w.redis_sink.client)
    at_risk: dict[str, float] = {}

    @w.app.timer(interval=s.silence_tick_s, name="watch_engagement")
    async def watch_engagement() -> None:
        assignment = w.app.consumer.assignment()
        parts = sorted(tp.partition for tp in assignment if tp.topic == s.topics.activity)
        if not parts:
            return
        now_ms = int(time.time() * 1000)
        async with w.lock:
            try:
                await tick(w, index, parts, now_ms, at_risk)
            except Exception:
                stop_worker("silence tick failed")
        LEARNERS_AT_RISK.set(sum(1 for r in at_risk.values() if r >= 0.5))


async def tick(
    w: Worker, index: SilenceIndex, parts: list[int], now_ms: int, at_risk: dict[str, float]
) -> int:
    """Claim due learners, decide, write effects, then release the claims."""
    claimed = await index.claim_due(parts, now_ms, CLAIM_LIMIT, lease_ms=LEASE_MS)
    if not claimed:
        return 0
    # The learn loop's last batch first: its Redis values and changelog records
    # are older than the ones written here (streams/writebehind.py).
    await w.writes.drain()
    batch = w.batch
    fx = Effects()
    for partition, learner_id, _due in claimed:
        raw = batch.store.get(learner_id)
        if raw is None:
            continue  # state not here (a stale index entry after a reassignment)
        state = unpack(raw)
        reco = state.get("top")  # the learner's current first recommendation
        profile = state.get("profile") or {}
        paths = batch.ref.paths_for(learner_id, profile.get("team_id", ""))
        decision = engagement.decide(
            batch.engagement, learner_id, state, now_ms, batch.ref.catalog, paths, reco
        )
        risk, _ = engagement.risk_and_due(batch.engagement, state, now_ms)
        state["risk"] = round(risk, 4)
        at_risk[learner_id] = risk
        if decision.action == "send" and decision.nudge is not None:
            nudge = decision.nudge
            if nudge.get("content_id"):
                # Social reinforcement, k-anonymous, never for an opted-out learner.
                line = clustering.social_line(
                    state.get("interest") or {},
                    profile,
                    batch.centroids,
                    nudge["content_id"],
                    batch.k_min,
                )
                if line:
                    nudge["message"] = f"{nudge['message']} {line}"
            NUDGES.labels("sent", nudge.get("reason", "other")).inc()
            fx.nudges.append((learner_id, nudge))
            payload = orjson.dumps({"type": "nudge", "value": nudge})
            fx.publish.append((keys.live_channel(learner_id), payload))
            fx.records.append(
                (batch.topics.nudges, learner_id, schemas.encode(schemas.NUDGE, nudge))
            )
        elif decision.action == "defer":
            NUDGES.labels("deferred", decision.reason).inc()
        else:
            NUDGES.labels("suppressed", decision.reason).inc()
        again = engagement.followup_ms(decision, state, now_ms, batch.engagement.config)
        if again is not None:
            fx.due.append((partition, learner_id, again))
        fx.redis_values[keys.state(learner_id)] = orjson.dumps(
            public_state(learner_id, state, now_ms)
        )
        fx.states[learner_id] = (pack(state), partition)
    await w.redis_sink.write(fx)
    await w.record_sink.write(fx)
    batch.save_states(fx)
    await w.store.flush()
    await index.ack([(p, lid) for p, lid, _ in claimed], now_ms + LEASE_MS)
    return len(claimed)
