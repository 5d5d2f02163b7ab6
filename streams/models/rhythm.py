"""Per-learner activity rhythm and disengagement risk (PURE: no faust, Kafka or Redis).

Owns the ``rhythm`` section of the learner state (see ``streams.models.state``): a
small dict of plain numbers, mutated in place, bounded in size (< ~600 bytes as
JSON), so it is checkpointed with the rest of the state and never pickled.

Public API
----------
``observe(section, t_ms, verb, *, success=None, progress=None, object_type="",
object_id="", tz="UTC")``
    Fold one learning event (event time ``t_ms``) into the rhythm.
``risk(section, now_ms, calibrator=None) -> float``
    Disengagement risk in [0, 1]: the chance of no activity in the next
    ``HORIZON_DAYS``. Driven by event time only, so it keeps rising for a learner
    who went silent. Without a calibrator it is the hand-set rhythm prior
    (:func:`prior_risk`); with a trained :class:`RiskCalibrator` (a shared model,
    one per deployment) it is that model's probability.
``due_ms(section) -> int``
    Event time at which, if nothing more arrives, the learner counts as drifting
    (their usual gap, with margin, bounded to [``MIN_DUE_DAYS``, ``MAX_DUE_DAYS``]).
    The silence index (``streams.silence``) schedules this.
``signals(section, now_ms) -> dict``
    Facts a nudge message can quote: days since last activity, usual gap in
    days, the most recent abandoned item and its progress, failure streak, usual
    time-of-day bucket, weekly volume and trend.
``features(section, now_ms) -> dict``
    The rhythm features the calibrator reads.
``checkpoint(section, now_ms)`` / ``matured(section, now_ms)``
    Self-supervised labels for the shared calibrator: a checkpoint stores the
    features as of ``now_ms``; once the outcome is known (an event came within
    ``HORIZON_DAYS`` -> 0, or the horizon passed in silence -> 1) ``matured``
    pops it as ``(features, label)``. No external label is needed, so the
    calibrator keeps learning in production.

Section layout (short keys; all values JSON numbers, lists or small dicts)::

    n    events seen               t0/t1  first/last event time (ms)
    ns   sessions (gap > 30 min)   s0     current session start (ms)
    gm   EW mean of ln(idle gap between sessions, hours)
    g2   EW mean of its square     (EWVar = g2 - gm**2, same as river.stats.EWVar)
    ng   gaps seen
    ad   distinct active local days    ld  last active local day number
    a7   events, decayed with a 7-day half-life, as of t1
    d7   active days, 7-day half-life, as of t1     d28  same, 28-day half-life
    wk   [local week number, events that week]      wm  EW mean of weekly events
    tod  sessions per 4-hour bucket of the local day (6 ints, halved past 255)
    op   open videos {content_id: [progress, t_ms]}, <= MAX_OPEN, newest kept
    ab   abandoned videos counted so far          abo  last abandoned id
    fs   failure streak            fo     object of the last failure
    ck   pending checkpoints [[t_ms, [feature values]]], <= MAX_CHECKPOINTS

Examples
--------
>>> s = {}
>>> DAY = 86_400_000
>>> for d in (0, 2, 4, 6):
...     observe(s, d * DAY + 9 * 3_600_000, "completed", object_type="article")
>>> round(signals(s, 7 * DAY)["usual_gap_days"], 1)
2.0
>>> risk(s, 7 * DAY) < risk(s, 20 * DAY)
True
>>> due_ms(s) > s["t1"]
True
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Section = dict[str, Any]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SESSION_GAP_MS = 30 * 60_000  # a new session starts after 30 min without events
GAP_FADING = 0.3  # EW fading factor of the gap statistics (river.stats.EWMean semantics)
WEEK_FADING = 0.3
PRIOR_GAP_HOURS = 72.0  # usual gap assumed before a learner has shown one
HORIZON_DAYS = 10.0  # risk = P(no activity in the next HORIZON_DAYS)
MIN_DUE_DAYS = 2.0
MAX_DUE_DAYS = 21.0
MAX_OPEN = 5
MAX_CHECKPOINTS = 3
CHECKPOINT_EVERY_MS = 2 * DAY_MS
FAIL_VERBS = frozenset({"answered", "attempted", "failed", "completed"})
OPEN_VERBS = frozenset({"started", "paused", "progressed", "played", "resumed"})
VIDEO_TYPES = frozenset({"video", "audio", "podcast"})

FEATURES = (
    "seen",
    "log_recency",
    "log_rel_silence",
    "silence_z",
    "log_events",
    "log_active_days",
    "active7",
    "active28",
    "log_events7",
    "log_tenure",
    "active_ratio",
    "log_sessions",
    "weekly_trend",
    "failure_streak",
    "abandoned",
)


@lru_cache(maxsize=512)
def _zone(tz: str) -> ZoneInfo | None:
    if tz in ("", "UTC", "Etc/UTC"):
        return None
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # an unknown zone must not stop the stream: fall back to UTC


def _local_ms(t_ms: int, tz: str) -> int:
    """Event time shifted by the zone's UTC offset at that instant (DST-correct)."""
    zone = _zone(tz)
    if zone is None:
        return t_ms
    off = datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(zone).utcoffset()
    return t_ms + (int(off.total_seconds() * 1000) if off else 0)


