"""Kafka topic names and partition counts, from one prefix.

Tests give every test its own prefix so topics never collide on the shared broker.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """All topics of one LearnPulse deployment. ``prefix`` is e.g. ``lp.``."""

    prefix: str = "lp."
    partitions: int = 4

    @property
    def activity(self) -> str:
        """Canonical learning events (Avro wire format), keyed by learner_id."""
        return f"{self.prefix}learning.activity.recorded.v1"

    @property
    def profiles(self) -> str:
        """Learner profiles, compacted, keyed by learner_id (co-partitioned with activity)."""
        return f"{self.prefix}learner.profile.updated.v1"

    @property
    def catalog(self) -> str:
        """Content items, compacted, keyed by content_id; read whole by every worker."""
        return f"{self.prefix}content.item.updated.v1"

    @property
    def paths(self) -> str:
        """Learning paths, compacted, keyed by path_id; read whole by every worker."""
        return f"{self.prefix}learning.path.assigned.v1"

    @property
    def role_skills(self) -> str:
        """Role -> required skills, compacted, keyed by role; read whole by every worker."""
        return f"{self.prefix}role.skills.defined.v1"

    @property
    def recommendations(self) -> str:
        return f"{self.prefix}recommendation.list.generated.v1"

    @property
    def nudges(self) -> str:
        return f"{self.prefix}nudge.decided.v1"

    @property
    def raw_xapi(self) -> str:
        """Raw xAPI statement JSON from tools that produce straight to Kafka."""
        return f"{self.prefix}raw.xapi"

    @property
    def raw_caliper(self) -> str:
        """Raw Caliper event or envelope JSON."""
        return f"{self.prefix}raw.caliper"

    @property
    def raw_openedx(self) -> str:
        """Open edX event-bus events (Avro, CloudEvents ce_* headers)."""
        return f"{self.prefix}raw.openedx"

    @property
    def deadletter(self) -> str:
        """Anything undecodable or invalid, with error.* and origin.* headers."""
        return f"{self.prefix}deadletter.v1"

    @property
    def interest_updates(self) -> str:
        """Interest vectors and peer signals from all workers to the one clusterer (JSON)."""
        return f"{self.prefix}interest.updated.v1"

    @property
    def interest_clusters(self) -> str:
        """Published centroids and cluster summaries, compacted, read whole by every worker."""
        return f"{self.prefix}interest.clusters.v1"

    def keyed_by_learner(self) -> list[str]:
        return [self.activity, self.profiles]

    def reference(self) -> list[str]:
        """Compacted reference data every worker reads in full."""
        return [self.catalog, self.paths, self.role_skills]

    def all(self) -> dict[str, int]:
        """Topic -> partition count. Reference topics have one partition (read whole)."""
        out = {t: self.partitions for t in self.keyed_by_learner()}
        out.update({t: 1 for t in self.reference()})
        out[self.interest_updates] = 1  # one clustering model: one partition, one owner
        out[self.interest_clusters] = 1
        for t in (
            self.recommendations,
            self.nudges,
            self.raw_xapi,
            self.raw_caliper,
            self.raw_openedx,
            self.deadletter,
        ):
            out[t] = self.partitions
        return out

    def compacted(self) -> set[str]:
        return {self.profiles, *self.reference(), self.interest_clusters}
