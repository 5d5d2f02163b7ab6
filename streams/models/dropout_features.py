"""Per-learner activity profile for dropout risk (PURE: no faust, Kafka or Redis).

A small dict of plain numbers (the ``activity`` profile of one learner in one
course), folded event by event in event time and read as a feature vector at any
later instant. Nothing looks ahead: ``features(state, now_ms)`` uses only what
``observe`` saw before ``now_ms``. About 60 numbers, ~900 bytes as JSON
(:func:`state_bytes`), never pickled.

What it keeps, and why (the KDD Cup 2015 dropout literature's strongest
hand-built signals, made incremental):

* per-kind totals and per-kind exponentially weighted rates with 1/3/7/14-day
  half-lives (recent problem and video work say more than old page views);
* active days as a bitmask of the last 31 days, so "distinct active days in the
  last 3/7/14 days" is exact, plus EW active-day sums with the same half-lives;
* first/last active day, gaps between active days (mean, max, last);
* a least-squares slope of log daily activity (rising or fading), from two sums;
* intensity: events per active day, busiest day, events on the last active day,
  sessions (30-minute gap) per active day, and days on which each kind occurred;
* the cohort's calendar (:class:`CohortActivity`, one per course, shared): the
  share of the course's enrollments active over its last 7 days and on the
  last day. The same personal activity means less in a course whose cohort is
  fading: across courses, it is what separates their dropout rates.

Public API
----------
``observe(state, t_ms, kind, count=1, *, tz="UTC")``
    Fold ``count`` events of one ``kind`` (one of :data:`KINDS`) at ``t_ms``.
``kind_of(verb, object_type) -> str``
    Map a canonical learning event to a kind.
``features(state, now_ms, *, tz="UTC", cohort=None) -> dict``
    :data:`FEATURES` as of ``now_ms`` (all zeros for a learner never seen, except
    the cohort's, which are the same for everyone in it; 0 without a cohort).
``CohortActivity(enrolled)``
    Distinct active enrollments per day of one course: ``mark(state_before, day)``.
``state_bytes(state) -> int``
    Size of the state as compact JSON.
``OnlineDropoutModel``
    A shared online (River) model from these features to P(dropout).

Examples
--------
>>> DAY = 86_400_000
>>> s = {}
>>> for d in (0, 1, 3, 8):
...     observe(s, d * DAY + 36_000_000, "video", 3)
...     observe(s, d * DAY + 36_060_000, "problem", 2)
>>> f = features(s, 10 * DAY)
>>> f["active_days"], f["active_last7"], f["silent_days"], f["gap_max"]
(4.0, 2.0, 1.0, 5.0)
>>> round(f["share_video"], 2)
0.6
>>> features(s, 10 * DAY)["ew_problem_h3"] > features(s, 20 * DAY)["ew_problem_h3"]
True
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from river import compose, linear_model, optim, preprocessing

from streams.models import rhythm

State = dict[str, Any]

DAY_MS: Final = rhythm.DAY_MS
SESSION_GAP_MS: Final = rhythm.SESSION_GAP_MS
KINDS: Final[tuple[str, ...]] = (
    "access",
    "discussion",
    "navigate",
    "page_close",
    "problem",
    "video",
    "wiki",
)
KIND_INDEX: Final = {k: i for i, k in enumerate(KINDS)}
HALF_LIVES: Final[tuple[int, ...]] = (1, 3, 7, 14)  # days
WINDOWS: Final[tuple[int, ...]] = (3, 7, 14)  # days, counted exactly from the active-day bitmask
MASK_DAYS: Final = 31
_MASK: Final = (1 << MASK_DAYS) - 1

_PROBLEM_TYPES: Final = frozenset({"problem", "question", "quiz", "assessment", "exercise", "exam"})
_PROBLEM_VERBS: Final = frozenset({"answered", "attempted", "submitted", "failed", "passed"})
_TALK_TYPES: Final = frozenset({"discussion", "forum", "comment", "thread", "chat"})
_TALK_VERBS: Final = frozenset({"commented", "posted", "replied", "shared"})
_CLOSE_VERBS: Final = frozenset({"closed", "exited", "terminated", "suspended"})

FEATURES: Final[tuple[str, ...]] = (
    "seen",
    "log_events",
    "active_days",
    "log_active_days",
    *(f"log_{k}" for k in KINDS),
    *(f"share_{k}" for k in KINDS),
    *(f"dayshare_{k}" for k in KINDS),
    *(f"ew_{k}_h{h}" for h in HALF_LIVES for k in KINDS),
    *(f"ew_active_h{h}" for h in HALF_LIVES),
    *(f"active_last{w}" for w in WINDOWS),
    "recency_days",
    "silent_days",
    "tenure_days",
    "active_ratio",
    "gap_mean",
    "gap_max",
    "gap_last",
    "silence_over_gap",
    "trend",
    "events_per_day",
    "log_max_day",
    "log_last_day",
    "sessions_per_day",
    "cohort_active7",
    "cohort_active_last",
)
COHORT_DAYS: Final = 7


def kind_of(verb: str, object_type: str = "") -> str:
    """The activity kind of a canonical event (unknown activity counts as access).

    >>> kind_of("played", "video"), kind_of("answered", "question"), kind_of("viewed", "page")
    ('video', 'problem', 'access')
    """
    if object_type in rhythm.VIDEO_TYPES:
        return "video"
    if object_type in _PROBLEM_TYPES or verb in _PROBLEM_VERBS:
        return "problem"
    if object_type in _TALK_TYPES or verb in _TALK_VERBS:
        return "discussion"
    if object_type == "wiki":
        return "wiki"
    if verb == "navigated":
        return "navigate"
    if verb in _CLOSE_VERBS:
        return "page_close"
    return "access"


def _fade(dt_ms: float, half_life_days: float) -> float:
    return 0.5 ** (max(dt_ms, 0.0) / (half_life_days * DAY_MS))


def _start(s: State, t_ms: int, day: int) -> None:
    s.update(
        t0=t_ms,
        t1=t_ms,
        d0=day,  # first active (local) day number
        ld=day,  # last active day number
        n=0,
        k=[0] * len(KINDS),
        kd=[0] * len(KINDS),  # active days on which each kind occurred
        kt=0,  # bitmask of kinds seen on day ld
        ad=1,
        am=1,  # bit i: active on day ld - i
        e=[[0.0] * len(KINDS) for _ in HALF_LIVES],  # EW per-kind counts as of t1
        ea=[1.0] * len(HALF_LIVES),  # EW active days as of t1
        ns=1,
        dc=0,  # events on day ld
        dm=0,  # most events on one day
        gn=0,  # gaps between active days: count, sum, max, last (days)
        gs=0,
        gx=0,
        gl=0,
        sx=0.0,  # sum over days of log1p(daily events)
        stx=0.0,  # same weighted by (day - d0): the trend's regression sums
    )


def observe(state: State, t_ms: int, kind: str, count: int = 1, *, tz: str = "UTC") -> None:
    """Fold ``count`` events of ``kind`` at event time ``t_ms`` into the profile.

    Late events (earlier than the last one) count in the totals and the decayed
    rates (faded by their age) but do not reopen past days.
    """
    if count <= 0:
        return
    s = state
    t_ms = int(t_ms)
    ki = KIND_INDEX.get(kind, 0)
    day = rhythm.local_ms(t_ms, tz) // DAY_MS
    if "t1" not in s:
        _start(s, t_ms, day)
    weight = [float(count)] * len(HALF_LIVES)
    if t_ms > s["t1"]:
        dt = t_ms - s["t1"]
        for j, h in enumerate(HALF_LIVES):
            f = _fade(dt, h)
            s["e"][j] = [v * f for v in s["e"][j]]
            s["ea"][j] *= f
        if dt > SESSION_GAP_MS:
            s["ns"] += 1
        s["t1"] = t_ms
    elif t_ms < s["t1"]:
        weight = [count * _fade(s["t1"] - t_ms, h) for h in HALF_LIVES]
    if day > s["ld"]:
        gap = day - s["ld"]
        s["ad"] += 1
        s["am"] = ((s["am"] << gap) | 1) & _MASK
        s["gn"] += 1
        s["gs"] += gap
        s["gx"] = max(s["gx"], gap)
        s["gl"] = gap
        s["ea"] = [v + 1.0 for v in s["ea"]]
        s["ld"], s["dc"], s["kt"] = day, 0, 0
    s["n"] += count
    s["k"][ki] += count
    for j in range(len(HALF_LIVES)):
        s["e"][j][ki] += weight[j]
    if day == s["ld"]:
        old, new = s["dc"], s["dc"] + count
        s["dc"], s["dm"] = new, max(s["dm"], new)
        step = math.log1p(new) - math.log1p(old)
        s["sx"] += step
        s["stx"] += (day - s["d0"]) * step
        if not s["kt"] >> ki & 1:
            s["kt"] |= 1 << ki
            s["kd"][ki] += 1


def _slope(sx: float, stx: float, days: int) -> float:
    """Least-squares slope of log1p(daily events) over days 0..days-1 (zeros included)."""
    if days < 2:
        return 0.0
    n = float(days)
    st = n * (n - 1) / 2
    stt = (n - 1) * n * (2 * n - 1) / 6
    return (n * stx - st * sx) / (n * stt - st * st)


class CohortActivity:
    """Per course (shared, not per learner): how many of its ``enrolled`` learners
    were active on each day, for the cohort context of :func:`features`. Days
    are local day numbers as in the profiles; only the last ``MASK_DAYS`` kept.

    >>> c = CohortActivity(enrolled=4)
    >>> for day in (10, 10, 11, 16):
    ...     c.active_on(day)
    >>> c.share(16), round(c.mean_share(16, 7), 3)
    (0.25, 0.143)
    """

    def __init__(self, enrolled: int) -> None:
        self.enrolled = max(int(enrolled), 1)
        self.days: dict[int, int] = {}

    def active_on(self, day: int) -> None:
        """One more enrollment active on ``day`` (call once per learner and day)."""
        self.days[day] = self.days.get(day, 0) + 1
        if len(self.days) > MASK_DAYS:
            del self.days[min(self.days)]

    def share(self, day: int) -> float:
        return self.days.get(day, 0) / self.enrolled

    def mean_share(self, today: int, days: int) -> float:
        return sum(self.share(today - i) for i in range(days)) / days


def new_active_day(state: State, t_ms: int, *, tz: str = "UTC") -> int | None:
    """The local day of ``t_ms`` if it would be a new active day for this profile
    (call before :func:`observe`; feeds :meth:`CohortActivity.active_on`)."""
    day = rhythm.local_ms(int(t_ms), tz) // DAY_MS
    return day if "ld" not in state or day > state["ld"] else None


def features(
    state: State, now_ms: int, *, tz: str = "UTC", cohort: CohortActivity | None = None
) -> dict[str, float]:
    """The profile as of ``now_ms`` (the day containing ``now_ms - 1`` is "today")."""
    s = state
    today = rhythm.local_ms(now_ms - 1, tz) // DAY_MS
    context = {
        "cohort_active7": cohort.mean_share(today, COHORT_DAYS) if cohort else 0.0,
        "cohort_active_last": cohort.share(today) if cohort else 0.0,
    }
    if "t1" not in s:
        return dict.fromkeys(FEATURES, 0.0) | context
    dt = max(now_ms - s["t1"], 0)
    today = max(today, s["ld"])
    silent = today - s["ld"]
    span = today - s["d0"] + 1
    n, ad = s["n"], s["ad"]
    gap_mean = s["gs"] / s["gn"] if s["gn"] else float(span)
    f: dict[str, float] = {
        "seen": 1.0,
        "log_events": math.log1p(n),
        "active_days": float(ad),
        "log_active_days": math.log1p(ad),
    }
    for i, k in enumerate(KINDS):
        f[f"log_{k}"] = math.log1p(s["k"][i])
        f[f"share_{k}"] = s["k"][i] / n
        f[f"dayshare_{k}"] = s["kd"][i] / ad
    for j, h in enumerate(HALF_LIVES):
        fade = _fade(dt, h)
        for i, k in enumerate(KINDS):
            f[f"ew_{k}_h{h}"] = math.log1p(s["e"][j][i] * fade)
        f[f"ew_active_h{h}"] = s["ea"][j] * fade
    for w in WINDOWS:
        keep = max(w - silent, 0)
        f[f"active_last{w}"] = float(bin(s["am"] & ((1 << keep) - 1)).count("1"))
    f.update(
        recency_days=dt / DAY_MS,
        silent_days=float(silent),
        tenure_days=max(now_ms - s["t0"], 0) / DAY_MS,
        active_ratio=ad / span,
        gap_mean=gap_mean,
        gap_max=float(max(s["gx"], silent)),
        gap_last=float(s["gl"]),
        silence_over_gap=silent / max(gap_mean, 1.0),
        trend=_slope(s["sx"], s["stx"], span),
        events_per_day=n / ad,
        log_max_day=math.log1p(s["dm"]),
        log_last_day=math.log1p(s["dc"]),
        sessions_per_day=s["ns"] / ad,
    )
    f.update(context)
    return f


def state_bytes(state: State) -> int:
    """Bytes of the state as compact JSON, floats rounded to 6 significant digits
    (what a checkpoint needs; the features do not move at that precision)."""

    def small(v: Any) -> Any:
        if isinstance(v, float):
            return float(f"{v:.6g}")
        if isinstance(v, list):
            return [small(x) for x in v]
        return v

    return len(json.dumps({k: small(v) for k, v in state.items()}, separators=(",", ":")))


class OnlineDropoutModel:
    """Shared online model from :data:`FEATURES` to P(dropout): River's
    ``StandardScaler`` then ``LogisticRegression`` with AdaGrad steps.

    One instance per deployment (or per evaluation fold), not per learner. It
    learns one example at a time (``learn_one``), so it can follow a stream of
    outcomes; the running scaler and AdaGrad's per-weight steps make a single
    pass in arrival order converge without a tuned schedule. Until it has seen
    ``min_examples`` outcomes, ``ready`` is False and callers should fall back to
    a prior (``rhythm.risk``).

    >>> import random
    >>> m = OnlineDropoutModel(min_examples=10)
    >>> rng = random.Random(0)
    >>> for _ in range(400):
    ...     quiet = rng.random() < 0.5
    ...     m.learn_one({"silent_days": 9.0 if quiet else 0.0, "seen": 1.0}, quiet)
    >>> quiet, busy = m.predict_one({"silent_days": 9.0}), m.predict_one({"silent_days": 0.0})
    >>> m.ready, quiet > 0.6 > 0.4 > busy
    (True, True)
    """

    def __init__(self, *, lr: float = 0.02, l2: float = 1e-3, min_examples: int = 200) -> None:
        self.min_examples = min_examples
        self.n = 0
        self.model = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.AdaGrad(lr), l2=l2),
        )

    @property
    def ready(self) -> bool:
        return self.n >= self.min_examples

    def learn_one(self, x: dict[str, float], dropped: bool) -> None:
        self.n += 1
        self.model.learn_one(x, bool(dropped))

    def predict_one(self, x: dict[str, float]) -> float:
        """Probability of dropout (no activity over the horizon the labels mean)."""
        return float(self.model.predict_proba_one(x).get(True, 0.0))
