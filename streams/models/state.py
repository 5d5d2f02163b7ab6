"""Per-learner stream state: one small JSON-able dict per learner.

Each model owns one section and is the only code that reads or writes it, so
models can change independently. The whole dict is stored in the faust table
(changelogged) once per batch, never pickled per event. Keep it under ~4 KB.

Sections:
    v        schema version of this dict
    off      last applied Kafka offset of this learner's partition (replay guard)
    seen     the last 48 event-id fingerprints, packed in base64 (dedupe across paths)
    prog     content_id -> [progress 0..1, last touched ms]   (in progress only)
    done     content_id -> completed at ms (bounded, most recent)
    last_ms  event time of the last learning activity
    n        activity events applied (each exactly once)
    streak   [days in a row, last active day number]
    profile  the learner's profile record (or {} until one arrives)
    skv      skill -> mastery as of the learner's last practice (learner-facing view)
    mastery  owned by streams.models.mastery
    rhythm   owned by streams.models.rhythm
    ranker   owned by streams.models.ranker
    interest owned by streams.models.interest
    nudge    owned by streams.models.nudge_policy
"""

from __future__ import annotations

from typing import Any

STATE_VERSION = 1
SECTIONS = ("mastery", "rhythm", "ranker", "interest", "nudge")

LearnerState = dict[str, Any]


def new_state() -> LearnerState:
    """A learner never seen before.

    >>> s = new_state()
    >>> s["off"], s["prog"]
    (-1, {})
    """
    state: LearnerState = {
        "v": STATE_VERSION,
        "off": -1,
        "seen": "",
        "prog": {},
        "done": {},
        "last_ms": 0,
        "n": 0,
        "streak": [0, -1],
        "profile": {},
    }
    for section in SECTIONS:
        state[section] = {}
    return state
