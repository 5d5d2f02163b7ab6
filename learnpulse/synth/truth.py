"""Ground truth of the synthetic organisation, kept as plain data.

Everything an evaluation needs to score recommendations, nudges and interest
clusters without re-running the simulation: each learner's latent interest
groups over time, when (if ever) they switch, when (if ever) they disengage,
and their latent starting mastery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class GroundTruth:
    """Latent facts per learner, keyed by learner id.

    ``groups_before[l]`` hold until ``switch_at_ms[l]`` (absent: never switches),
    then ``groups_after[l]``. A learner in ``drop_at_ms`` emits nothing at or
    after that time; their activity thins out from ``decay_from_ms[l]``.
    ``mastery0`` is a (learners x skills) matrix in the order of ``learner_index``
    and ``skills``.
    """

    groups_before: dict[str, tuple[str, ...]] = field(default_factory=dict)
    groups_after: dict[str, tuple[str, ...]] = field(default_factory=dict)
    switch_at_ms: dict[str, int] = field(default_factory=dict)
    drop_at_ms: dict[str, int] = field(default_factory=dict)
    decay_from_ms: dict[str, int] = field(default_factory=dict)
    learner_index: dict[str, int] = field(default_factory=dict)
    skills: tuple[str, ...] = ()
    mastery0: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def interest_at(self, learner_id: str, t_ms: int) -> tuple[str, ...]:
        """The learner's latent interest groups at event time ``t_ms``.

        >>> t = GroundTruth(groups_before={"a": ("data",)}, groups_after={"a": ("design",)},
        ...                 switch_at_ms={"a": 100})
        >>> t.interest_at("a", 99), t.interest_at("a", 100)
        (('data',), ('design',))
        """
        sw = self.switch_at_ms.get(learner_id)
        if sw is not None and t_ms >= sw:
            return self.groups_after[learner_id]
        return self.groups_before[learner_id]

    def primary_interest_at(self, learner_id: str, t_ms: int) -> str:
        """The main latent interest group at ``t_ms`` (cluster label for evaluations)."""
        return self.interest_at(learner_id, t_ms)[0]

    def switch_of(self, learner_id: str) -> int | None:
        """Switch time in ms, or None if this learner never switches."""
        return self.switch_at_ms.get(learner_id)

    def drop_of(self, learner_id: str) -> int | None:
        """Disengagement time in ms (no events from then on), or None."""
        return self.drop_at_ms.get(learner_id)

    def is_active_at(self, learner_id: str, t_ms: int) -> bool:
        """False once the learner has dropped out."""
        d = self.drop_at_ms.get(learner_id)
        return d is None or t_ms < d

    def mastery_at_start(self, learner_id: str, skill: str) -> float:
        """Latent mastery of ``skill`` before any simulated practice, in [0, 1]."""
        return float(self.mastery0[self.learner_index[learner_id], self.skills.index(skill)])