def _decay(value: float, dt_ms: float, half_life_days: float) -> float:
    return value * 0.5 ** (max(dt_ms, 0.0) / (half_life_days * DAY_MS))


def observe(
    section: Section,
    t_ms: int,
    verb: str,
    *,
    success: bool | None = None,
    progress: float | None = None,
    object_type: str = "",
    object_id: str = "",
    tz: str = "UTC",
) -> None:
    """Fold one event into the rhythm. Out-of-order events older than the last one
    update counts but not the gap statistics (late data must not invent gaps)."""
    t_ms = int(t_ms)
    s = section
    if verb in ("impression", "nudge_delivered"):
        return  # things shown to the learner are not the learner's activity
    last = s.get("t1")
    local = _local_ms(t_ms, tz)
    day = local // DAY_MS
    if last is None:
        s.update(n=0, t0=t_ms, t1=t_ms, ns=1, s0=t_ms, ng=0, ad=1, ld=day, a7=0.0, d7=1.0,
                 d28=1.0, wk=[day // 7, 0], wm=0.0, tod=[0] * 6, ab=0, fs=0)
        s["tod"][(local % DAY_MS) // (4 * HOUR_MS)] += 1
    elif t_ms > last:
        dt = t_ms - last
        s["a7"] = _decay(s["a7"], dt, 7)
        s["d7"] = _decay(s["d7"], dt, 7)
        s["d28"] = _decay(s["d28"], dt, 28)
        if dt > SESSION_GAP_MS:
            _new_session(s, dt, local)
        if day > s["ld"]:
            s["ad"] += 1
            s["ld"] = day
            s["d7"] += 1.0
            s["d28"] += 1.0
        s["t1"] = t_ms
    s["n"] += 1
    s["a7"] += 1.0
    _count_week(s, day // 7)
    _in_session(s, t_ms, verb, success, progress, object_type, object_id)


def _new_session(s: Section, gap_ms: int, local_ms: int) -> None:
    s["ns"] += 1
    s["s0"] = local_ms
    x = math.log(gap_ms / HOUR_MS)
    if s["ng"] == 0:
        s["gm"], s["g2"] = x, x * x
    else:  # same recurrence as river.stats.EWMean / EWVar, kept as two numbers
        s["gm"] = GAP_FADING * x + (1 - GAP_FADING) * s["gm"]
        s["g2"] = GAP_FADING * x * x + (1 - GAP_FADING) * s["g2"]
    s["ng"] += 1
    tod = s["tod"]
    tod[(local_ms % DAY_MS) // (4 * HOUR_MS)] += 1
    if max(tod) > 255:  # keep the pattern, bound the numbers
        s["tod"] = [c // 2 for c in tod]


def _count_week(s: Section, week: int) -> None:
    wk = s["wk"]
    if week > wk[0]:
        # close the finished week, then fade once per empty week in between
        s["wm"] = wk[1] if s["wm"] == 0 and s["n"] <= wk[1] + 1 else (
            WEEK_FADING * wk[1] + (1 - WEEK_FADING) * s["wm"])
        s["wm"] *= (1 - WEEK_FADING) ** (week - wk[0] - 1)
        s["wk"] = [week, 0]
    if week >= s["wk"][0]:
        s["wk"][1] += 1


def _in_session(s: Section, t_ms: int, verb: str, success: bool | None,
                progress: float | None, object_type: str, object_id: str) -> None:
    if object_type in VIDEO_TYPES and object_id:
        op: dict[str, list[float]] = s.setdefault("op", {})
        if verb == "completed" or (progress is not None and progress >= 0.98):
            op.pop(object_id, None)
        elif verb in OPEN_VERBS:
            prev = op.get(object_id, [0.0, 0])[0]
            op[object_id] = [round(max(prev, progress or 0.0), 3), t_ms]
            if len(op) > MAX_OPEN:
                del op[min(op, key=lambda k: op[k][1])]
    if success is False and verb in FAIL_VERBS:
        s["fs"] += 1
        if object_id:
            s["fo"] = object_id
    elif success is True:
        s["fs"] = 0


def _abandoned(s: Section, now_ms: int) -> list[tuple[str, float, int]]:
    """Open videos untouched for a day: started or paused, never completed."""
    op = s.get("op", {})
    return sorted(((k, v[0], int(v[1])) for k, v in op.items() if now_ms - v[1] >= DAY_MS),
                  key=lambda x: -x[2])


def usual_gap_days(section: Section) -> float:
    """Typical idle gap between sessions (geometric EW mean), shrunk to the prior
    while few gaps are known."""
    ng = section.get("ng", 0)
    prior = math.log(PRIOR_GAP_HOURS)
    gm = (section["gm"] * ng + prior * 1.0) / (ng + 1.0) if ng else prior
    return math.exp(gm) / 24.0


def _gap_sd(section: Section) -> float:
    ng = section.get("ng", 0)
    var = max(section["g2"] - section["gm"] ** 2, 0.0) if ng else 0.0
    return math.sqrt((var * ng + 1.0) / (ng + 1.0))  # prior sd of 1 (a factor of e)


def features(section: Section, now_ms: int) -> dict[str, float]:
    """Rhythm features at event time ``now_ms`` (all zeros for a learner never seen)."""
    s = section
    if "t1" not in s:
        return dict.fromkeys(FEATURES, 0.0)
    dt = max(now_ms - s["t1"], 0)
    rec_days = dt / DAY_MS
    gap = usual_gap_days(s)
    tenure = max(now_ms - s["t0"], 0) / DAY_MS
    log_gap_h = math.log(max(dt, SESSION_GAP_MS) / HOUR_MS)
    ng = s["ng"]
    gm = (s["gm"] * ng + math.log(PRIOR_GAP_HOURS)) / (ng + 1) if ng else math.log(
        PRIOR_GAP_HOURS)
    a7 = _decay(s["a7"], dt, 7)
    this_week = s["wk"][1] if (now_ms // DAY_MS) // 7 <= s["wk"][0] else 0
    return {
        "seen": 1.0,
        "log_recency": math.log1p(rec_days),
        "log_rel_silence": math.log1p(rec_days / gap),
        "silence_z": (log_gap_h - gm) / _gap_sd(s),
        "log_events": math.log1p(s["n"]),
        "log_active_days": math.log1p(s["ad"]),
        "active7": _decay(s["d7"], dt, 7),
        "active28": _decay(s["d28"], dt, 28),
        "log_events7": math.log1p(a7),
        "log_tenure": math.log1p(tenure),
        "active_ratio": s["ad"] / (tenure + 1.0),
        "log_sessions": math.log1p(s["ns"]),
        "weekly_trend": math.log((this_week + 1.0) / (s["wm"] + 1.0)),
        "failure_streak": float(min(s.get("fs", 0), 10)),
        "abandoned": float(len(_abandoned(s, now_ms))),
    }


def prior_risk(section: Section, now_ms: int) -> float:
    """Hand-set rhythm risk, used until a calibrator has learned: P(no activity in
    the next ``HORIZON_DAYS``) if the learner returns at their recent active-day
    rate, that rate shrinking once the silence outlasts their usual gap.

    Constants are chosen by reasoning, not fitted: a prior of half an active day
    over two days for a newcomer, and a rate that halves each time the silence
    doubles past the usual gap plus two standard deviations.
    """
    s = section
    if "t1" not in s:
        return 0.5
    dt = max(now_ms - s["t1"], 0)
    tenure = max(now_ms - s["t0"], 0) / DAY_MS
    # effective length of the 28-day-half-life window actually lived
    window = 28 / math.log(2) * (1 - 0.5 ** (tenure / 28))
    rate = (_decay(s["d28"], dt, 28) + 0.5) / (window + 2.0)  # active days per day
    patience_days = usual_gap_days(s) * math.exp(2 * _gap_sd(s))
    silence = dt / DAY_MS
    if silence > patience_days:
        rate *= patience_days / silence
    rate += 0.5 * math.exp(-0.5 * s.get("fs", 0)) * 0  # failures do not stop the clock
    return math.exp(-rate * HORIZON_DAYS)


def risk(section: Section, now_ms: int, calibrator: RiskCalibrator | None = None) -> float:
    """Disengagement risk in [0, 1] at event time ``now_ms``.

    Uses ``calibrator`` once it has learned from ``calibrator.min_examples``
    outcomes, else :func:`prior_risk`.
    """
    if calibrator is not None and calibrator.ready:
        return calibrator.predict(features(section, now_ms))
    return prior_risk(section, now_ms)


def due_ms(section: Section) -> int:
    """Event time at which this learner counts as drifting if nothing arrives.

    The usual gap stretched by two standard deviations of the log gap (so a
    regular learner is flagged sooner than an erratic one), within
    [MIN_DUE_DAYS, MAX_DUE_DAYS] after the last activity.
    """
    if "t1" not in section:
        raise ValueError("due_ms of a learner with no activity")
    days = usual_gap_days(section) * math.exp(2 * _gap_sd(section))
    days = min(max(days, MIN_DUE_DAYS), MAX_DUE_DAYS)
    return int(section["t1"] + days * DAY_MS)


def signals(section: Section, now_ms: int) -> dict[str, Any]:
    """Human-usable facts for nudge messages (empty dict for a learner never seen)."""
    s = section
    if "t1" not in s:
        return {}
    ab = _abandoned(s, now_ms)
    tod = s["tod"]
    this_week = s["wk"][1] if (now_ms // DAY_MS) // 7 <= s["wk"][0] else 0
    return {
        "days_since_last": round(max(now_ms - s["t1"], 0) / DAY_MS, 1),
        "usual_gap_days": round(usual_gap_days(s), 1),
        "abandoned_content_id": ab[0][0] if ab else None,
        "abandoned_progress": ab[0][1] if ab else None,
        "abandoned_count": len(ab),
        "failures": s.get("fs", 0),
        "failure_content_id": s.get("fo") if s.get("fs", 0) else None,
        "usual_hour_bucket": max(range(6), key=lambda i: tod[i]),  # 0 = 00-04 local
        "weekly_events": round(s["wm"], 1),
        "this_week_events": this_week,
        "sessions": s["ns"],
        "active_days": s["ad"],
    }
