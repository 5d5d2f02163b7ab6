"""The Redis contract: every key LearnPulse writes, in one place.

Keys that belong to one learner carry the learner id as a Redis Cluster hash
tag (``lp:{learner_id}:...``) so all of a learner's keys live on one slot.
Values are versioned JSON (``"v": 1``); see docs/redis-contract.md.
"""

from __future__ import annotations

PREFIX = "lp:"
VALUE_VERSION = 1


def reco(learner_id: str) -> str:
    """STRING, JSON: the learner's current top-K recommendations."""
    return f"lp:{{{learner_id}}}:reco"


def state(learner_id: str) -> str:
    """STRING, JSON: streak, progress, risk, skills, cluster."""
    return f"lp:{{{learner_id}}}:state"


def nudges(learner_id: str) -> str:
    """STREAM: nudges sent to the learner, newest last, bounded length."""
    return f"lp:{{{learner_id}}}:nudges"


def live_channel(learner_id: str) -> str:
    """PUB/SUB channel: every new reco or nudge of the learner, as JSON."""
    return f"lp:{{{learner_id}}}:live"


def due_index(partition: int) -> str:
    """ZSET: learner ids by silence due time (ms), one per Kafka partition."""
    return f"lp:due:{{p{partition}}}"


def cluster(cluster_id: str) -> str:
    """STRING, JSON: a cluster's summary (label, size, top skills, trending)."""
    return f"lp:cluster:{cluster_id}"


CLUSTERS = "lp:clusters"  # STRING, JSON: all cluster summaries, for dashboards
STATS = "lp:stats"  # HASH: live pipeline counters for the ops view


def models(app_id: str) -> str:
    """STRING, JSON: checkpoint of a worker group's shared models (no personal data)."""
    return f"lp:models:{app_id}"
