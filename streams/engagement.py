"""Engagement glue between the learner state and the pure rhythm / nudge models.

Per event (in the ``learn`` batch): fold the event into the rhythm, settle open
nudges, and compute the learner's risk and silence due time. When a silence
timer fires (``streams.agents.watch_engagement``): decide a nudge.

The risk is the learner's own silence hazard (``rhythm.risk``); the due time is
when that risk reaches the policy's ``min_risk`` (``rhythm.due_ms``), so the
timer fires when a nudge becomes due, not on a fixed cadence (decision 0013).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from streams.metrics import NUDGE_OUTCOMES
from streams.models import nudge_policy, rhythm
from streams.models.state import LearnerState

NUDGE_FEEDBACK: Final = {"nudge_opened": "opened", "nudge_dismissed": "dismissed"}
DAY_MS: Final = 86_400_000
RECHECK_MS: Final = DAY_MS  # a learner with an open or already-sent nudge is looked at daily
MAX_WATCH_DAYS: Final = 90  # after this much silence we stop re-checking (they left)


@dataclass
class EngagementModels:
    """Shared (per worker) models: the nudge bandit, and the policy's numbers.

    The risk is per learner (their rhythm section), so nothing about it is shared.
    """

    bandit: nudge_policy.NudgeBandit = field(default_factory=nudge_policy.NudgeBandit)
    config: nudge_policy.NudgeConfig = nudge_policy.DEFAULT

    def to_dict(self) -> dict[str, Any]:
        return {"bandit": self.bandit.to_dict()}

    def load(self, d: dict[str, Any]) -> None:
        # checkpoints written before decision 0013 also hold a risk calibrator: ignored
        self.bandit = nudge_policy.NudgeBandit.from_dict(d["bandit"])


def observe(models: EngagementModels, state: LearnerState, ev: dict[str, Any]) -> None:
    """Fold one applied event into the learner's rhythm and nudge sections."""
    verb = ev["verb"]
    t = ev["occurred_at_ms"]
    if verb in NUDGE_FEEDBACK:
        NUDGE_OUTCOMES.labels(NUDGE_FEEDBACK[verb]).inc()
        nudge_policy.on_outcome(
            state["nudge"], ev["object_id"], NUDGE_FEEDBACK[verb], t, models.bandit, models.config
        )
        return
    if verb in ("impression", "clicked", "dismissed"):
        return  # front-end feedback on recommendations is not learning activity
    result: dict[str, Any] = ev.get("result") or {}
    profile: dict[str, Any] = state.get("profile") or {}
    tz = profile.get("time_zone") or "UTC"
    rhythm.observe(
        state["rhythm"],
        t,
        verb,
        success=result.get("success"),
        progress=result.get("progress"),
        object_type=ev.get("object_type", ""),
        object_id=ev["object_id"],
        tz=tz,
    )
    if nudge_policy.on_activity(state["nudge"], t, models.bandit, models.config):
        NUDGE_OUTCOMES.labels("returned").inc()
    # Calibrator checkpoints of states before decision 0013. ``in`` and ``del``, not
    # pop(k, None): compiled, those are direct C calls and pop is a generic one.
    rh: dict[str, Any] = state["rhythm"]
    if "ck" in rh:
        del rh["ck"]


def risk_and_due(models: EngagementModels, state: LearnerState, now_ms: int) -> tuple[float, int]:
    """The learner's risk at ``now_ms`` and when it reaches the policy's ``min_risk``
    if they stay silent (0, 0 for a learner with no activity yet)."""
    section = state["rhythm"]
    if "t1" not in section:
        return 0.0, 0
    return rhythm.risk(section, now_ms), rhythm.due_ms(section, models.config.min_risk)


def decide(
    models: EngagementModels,
    learner_id: str,
    state: LearnerState,
    now_ms: int,
    catalog: dict[str, Any],
    paths: list[dict[str, Any]],
    next_content_id: str | None,
) -> nudge_policy.Decision:
    """A silence timer fired (or a retry is due): what to do about this learner."""
    section = state["rhythm"]
    risk, _due = risk_and_due(models, state, now_ms)
    profile: dict[str, Any] = state.get("profile") or {}
    deadlines = nudge_policy.upcoming_deadlines(
        paths,
        learner_id=learner_id,
        team_id=profile.get("team_id", ""),
        done=state["done"],
        now_ms=now_ms,
    )
    return nudge_policy.decide(
        state["nudge"],
        learner_id=learner_id,
        now_ms=now_ms,
        risk=risk,
        signals=rhythm.signals(section, now_ms),
        profile=profile,
        last_activity_ms=state["last_ms"],
        prog=state["prog"],
        catalog=catalog,
        deadlines=deadlines,
        next_content_id=next_content_id,
        bandit=models.bandit,
        config=models.config,
    )


def next_check_ms(
    models: EngagementModels, state: LearnerState, paths: list[dict[str, Any]], learner_id: str
) -> int:
    """When to look at this learner next if nothing arrives: their silence due time,
    or earlier when an assigned path item comes within ``deadline_days`` of its due date."""
    _risk, due = risk_and_due(models, state, state["last_ms"])
    profile: dict[str, Any] = state.get("profile") or {}
    upcoming = nudge_policy.upcoming_deadlines(
        paths,
        learner_id=learner_id,
        team_id=profile.get("team_id", ""),
        done=state["done"],
        now_ms=state["last_ms"],
    )
    if upcoming:
        remind = int(upcoming[0]["due_at_ms"] - models.config.deadline_days * DAY_MS)
        due = min(due, max(remind, state["last_ms"] + 1)) if due else remind
    return due


def followup_ms(
    decision: nudge_policy.Decision,
    state: LearnerState,
    now_ms: int,
    config: nudge_policy.NudgeConfig = nudge_policy.DEFAULT,
) -> int | None:
    """After a timer decision: when to look at the learner again (None = not until they act).

    A deferral comes back when it said. While the learner's risk is still below
    ``min_risk`` (the timer fired for a deadline, or was capped at
    ``rhythm.MAX_DUE_DAYS``), they come back when it gets there (``rhythm.due_ms``):
    a deadline nudge must not end the silence watch. Past it, a learner whose
    nudge is still open, whose silence was nudged already, or who just got a
    deadline nudge is looked at daily while silent (a silence nudge waits for the
    open one to expire; a new deadline may come up); after a silence nudge, the
    episode is done until the learner acts.
    """
    if decision.action == "defer" and decision.retry_at_ms:
        return int(decision.retry_at_ms)
    silent_days = (now_ms - state["last_ms"]) / DAY_MS if state["last_ms"] else 0.0
    if silent_days >= MAX_WATCH_DAYS or "t1" not in state["rhythm"]:
        return None
    due = rhythm.due_ms(state["rhythm"], config.min_risk)
    if due > now_ms:
        return max(due, now_ms + 60_000)
    if decision.action == "send":
        return now_ms + RECHECK_MS if decision.reason == "deadline" else None
    if decision.reason in ("no_reason", "open_nudge", "already_nudged"):
        return now_ms + RECHECK_MS
    return None
