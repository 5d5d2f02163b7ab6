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

from typing import Any, Final

import cramjam
import orjson

STATE_VERSION: Final = 1
# States at least this long are stored LZ4-compressed behind a one-byte marker.
# JSON with repeated section keys halves or better (busiest learners after 60
# days: 6.0 KB -> 3.7 KB) for ~8 µs to pack and ~2 µs to unpack; small states
# stay plain JSON, and both forms are read back (older changelogs included).
PACK_FROM: Final = 1024
_LZ4: Final = b"Z"
SECTIONS: Final[tuple[str, ...]] = ("mastery", "rhythm", "ranker", "interest", "nudge")

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


def pack(state: LearnerState) -> bytes:
    """The bytes stored in the table and its changelog.

    >>> small = new_state()
    >>> pack(small)[:1]
    b'{'
    >>> big = new_state() | {"done": {f"article-{i:04d}": 1735679418854 + i for i in range(60)}}
    >>> raw = pack(big)
    >>> raw[:1], len(raw) < len(orjson.dumps(big)), unpack(raw) == big
    (b'Z', True, True)
    """
    raw = orjson.dumps(state)
    if len(raw) < PACK_FROM:
        return exact(raw)
    # bytes + cramjam's buffer is one copy; bytes(buffer) first would be two.
    return _LZ4 + cramjam.lz4.compress_block(raw)


def exact(raw: bytes) -> bytes:
    """A copy of ``raw`` that holds no more memory than its length.

    For anything kept past the batch. orjson's output keeps the buffer it was
    written into (orjson 3.13, measured by RSS: a 208 B output held ~4 KB, a
    908 B one ~8 KB, a 2 KB one ~3.6 KB). Kept in the learner table, a
    profile-only state (~0.9 KB) held ~8 KB; at 100,000 learners that was most
    of the worker's memory.
    """
    return memoryview(raw).tobytes()


def unpack(raw: bytes) -> LearnerState:
    """A stored state (packed or plain JSON) as a dict."""
    if raw[:1] == _LZ4:
        raw = bytes(cramjam.lz4.decompress_block(raw[1:]))
    state: LearnerState = orjson.loads(raw)
    return state
