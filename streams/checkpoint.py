"""Checkpoints of the shared (cross-learner) models of a worker group.

Per-learner model state lives in the learner table (changelogged, exact). The
shared parts — the skill model's global weights, the risk calibrator, the nudge
bandit — are learned by every worker from its own partitions and saved to Redis
every ``interval`` seconds (last writer wins: any worker's copy is a good prior).
If the checkpoint is lost, those models start fresh and relearn; no learner data
depends on them. See docs/decisions/0009-shared-model-checkpoints.md.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis

from learnpulse import keys
from streams.batch import LearnBatch
from streams.models.mastery import SkillModel
from streams.models.recommend import Recommender

log = logging.getLogger(__name__)


def snapshot(batch: LearnBatch) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "skill": batch.skills.model.to_dict(),
            "engagement": batch.engagement.to_dict(),
            "recommender": batch.recommender.checkpoint(),
        }
    )


def restore(raw: bytes | None, batch: LearnBatch) -> bool:
    if not raw:
        return False
    try:
        data: dict[str, Any] = orjson.loads(raw)
        batch.skills.model = SkillModel.from_dict(data["skill"])
        batch.engagement.load(data["engagement"])
        if "recommender" in data:
            batch.recommender = Recommender.restore(
                batch.ref, data["recommender"], skill_model=batch.skills.model, k=batch.k
            )
        batch.recommender.skill_model = batch.skills.model
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ignoring an unreadable model checkpoint: %s", exc)
        return False
    return True


def load_sync(url: str, app_id: str, batch: LearnBatch) -> bool:
    """At start-up, before the agents run."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        raw = client.get(keys.models(app_id))
        return restore(raw.encode() if isinstance(raw, str) else raw, batch)
    finally:
        client.close()
