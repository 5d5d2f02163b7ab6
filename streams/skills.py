"""Skill mastery in the stream: graded attempts update the learner's mastery online.

Wraps the pure :class:`streams.models.mastery.SkillModel` (shared across this
worker's learners) and tracks its live quality: every graded attempt is
predicted before it is learned, so a rolling AUC and log-loss of those
predictions is an honest live measure (exported as Prometheus gauges).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Final

from streams.models.mastery import SkillModel
from streams.models.rounding import fast_round
from streams.models.state import LearnerState

GRADED_VERBS: Final = frozenset({"answered", "attempted", "passed", "failed", "scored"})
WINDOW: Final = 2000
VIEW_MAX: Final = 12  # skills shown to the learner


class SkillTracker:
    def __init__(self, model: SkillModel | None = None) -> None:
        self.model = model or SkillModel(engine="fast")
        self.recent: deque[tuple[float, bool]] = deque(maxlen=WINDOW)

    def observe(
        self, state: LearnerState, ev: dict[str, Any], catalog: dict[str, dict[str, Any]]
    ) -> float | None:
        """Learn from a graded attempt; returns the prediction made before it, else None."""
        if ev["verb"] not in GRADED_VERBS:
            return None
        result: dict[str, Any] = ev.get("result") or {}
        success, score = result.get("success"), result.get("score_scaled")
        if success is None and score is None:
            return None
        correct = bool(success) if success is not None else float(score or 0.0) >= 0.5
        skills = list((ev.get("context") or {}).get("skill_ids") or ())
        if not skills:
            skills = list((catalog.get(ev["object_id"]) or {}).get("skills") or ())
        if not skills:
            return None
        p = self.model.learn(state["mastery"], skills, correct, ev["occurred_at_ms"])
        self.recent.append((p, correct))
        # The learner-facing view is refreshed only for the skills just practised:
        # recomputing every skill's mastery per rendered state cost ~100-270 us.
        view: dict[str, float] = state.setdefault("skv", {})
        for skill in skills:
            if skill in view:  # re-inserted last: dict order is recency order
                del view[skill]
            view[skill] = fast_round(self.model.mastery(state["mastery"], skill), 3)
        while len(view) > VIEW_MAX:
            del view[next(iter(view))]
        return p

    def top_skills(self, state: LearnerState) -> dict[str, float]:
        """The learner's mastery of their most recently practised skills, as of practice."""
        return dict(state.get("skv") or {})

    def quality(self) -> tuple[float | None, float | None]:
        """Rolling (AUC, log-loss) of the last predictions, None until both classes seen."""
        if not self.recent:
            return None, None
        eps = 1e-6
        logloss = -sum(math.log(max(eps, p if y else 1 - p)) for p, y in self.recent) / len(
            self.recent
        )
        return auc(list(self.recent)), logloss


def auc(pairs: list[tuple[float, bool]]) -> float | None:
    """ROC AUC by ranks (ties averaged).

    >>> auc([(0.9, True), (0.1, False), (0.8, True), (0.3, False)])
    1.0
    """
    pos = sum(1 for _, y in pairs if y)
    neg = len(pairs) - pos
    if pos == 0 or neg == 0:
        return None
    ranked = sorted(pairs, key=lambda t: t[0])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        avg = (i + j) / 2 + 1
        rank_sum += avg * sum(1 for k in range(i, j + 1) if ranked[k][1])
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
