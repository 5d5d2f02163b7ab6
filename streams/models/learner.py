"""Apply one canonical event to a learner's state: replay guard, dedupe, progress.

Model sections (mastery, rhythm, ranker, ...) are updated by their own modules;
this module owns the common sections listed in :mod:`streams.models.state`.
"""

from __future__ import annotations

import binascii
import zlib
from typing import Any, Final, Literal

from streams.models.state import LearnerState

SEEN_MAX: Final = 48  # event ids remembered per learner: covers producer retries and re-sends
DONE_MAX: Final = 200
PROG_MAX: Final = 30
DAY_MS: Final = 86_400_000

Outcome = Literal["applied", "replay", "duplicate"]

# Verbs that mean the learner finished the object.
COMPLETING: Final = frozenset({"completed", "passed", "mastered"})
# Verbs that are the learner doing something (not front-end feedback).
ACTIVITY_VERBS: Final = frozenset(
    {
        "started",
        "progressed",
        "completed",
        "attempted",
        "answered",
        "viewed",
        "paused",
        "resumed",
        "passed",
        "failed",
        "submitted",
        "launched",
        "experienced",
        "logged_in",
        "commented",
        "posted",
        "searched",
        "graded",
        "mastered",
        "rated",
        "navigated",
    }
)
FEEDBACK_VERBS: Final = frozenset(
    {"impression", "clicked", "dismissed", "rated", "nudge_opened", "nudge_dismissed"}
)


def fingerprint(event_id: str) -> int:
    """A 32-bit fingerprint of an event id (small to keep in state).

    >>> fingerprint("a") == fingerprint("a") != fingerprint("b")
    True
    """
    return zlib.crc32(event_id.encode())


def guard(state: LearnerState, event_id: str, partition: int, offset: int) -> Outcome:
    """Decide whether to apply an event, and remember it if so.

    ``learn_one`` is not idempotent, so an event at or below the last applied
    offset of this learner's partition (a replay after a crash) is skipped, and
    an event id seen recently (a producer retry, or the same event via HTTP and
    Kafka) is a duplicate.

    >>> from streams.models.state import new_state
    >>> s = new_state()
    >>> guard(s, "e1", 0, 5), guard(s, "e1", 0, 5), guard(s, "e1", 0, 6)
    ('applied', 'replay', 'duplicate')
    """
    last_p, last_o = state["off"] if isinstance(state["off"], list) else (-1, -1)
    if partition == last_p and offset <= last_o:
        return "replay"
    state["off"] = [partition, offset]
    # Fingerprints are packed 4 bytes each into one base64 string: a JSON list of
    # 48 integers cost ~450 B per learner, this ~256 B (state goal: <= 4 KB).
    fp = fingerprint(event_id).to_bytes(4, "big")
    seen = state["seen"]
    # binascii directly: base64.b64decode/b64encode add ~0.25 µs each in Python.
    packed = binascii.a2b_base64(seen) if isinstance(seen, str) else _pack_old(seen)
    at = packed.find(fp)
    while at != -1:  # a match must start on a 4-byte boundary to be a fingerprint
        if at % 4 == 0:
            return "duplicate"
        at = packed.find(fp, at + 1)
    packed = (packed + fp)[-4 * SEEN_MAX :]
    state["seen"] = binascii.b2a_base64(packed, newline=False).decode()
    return "applied"


def _pack_old(seen: list[int]) -> bytes:
    """States written before packing held a list of ints."""
    return b"".join(int(x).to_bytes(4, "big") for x in seen)


def apply_activity(state: LearnerState, ev: dict[str, Any]) -> None:
    """Update progress, completions, last activity and the daily streak."""
    verb = ev["verb"]
    t = ev["occurred_at_ms"]
    obj = ev["object_id"]
    if verb in FEEDBACK_VERBS and verb != "rated":
        return
    result: dict[str, Any] = ev.get("result") or {}
    if obj:
        if verb in COMPLETING or result.get("completion") is True:
            state["prog"].pop(obj, None)
            done = state["done"]
            done[obj] = t
            if len(done) > DONE_MAX:
                for old in sorted(done, key=done.__getitem__)[: len(done) - DONE_MAX]:
                    del done[old]
        elif (
            verb in ("started", "progressed", "paused", "resumed", "launched", "viewed")
            and obj not in state["done"]
        ):
            prev = state["prog"].get(obj, [0.0, 0])[0]
            progress = result.get("progress")
            p = prev if progress is None else max(prev, float(progress))
            state["prog"][obj] = [round(p, 3), t]
            _bound_progress(state)
    if t > state["last_ms"]:
        day = t // DAY_MS
        streak, last_day = state["streak"]
        if day == last_day + 1:
            state["streak"] = [streak + 1, day]
        elif day > last_day:
            state["streak"] = [1, day]
        state["last_ms"] = t


def _bound_progress(state: LearnerState) -> None:
    prog = state["prog"]
    if len(prog) > PROG_MAX:
        for old in sorted(prog, key=lambda k: prog[k][1])[: len(prog) - PROG_MAX]:
            del prog[old]


def apply_profile(state: LearnerState, profile: dict[str, Any]) -> bool:
    """Replace the profile if this one is not older. Returns whether it changed."""
    current = state.get("profile") or {}
    if current and current.get("updated_at_ms", 0) > profile["updated_at_ms"]:
        return False
    state["profile"] = profile
    return True
