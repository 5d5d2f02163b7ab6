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
from streams.engagement import EngagementModels
from streams.models.mastery import SkillModel
from streams.skills import SkillTracker

log = logging.getLogger(__name__)


def snapshot(skills: SkillTracker, engagement: EngagementModels) -> bytes:
    return orjson.dumps({"v": 1, "skill": skills.model.to_dict(),
                         "engagement": engagement.to_dict()})


def restore(raw: bytes | None, skills: SkillTracker, engagement: EngagementModels) -> bool:
    if not raw:
        return False
    try:
        data: dict[str, Any] = orjson.loads(raw)
        skills.model = SkillModel.from_dict(data["skill"])
        engagement.load(data["engagement"])
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ignoring an unreadable model checkpoint: %s", exc)
        return False
    return True


def load_sync(url: str, app_id: str, skills: SkillTracker, engagement: EngagementModels) -> bool:
    """At start-up, before the agents run."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return restore(client.get(keys.models(app_id)), skills, engagement)
    finally:
        client.close()
