"""Per-learner activity rhythm and disengagement risk (PURE: no faust, Kafka or Redis).

Owns the ``rhythm`` section of the learner state (see ``streams.models.state``): a
small dict of plain numbers, mutated in place, bounded in size (< ~600 bytes as
JSON), so it is checkpointed with the rest of the state and never pickled.

Public API
----------
``observe(section, t_ms, verb, *, success=None, progress=None, object_type="",
object_id="", tz="UTC")``
    Fold one learning event (event time ``t_ms``) into the rhythm.
``risk(section, now_ms) -> float``
    Disengagement risk in [0, 1]: the probability that the current silence is a
    drop rather than one of the learner's own gaps, from the learner's personal
    gap distribution (a survival model, see :func:`silence_survival`). Driven by
    event time only, so it keeps rising for a learner who went silent.
``due_ms(section, at_risk=DUE_RISK) -> int``
    Event time at which, if nothing more arrives, the risk reaches ``at_risk``
    (closed form, bounded to [``MIN_DUE_DAYS``, ``MAX_DUE_DAYS``] after the last
    event). The silence index (``streams.silence``) schedules this, so the timer
    fires when the risk crosses the nudge threshold, not a day or a week later.
``signals(section, now_ms) -> dict``
    Facts a nudge message can quote: days since last activity, usual gap in
    days, the most recent abandoned item and its progress, failure streak, usual
    time-of-day bucket, weekly volume and trend.
``features(section, now_ms) -> dict``
    15 rhythm features for a learned model (:class:`RiskCalibrator`); the
    dropout evaluation compares such models with the risk. The worker does not
    use them (decision 0013: a shared model trained at events never saw long
    silences, so its risk rose too slowly).
``checkpoint(section, now_ms)`` / ``matured(section, now_ms)``
    Self-supervised labels for a :class:`RiskCalibrator`: a checkpoint stores the
    features as of ``now_ms``; once the outcome is known (an event came within
    ``HORIZON_DAYS`` -> 0, or the horizon passed in silence -> 1) ``matured``
    pops it as ``(features, label)``.

Section layout (short keys; all values JSON numbers, lists or small dicts)::

    n    events seen               t0/t1  first/last event time (ms)
    ns   sessions (gap > 30 min)   s0     current session start (ms)
    gm   EW mean of ln(idle gap between sessions, hours)
    g2   EW mean of its square     (EWVar = g2 - gm**2, same as river.stats.EWVar)
    ng   gaps seen
    hn   gaps seen, faded by ``GAP_MEMORY`` per gap     hs  their idle days, same fading
    ad   distinct active local days    ld  last active local day number
    a7   events, decayed with a 7-day half-life, as of t1
    d7   active days, 7-day half-life, as of t1     d28  same, 28-day half-life
    wk   [local week number, events that week]
    wm   EW mean of events per completed week (empty weeks count as 0)    nw  weeks closed
    tod  sessions per 4-hour bucket of the local day (6 ints, halved past 255)
    op   open videos {content_id: [progress, t_ms]}, <= MAX_OPEN, newest kept;
         one untouched for a day counts as abandoned
    fs   failure streak            fo     object of the last failure
    ck   pending checkpoints [[t_ms, [feature values], label or null]],
         <= MAX_CHECKPOINTS

Examples
--------
>>> s = {}
>>> DAY = 86_400_000
>>> for d in (0, 2, 4, 6):
...     observe(s, d * DAY + 9 * 3_600_000, "completed", object_type="article")
>>> signals(s, 7 * DAY)["usual_gap_days"]  # 2 days, shrunk toward the 3-day prior
2.2
>>> round(risk(s, 7 * DAY), 3), round(risk(s, 20 * DAY), 2)  # 1 and 14 days of silence
(0.013, 0.32)
>>> round((due_ms(s) - s["t1"]) / DAY, 1)  # 3 gaps only: the prior still weighs, risk 0.6 late
19.7
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Section = dict[str, Any]

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS
SESSION_GAP_MS: Final = 30 * 60_000  # a new session starts after 30 min without events
GAP_FADING: Final = 0.3  # EW fading factor of the gap statistics (river.stats.EWMean semantics)
WEEK_FADING: Final = 0.3
PRIOR_GAP_HOURS: Final = 72.0  # usual gap assumed before a learner has shown one
HORIZON_DAYS: Final = 10.0  # RiskCalibrator labels: no activity in the next HORIZON_DAYS
# Silence hazard (see silence_survival): idle gaps ~ Exponential(rate), rate ~
# Gamma(GAP_PRIOR_N + gaps, GAP_PRIOR_N * PRIOR_GAP + their days), so a learner
# with few gaps is judged mostly by the prior and one with many by their own.
GAP_PRIOR_N: Final = 3.0  # the prior weighs as much as three gaps of PRIOR_GAP_HOURS
GAP_MEMORY: Final = 0.98  # fading per new gap: ~50 gaps of memory, so a changed rhythm is followed
DROP_PRIOR: Final = 0.01  # prior odds that a silence is a drop, not a gap (~1 silence in 100)
DUE_RISK: Final = 0.6  # default risk at which due_ms fires (the nudge policy's min_risk)
NEVER_ACTIVE_RISK: Final = 1.0  # known, never active: the clearest disengagement
MIN_DUE_DAYS: Final = 1.0
MAX_DUE_DAYS: Final = 45.0
MAX_OPEN: Final = 5
MAX_CHECKPOINTS: Final = 3
CHECKPOINT_EVERY_MS: Final = 2 * DAY_MS
FAIL_VERBS: Final = frozenset({"answered", "attempted", "failed", "completed"})
OPEN_VERBS: Final = frozenset({"started", "paused", "progressed", "played", "resumed"})
VIDEO_TYPES: Final = frozenset({"video", "audio", "podcast"})

FEATURES: Final[tuple[str, ...]] = (
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


# Offsets by (zone, quarter hour): every transition since 1970 falls on a quarter
# hour in UTC (Asia/Kathmandu's on xx:15, Australia/Lord_Howe's on xx:30), so
# one offset holds for the whole quarter. A datetime round trip cost ~1.5 µs
# and runs several times per event.
_QUARTER_MS: Final = 15 * 60 * 1000
_OFFSETS: Final[dict[tuple[str, int], int]] = {}
_OFFSETS_MAX: Final = 100_000


def _offset_ms(t_ms: int, tz: str, zone: ZoneInfo) -> int:
    key = (tz, t_ms // _QUARTER_MS)
    off = _OFFSETS.get(key)
    if off is None:
        td = datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(zone).utcoffset()
        off = int(td.total_seconds() * 1000) if td else 0
        if len(_OFFSETS) >= _OFFSETS_MAX:
            _OFFSETS.clear()
        _OFFSETS[key] = off
    return off


def _local_ms(t_ms: int, tz: str) -> int:
    """Event time shifted by the zone's UTC offset at that instant (DST-correct)."""
    zone = _zone(tz)
    if zone is None:
        return t_ms
    return t_ms + _offset_ms(t_ms, tz, zone)


def local_ms(t_ms: int, tz: str = "UTC") -> int:
    """Event time shifted into the zone ``tz`` (DST-correct); ``// DAY_MS`` gives the
    learner's local day number. Unknown zones fall back to UTC.

    >>> local_ms(0, "Asia/Shanghai") // HOUR_MS
    8
    """
    return _local_ms(int(t_ms), tz)


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
        s.update(
            n=0,
            t0=t_ms,
            t1=t_ms,
            ns=1,
            s0=t_ms,
            ng=0,
            hn=0.0,
            hs=0.0,
            ad=1,
            ld=day,
            a7=0.0,
            d7=1.0,
            d28=1.0,
            wk=[day // 7, 0],
            wm=0.0,
            nw=0,
            tod=[0] * 6,
            fs=0,
        )
        s["tod"][(local % DAY_MS) // (4 * HOUR_MS)] += 1
    elif t_ms > last:
        dt = t_ms - last
        s["a7"] = _decay(s["a7"], dt, 7)
        s["d7"] = _decay(s["d7"], dt, 7)
        s["d28"] = _decay(s["d28"], dt, 28)
        if dt > SESSION_GAP_MS:
            s["s0"] = t_ms
            _new_session(s, dt, local)
        if day > s["ld"]:
            s["ad"] += 1
            s["ld"] = day
            s["d7"] += 1.0
            s["d28"] += 1.0
        s["t1"] = t_ms
    s["n"] += 1
    s["a7"] += 1.0
    for ck in s.get("ck", ()):
        if ck[2] is None and t_ms > ck[0]:  # first activity after the checkpoint
            ck[2] = 0 if t_ms - ck[0] <= HORIZON_DAYS * DAY_MS else 1
    _count_week(s, day // 7)
    _in_session(s, t_ms, verb, success, progress, object_type, object_id)


def _new_session(s: Section, gap_ms: int, local_ms: int) -> None:
    s["ns"] += 1
    hn, hs = _gap_sums(s)
    s["hn"] = round(hn * GAP_MEMORY + 1.0, 4)
    s["hs"] = round(hs * GAP_MEMORY + gap_ms / DAY_MS, 4)
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
        # close the finished week; the first one seeds the mean, later ones fade in,
        # and each empty week in between fades it toward zero
        closed = s.get("nw", 0)
        s["wm"] = wk[1] if closed == 0 else WEEK_FADING * wk[1] + (1 - WEEK_FADING) * s["wm"]
        s["wm"] *= (1 - WEEK_FADING) ** (week - wk[0] - 1)
        s["nw"] = closed + 1
        s["wk"] = [week, 0]
    if week == s["wk"][0]:
        s["wk"][1] += 1


def _in_session(
    s: Section,
    t_ms: int,
    verb: str,
    success: bool | None,
    progress: float | None,
    object_type: str,
    object_id: str,
) -> None:
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
    return sorted(
        ((k, v[0], int(v[1])) for k, v in op.items() if now_ms - v[1] >= DAY_MS),
        key=lambda x: -x[2],
    )


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
    gm = (s["gm"] * ng + math.log(PRIOR_GAP_HOURS)) / (ng + 1) if ng else math.log(PRIOR_GAP_HOURS)
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


def _gap_sums(s: Section) -> tuple[float, float]:
    """Faded count and idle days of the learner's gaps (``hn``, ``hs``); a section
    written before they existed is read from its gap count and log-gap mean."""
    if "hn" in s:
        return s["hn"], s["hs"]
    ng = min(s.get("ng", 0), 50)
    return float(ng), ng * math.exp(s["gm"]) / 24.0 if ng else 0.0


def _posterior(s: Section) -> tuple[float, float]:
    """Gamma posterior (shape, rate in days) of the learner's return rate."""
    hn, hs = _gap_sums(s)
    return GAP_PRIOR_N + hn, GAP_PRIOR_N * PRIOR_GAP_HOURS / 24.0 + hs


def silence_survival(section: Section, now_ms: int) -> float:
    """Probability that one of this learner's own gaps lasts at least the current
    silence: the Lomax (Gamma-Exponential) predictive ``(b / (b + s)) ** a`` of
    their idle gaps, ``a``/``b`` the Gamma posterior of their return rate. It
    is 1 at the last event and falls faster the more regular the learner.

    >>> s = {}
    >>> for d in range(10):
    ...     observe(s, d * 2 * DAY_MS, "viewed")  # every 2 days
    >>> round(silence_survival(s, s["t1"] + 2 * DAY_MS), 2)
    0.43
    >>> round(silence_survival(s, s["t1"] + 10 * DAY_MS), 3)
    0.024
    """
    a, b = _posterior(section)
    silence = max(now_ms - section["t1"], 0) / DAY_MS
    return float((b / (b + silence)) ** a)


def risk(section: Section, now_ms: int) -> float:
    """Disengagement risk in [0, 1] at event time ``now_ms``: the posterior
    probability that the current silence is a drop (prior ``DROP_PRIOR``) rather
    than a gap of the learner's own rhythm (:func:`silence_survival`).

    0.01 at the last event, then rising with silence measured against the
    learner's own gaps. A learner with no activity at all is at
    ``NEVER_ACTIVE_RISK``.
    """
    if "t1" not in section:
        return NEVER_ACTIVE_RISK
    surv = silence_survival(section, now_ms)
    return DROP_PRIOR / (DROP_PRIOR + (1.0 - DROP_PRIOR) * surv)


def quiet_probability(section: Section, now_ms: int, horizon_days: float = HORIZON_DAYS) -> float:
    """P(no activity in the next ``horizon_days``) under the same model: a drop, or
    a gap of their own that outlasts the horizon too (the KDD Cup label's question;
    :func:`risk` asks whether the silence so far is a drop)."""
    if "t1" not in section:
        return NEVER_ACTIVE_RISK
    a, b = _posterior(section)
    silence = max(now_ms - section["t1"], 0) / DAY_MS
    now, later = (b / (b + silence)) ** a, (b / (b + silence + horizon_days)) ** a
    return (DROP_PRIOR + (1.0 - DROP_PRIOR) * later) / (DROP_PRIOR + (1.0 - DROP_PRIOR) * now)


def silence_days_at(section: Section, at_risk: float) -> float:
    """Days of silence after which :func:`risk` reaches ``at_risk`` (the inverse
    of ``risk`` in closed form; ``inf`` for ``at_risk`` >= 1)."""
    if at_risk <= DROP_PRIOR:
        return 0.0
    if at_risk >= 1.0:
        return math.inf
    surv = DROP_PRIOR * (1.0 - at_risk) / (at_risk * (1.0 - DROP_PRIOR))
    a, b = _posterior(section)
    return b * (surv ** (-1.0 / a) - 1.0)


def due_ms(section: Section, at_risk: float = DUE_RISK) -> int:
    """Event time at which this learner's risk reaches ``at_risk`` if nothing
    arrives, within [MIN_DUE_DAYS, MAX_DUE_DAYS] after the last activity (a
    learner not due by ``MAX_DUE_DAYS`` is looked at then and re-scheduled).
    """
    if "t1" not in section:
        raise ValueError("due_ms of a learner with no activity")
    days = min(max(silence_days_at(section, at_risk), MIN_DUE_DAYS), MAX_DUE_DAYS)
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


def checkpoint(section: Section, now_ms: int, *, every_ms: int = CHECKPOINT_EVERY_MS) -> bool:
    """Remember the features as of ``now_ms`` to learn from once the outcome is known.

    Call it from a periodic sweep or the silence timer. Learners with no activity
    yet are skipped (they have no rhythm to learn from). At most one per
    ``every_ms`` and ``MAX_CHECKPOINTS`` pending; returns whether one was taken.
    """
    if "t1" not in section:
        return False
    cks: list[list[Any]] = section.setdefault("ck", [])
    if len(cks) >= MAX_CHECKPOINTS or (cks and now_ms - cks[-1][0] < every_ms):
        return False
    f = features(section, now_ms)
    cks.append([int(now_ms), [round(f[k], 4) for k in FEATURES], None])
    return True


def matured(section: Section, now_ms: int) -> list[tuple[dict[str, float], bool]]:
    """Pop the checkpoints whose outcome is known at ``now_ms``.

    Label True = no activity within ``HORIZON_DAYS`` after the checkpoint (the
    event ``risk`` predicts); False = the learner was active again in time.
    """
    cks = section.get("ck")
    if not cks:
        return []
    out: list[tuple[dict[str, float], bool]] = []
    keep = []
    label: Any  # None (pending), then 0/1; typed for the compiler (learnpulse/native.py)
    for t, values, label in cks:
        if label is None and now_ms - t >= HORIZON_DAYS * DAY_MS:
            label = 1
        if label is None:
            keep.append([t, values, label])
        else:
            out.append((dict(zip(FEATURES, values, strict=True)), bool(label)))
    section["ck"] = keep
    return out


class RiskCalibrator:
    """Shared online logistic regression from rhythm features to P(no activity in
    the next ``HORIZON_DAYS``), learned from :func:`matured` outcomes or labels.

    Not the worker's risk (see :func:`risk`); the dropout evaluation measures it
    as a comparison. One instance per deployment or fold (not per learner).
    Inputs are standardised with running (Welford) statistics and weights follow
    AdaGrad, so one pass in event
    order converges without a tuned learning rate. All state is plain numbers
    (``to_dict``/``from_dict``), not a pickled River object: it is checkpointed
    like any other value and survives River upgrades.

    >>> cal = RiskCalibrator(min_examples=2)
    >>> for _ in range(50):
    ...     cal.learn_one({"log_recency": 3.0}, True)
    ...     cal.learn_one({"log_recency": 0.0}, False)
    >>> cal.predict({"log_recency": 3.0}) > 0.8 > 0.2 > cal.predict({"log_recency": 0.0})
    True
    >>> RiskCalibrator.from_dict(cal.to_dict()).predict({"log_recency": 3.0}) == (
    ...     cal.predict({"log_recency": 3.0}))
    True
    """

    def __init__(self, *, lr: float = 0.1, l2: float = 1e-4, min_examples: int = 200) -> None:
        self.lr, self.l2, self.min_examples = lr, l2, min_examples
        k = len(FEATURES)
        self.n = 0
        self.mean = [0.0] * k
        self.m2 = [0.0] * k
        self.w = [0.0] * k
        self.g = [0.0] * k  # AdaGrad sums of squared gradients
        self.b = 0.0
        self.gb = 0.0

    @property
    def ready(self) -> bool:
        return self.n >= self.min_examples

    def _z(self, x: dict[str, float]) -> list[float]:
        n = max(self.n, 2)
        return [
            (x.get(f, 0.0) - self.mean[i]) / math.sqrt(self.m2[i] / (n - 1) + 1e-9)
            if self.m2[i] > 0
            else 0.0
            for i, f in enumerate(FEATURES)
        ]

    def predict(self, x: dict[str, float]) -> float:
        """Probability of no activity within the horizon."""
        z = self._z(x)
        logit = self.b + sum(w * v for w, v in zip(self.w, z, strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(logit, 30.0), -30.0)))

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        self.n += 1
        for i, f in enumerate(FEATURES):
            v = x.get(f, 0.0)
            d = v - self.mean[i]
            self.mean[i] += d / self.n
            self.m2[i] += d * (v - self.mean[i])
        err = self.predict(x) - (1.0 if y else 0.0)
        z = self._z(x)
        for i, v in enumerate(z):
            grad = err * v + self.l2 * self.w[i]
            self.g[i] += grad * grad
            self.w[i] -= self.lr * grad / math.sqrt(self.g[i] + 1e-8)
        self.gb += err * err
        self.b -= self.lr * err / math.sqrt(self.gb + 1e-8)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "features": list(FEATURES),
            "lr": self.lr,
            "l2": self.l2,
            "min_examples": self.min_examples,
            "n": self.n,
            "mean": self.mean,
            "m2": self.m2,
            "w": self.w,
            "g": self.g,
            "b": self.b,
            "gb": self.gb,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiskCalibrator:
        if list(d["features"]) != list(FEATURES):
            raise ValueError("calibrator was trained on a different feature set")
        cal = cls(lr=d["lr"], l2=d["l2"], min_examples=d["min_examples"])
        cal.n = d["n"]
        cal.mean, cal.m2, cal.w, cal.g = (list(d[k]) for k in ("mean", "m2", "w", "g"))
        cal.b, cal.gb = d["b"], d["gb"]
        return cal
