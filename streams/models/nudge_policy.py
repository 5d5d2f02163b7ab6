"""Whether, when, where and how to nudge a learner (PURE: no faust, Kafka or Redis).

Owns the ``nudge`` section of the learner state. The stream worker calls
:func:`decide` when the learner's silence timer fires (``streams.silence``) or when
a deadline approaches, :func:`on_activity` on every learning event of the learner,
and :func:`on_outcome` on nudge feedback (``nudge_opened``, ``dismissed``).

Public API
----------
``decide(section, *, learner_id, now_ms, risk, signals, profile, ...) -> Decision``
    ``Decision.action`` is ``"send"`` (``Decision.nudge`` is a dict with exactly the
    fields of ``schemas/nudge.decided.v1.avsc``; the section already records it),
    ``"defer"`` (call again at ``Decision.retry_at_ms``: quiet hours, outside the
    chosen send window, or a frequency cap; schedule it in the silence index) or
    ``"skip"`` (``Decision.reason`` says why: ``no_reason``, ``returned``,
    ``open_nudge``, ``already_nudged``).
``on_activity(section, t_ms, bandit=None)``
    The learner did something: an open nudge sent within ``return_days`` is
    rewarded (returned = 1) and closed; a pending choice is dropped.
``on_outcome(section, nudge_id, outcome, t_ms, bandit=None)``
    ``opened`` (answered; the reward still waits for a return), ``dismissed``
    (reward 0) or ``returned`` (reward 1).
``upcoming_deadlines(paths, *, learner_id, team_id, done, now_ms)``
    Items of the learner's assigned paths not done yet, soonest first.
``NudgeBandit``: Thompson sampling over ``template@window`` arms per segment, per-arm
    Beta parameters as plain numbers (``to_dict``/``from_dict``). Hard rules (caps,
    quiet hours, suppression) are applied before and after it, so it only ever
    chooses among nudges that are allowed.

Rules, in order (``NudgeConfig`` holds the numbers)
    1. an open nudge older than ``return_days`` expires (reward 0);
    2. reasons: a path item due within ``deadline_days``; or risk >= ``min_risk``
       after at least ``min_silence_days`` of silence (else ``returned`` if the
       learner was active within that time);
    3. suppression: an unanswered nudge younger than ``open_ttl_days``; an episode
       (the silence since the last activity at T, or deadline D of item C) that
       was already nudged;
    4. caps: at most ``max_per_day`` sends in any 24 h and ``max_per_week`` in any
       7 days (rolling): defer until a slot frees;
    5. template and send window from the bandit (kept for the episode);
    6. quiet hours and the window in the learner's IANA zone (DST-correct):
       defer to the window's next opening;
    7. channel: the first of the profile's ``preferred_channels`` that is known;
       ``escalate_to`` = manager only if ``escalate_to_manager`` and risk >=
       ``escalation_risk``.

Idempotency: ``nudge_id`` = hash(learner, episode, template). The bandit draws use
a random generator seeded from (learner, episode), so a replay from the same state
makes the same choice and the same id; delivery dedupes on ``nudge_id``.

Section layout::

    sent  [[t_ms, nudge_id], ...] sends of the last 7 days (bounded)
    open  [nudge_id, t_ms, segment, arm, opened 0/1] the last nudge awaiting outcome
    pend  [episode, template, window] the choice for an episode while deferred
    eps   [episode, ...] the last episodes nudged (bounded), one nudge each
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Section = dict[str, Any]
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS
CHANNELS: Final[tuple[str, ...]] = ("in_app", "email", "chat")
MAX_EPISODES: Final = 8


def _quiet(cfg: NudgeConfig, hour: int) -> bool:
    s, e = cfg.quiet_start_hour, cfg.quiet_end_hour
    return (s <= hour or hour < e) if s > e else s <= hour < e


@dataclass(frozen=True)
class NudgeConfig:
    """Numbers of the policy; every hard rule wins over the bandit."""

    max_per_day: int = 1  # sends in any rolling 24 h
    max_per_week: int = 3  # sends in any rolling 7 days
    quiet_start_hour: int = 20  # local quiet hours [start, end), across midnight
    quiet_end_hour: int = 8
    # send windows (local hours [start, end)), all outside quiet hours
    windows: tuple[tuple[str, int, int], ...] = (
        ("morning", 8, 11),
        ("midday", 11, 14),
        ("afternoon", 14, 17),
        ("evening", 17, 20),
    )
    min_risk: float = 0.6
    min_silence_days: float = 1.0
    escalation_risk: float = 0.85
    deadline_days: float = 3.0
    return_days: float = 3.0  # a return within this counts as the nudge's success
    open_ttl_days: float = 3.0  # an unanswered nudge blocks new ones this long

    def __post_init__(self) -> None:
        for name, start, end in self.windows:
            if not 0 <= start < end <= 24 or any(_quiet(self, h) for h in range(start, end)):
                raise ValueError(f"send window {name} overlaps quiet hours")


DEFAULT: Final = NudgeConfig()


@dataclass
class Decision:
    action: str  # send | defer | skip
    reason: str
    nudge: dict[str, Any] | None = None
    retry_at_ms: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # a bad profile value must not silence the learner forever


def local_time(now_ms: int, tz: str) -> datetime:
    """Wall-clock time of ``now_ms`` in ``tz`` (zoneinfo, DST-aware)."""
    return datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(_zone(tz))


def next_opening(now_ms: int, tz: str, start_hour: int, end_hour: int) -> int:
    """``now_ms`` if local time is in [start_hour, end_hour), else the next local
    ``start_hour`` as epoch ms (wall clock converted with that day's offset)."""
    local = local_time(now_ms, tz)
    if start_hour <= local.hour < end_hour:
        return now_ms
    day = local.date() if local.hour < start_hour else local.date() + timedelta(days=1)
    opening = datetime.combine(day, time(start_hour), tzinfo=local.tzinfo)
    return int(opening.astimezone(UTC).timestamp() * 1000)


class NudgeBandit:
    """Thompson sampling over arms ``template@window`` per segment, Beta(1, 1) prior.

    Parameters are plain numbers (no pickled River policy: see DESIGN.md);
    ``max_weight`` rescales an arm's (alpha, beta) so it keeps adapting.

    >>> b = NudgeBandit()
    >>> for _ in range(200):
    ...     b.update("ops", "resume@morning", 1.0)
    ...     b.update("ops", "rhythm@evening", 0.0)
    >>> b.choose("ops", ["resume@morning", "rhythm@evening"], random.Random(0))
    'resume@morning'
    >>> NudgeBandit.from_dict(b.to_dict()).params == b.params
    True
    """

    def __init__(self, max_weight: float = 500.0) -> None:
        self.max_weight = max_weight
        self.params: dict[str, dict[str, list[float]]] = {}

    def choose(self, segment: str, arms: Sequence[str], rng: random.Random) -> str:
        seg = self.params.get(segment, {})
        draws = [(rng.betavariate(*seg.get(a, (1.0, 1.0))), a) for a in arms]
        return max(draws)[1]

    def update(self, segment: str, arm: str, reward: float) -> None:
        ab = self.params.setdefault(segment, {}).setdefault(arm, [1.0, 1.0])
        ab[0] += reward
        ab[1] += 1.0 - reward
        total = ab[0] + ab[1]
        if total > self.max_weight:
            ab[0], ab[1] = ab[0] * self.max_weight / total, ab[1] * self.max_weight / total

    def mean(self, segment: str, arm: str) -> float:
        a, b = self.params.get(segment, {}).get(arm, (1.0, 1.0))
        return a / (a + b)

    def to_dict(self) -> dict[str, Any]:
        return {"v": 1, "max_weight": self.max_weight, "params": self.params}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NudgeBandit:
        b = cls(max_weight=d["max_weight"])
        b.params = {s: {a: list(p) for a, p in arms.items()} for s, arms in d["params"].items()}
        return b


def segment_of(profile: Mapping[str, Any]) -> str:
    """Bandit segment of a learner: their department (coarse enough to learn fast)."""
    return str(profile.get("department") or "all")


def nudge_id(learner_id: str, episode: str, template: str) -> str:
    """Idempotency key: same learner, episode and template give the same id.

    >>> nudge_id("l1", "silence:100", "rhythm") == nudge_id("l1", "silence:100", "rhythm")
    True
    """
    raw = f"{learner_id}|{episode}|{template}".encode()
    return "ndg-" + hashlib.sha256(raw).hexdigest()[:24]


def _rng(learner_id: str, episode: str) -> random.Random:
    digest = hashlib.sha256(f"{learner_id}|{episode}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def upcoming_deadlines(
    paths: Iterable[Mapping[str, Any]],
    *,
    learner_id: str,
    team_id: str,
    done: Mapping[str, Any],
    now_ms: int,
) -> list[dict[str, Any]]:
    """Assigned, active, not yet completed path items due after ``now_ms``, soonest first."""
    out = []
    for p in paths:
        if not p.get("active", True) or not (
            learner_id in p.get("learner_ids", ()) or (team_id and team_id in p.get("team_ids", ()))
        ):
            continue
        for item in p.get("items", ()):
            due = item.get("due_at_ms")
            if due is not None and due > now_ms and item["content_id"] not in done:
                out.append(
                    {
                        "path_id": p["path_id"],
                        "path_title": p.get("title") or "Your path",
                        "content_id": item["content_id"],
                        "due_at_ms": int(due),
                    }
                )
    return sorted(out, key=lambda d: d["due_at_ms"])


def _title(catalog: Mapping[str, Any], cid: str | None) -> str | None:
    item = catalog.get(cid) if cid else None
    return str(item.get("title") or cid) if item else None


def _minutes(catalog: Mapping[str, Any], cid: str, progress: float) -> int:
    dur = float((catalog.get(cid) or {}).get("duration_min", 10.0))
    left = dur * max(1.0 - progress, 0.0)
    return max(1, int(5 * round(left / 5))) if left >= 5 else max(1, round(left))


def _due_text(due_ms: int, now_ms: int) -> str:
    hours = (due_ms - now_ms) / HOUR_MS
    if hours < 24:
        return f"in {max(1, math.ceil(hours))} hours"
    days = math.floor(hours / 24 + 0.5)
    return "tomorrow" if days <= 1 else f"in {days} days"


def _candidates(
    signals: Mapping[str, Any],
    prog: Mapping[str, Any],
    catalog: Mapping[str, Any],
    next_content_id: str | None,
) -> dict[str, dict[str, Any]]:
    """Silence templates this learner's facts can fill, each with its message."""
    out: dict[str, dict[str, Any]] = {}
    cid, p = signals.get("abandoned_content_id"), signals.get("abandoned_progress")
    if not (cid and _title(catalog, cid)):  # else the most recent unfinished item
        open_items = [(v[1], k, v[0]) for k, v in prog.items() if 0 < v[0] < 1]
        if open_items:
            _, cid, p = max(open_items)
    title = _title(catalog, cid)
    if cid and title and p is not None:
        pct = int(round(100 * p))
        out["resume"] = {
            "content_id": cid,
            "message": (
                f"You are {pct}% through {title}; about {_minutes(catalog, cid, p)} minutes left."
            ),
        }
    fails, fcid = signals.get("failures", 0), signals.get("failure_content_id")
    if fails >= 2 and _title(catalog, fcid):
        out["retry"] = {
            "content_id": fcid,
            "message": (
                f"{_title(catalog, fcid)} has not worked out in {fails} tries; one more go with "
                f"the worked examples takes about {_minutes(catalog, str(fcid), 0.0)} minutes."
            ),
        }
    days, gap = signals.get("days_since_last"), signals.get("usual_gap_days")
    if days is not None and gap is not None:
        msg = (
            f"It has been {int(days)} days since your last session; "
            f"you usually learn every {gap:g} days."
        )
        nxt = _title(catalog, next_content_id)
        if nxt and next_content_id:
            msg += f" Next up: {nxt}, about {_minutes(catalog, next_content_id, 0.0)} minutes."
        out["rhythm"] = {"content_id": next_content_id if nxt else None, "message": msg}
    return out


REASONS: Final = {
    "deadline": "deadline",
    "resume": "abandoned",
    "retry": "failures",
    "rhythm": "silence",
}


def _close(section: Section, reward: float, bandit: NudgeBandit | None) -> None:
    op = section.pop("open", None)
    if op and bandit is not None:
        bandit.update(op[2], op[3], reward)


def _expire(section: Section, now_ms: int, bandit: NudgeBandit | None, cfg: NudgeConfig) -> None:
    op = section.get("open")
    if op and now_ms - op[1] > cfg.return_days * DAY_MS:
        _close(section, 0.0, bandit)  # no return in time: the nudge did not work


def on_activity(
    section: Section, t_ms: int, bandit: NudgeBandit | None = None, config: NudgeConfig = DEFAULT
) -> bool:
    """The learner was active at ``t_ms``; returns True if that rewarded an open nudge."""
    section.pop("pend", None)  # the silence this choice answered is over
    op = section.get("open")
    if not op or t_ms < op[1]:
        return False
    if t_ms - op[1] <= config.return_days * DAY_MS:
        _close(section, 1.0, bandit)
        return True
    _close(section, 0.0, bandit)
    return False


def on_outcome(
    section: Section,
    nudge: str,
    outcome: str,
    t_ms: int,
    bandit: NudgeBandit | None = None,
    config: NudgeConfig = DEFAULT,
) -> None:
    """Feedback on a nudge: ``opened``, ``dismissed`` or ``returned``."""
    op = section.get("open")
    if not op or op[0] != nudge:
        return  # late or duplicate feedback on a nudge already settled
    if outcome == "opened":
        op[4] = 1  # answered: no longer blocks new nudges; the reward waits for a return
    elif outcome == "dismissed":
        _close(section, 0.0, bandit)
    elif outcome == "returned":
        on_activity(section, t_ms, bandit, config)
    else:
        raise ValueError(f"unknown nudge outcome {outcome!r}")


def _cap_free_at(section: Section, now_ms: int, cfg: NudgeConfig) -> int | None:
    """None if a nudge may go out now, else when the next one may (rolling caps)."""
    sent = sorted(t for t, _ in section.get("sent", ()) if now_ms - t < 7 * DAY_MS)
    waits = []
    for cap, span in ((cfg.max_per_day, DAY_MS), (cfg.max_per_week, 7 * DAY_MS)):
        recent = [t for t in sent if now_ms - t < span]
        if len(recent) >= cap:
            waits.append(recent[len(recent) - cap] + span)
    return max(waits) if waits else None


def _not_quiet_at(now_ms: int, tz: str, cfg: NudgeConfig) -> int:
    s, e = cfg.quiet_start_hour, cfg.quiet_end_hour
    if not _quiet(cfg, local_time(now_ms, tz).hour):
        return now_ms
    return next_opening(now_ms, tz, e, s if s > e else 24)


def decide(
    section: Section,
    *,
    learner_id: str,
    now_ms: int,
    risk: float,
    signals: Mapping[str, Any],
    profile: Mapping[str, Any],
    last_activity_ms: int,
    prog: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    deadlines: Sequence[Mapping[str, Any]] = (),
    next_content_id: str | None = None,
    bandit: NudgeBandit | None = None,
    config: NudgeConfig = DEFAULT,
) -> Decision:
    """Decide about one learner at event time ``now_ms`` (see the module docstring).

    ``signals`` comes from ``rhythm.signals``, ``risk`` from ``rhythm.risk``,
    ``prog`` is the state's ``prog`` section, ``catalog`` maps content id to its
    catalog record (title, duration_min), ``deadlines`` from
    :func:`upcoming_deadlines`, ``next_content_id`` the learner's top
    recommendation. On ``send`` the section records the nudge.
    """
    cfg, catalog, prog = config, catalog or {}, prog or {}
    _expire(section, now_ms, bandit, cfg)
    tz = str(profile.get("time_zone") or "UTC")
    # 1. reasons, most useful first: (episode, {template: fill}, deadline ms or None)
    options: list[tuple[str, dict[str, dict[str, Any]], int | None]] = []
    for d in deadlines:
        due = int(d["due_at_ms"])
        if 0 < due - now_ms <= cfg.deadline_days * DAY_MS:
            title = _title(catalog, d["content_id"]) or d["content_id"]
            path = d.get("path_title") or "Your path"
            msg = f"{path} item {title} is due {_due_text(due, now_ms)}."
            options.append(
                (
                    f"deadline:{d['content_id']}:{due}",
                    {"deadline": {"content_id": d["content_id"], "message": msg}},
                    due,
                )
            )
            break
    silent_days = (now_ms - last_activity_ms) / DAY_MS if last_activity_ms else None
    returned = silent_days is not None and silent_days < cfg.min_silence_days
    if risk >= cfg.min_risk and not returned and silent_days is not None:
        fills = _candidates(signals, prog, catalog, next_content_id)
        if fills:
            options.append((f"silence:{last_activity_ms}", fills, None))
    if not options:
        return Decision("skip", "returned" if returned and risk >= cfg.min_risk else "no_reason")
    # 2. suppression
    op = section.get("open")
    if op and not op[4] and now_ms - op[1] < cfg.open_ttl_days * DAY_MS:
        return Decision("skip", "open_nudge", detail={"nudge_id": op[0]})
    fresh = [o for o in options if o[0] not in section.get("eps", ())]
    if not fresh:
        return Decision("skip", "already_nudged")
    episode, fills, due_ms = fresh[0]
    # 3. caps
    free_at = _cap_free_at(section, now_ms, cfg)
    if free_at is not None:
        return Decision("defer", "cap", retry_at_ms=free_at)
    # 4. template and window: the bandit's choice, kept while the episode is deferred
    windows = {name: (a, b) for name, a, b in cfg.windows}
    pend = section.get("pend")
    if pend and pend[0] == episode and pend[1] in fills and pend[2] in windows:
        template, window = pend[1], pend[2]
    else:
        usable = [
            w
            for w, (a, b) in windows.items()
            if due_ms is None or next_opening(now_ms, tz, a, b) < due_ms
        ]
        if not usable:  # no window opens before the deadline: first non-quiet moment
            usable = [min(windows, key=lambda w: next_opening(now_ms, tz, *windows[w]))]
        arms = [f"{t}@{w}" for t in sorted(fills) for w in usable]
        rng = _rng(learner_id, episode)
        arm = bandit.choose(segment_of(profile), arms, rng) if bandit else rng.choice(arms)
        template, window = arm.split("@")
        section["pend"] = [episode, template, window]
    # 5. quiet hours and the send window, in the learner's zone
    at = next_opening(now_ms, tz, *windows[window])
    if at > now_ms:
        quiet = _quiet(cfg, local_time(now_ms, tz).hour)
        return Decision(
            "defer",
            "quiet_hours" if quiet else "window",
            retry_at_ms=at,
            detail={"template": template, "window": window},
        )
    # 6. channel, escalation, record
    prefs = [c for c in profile.get("preferred_channels") or () if c in CHANNELS]
    manager = profile.get("manager_id")
    escalate = (
        manager
        if (profile.get("escalate_to_manager") and manager and risk >= cfg.escalation_risk)
        else None
    )
    fill = fills[template]
    nid = nudge_id(learner_id, episode, template)
    nudge = {
        "nudge_id": nid,
        "learner_id": learner_id,
        "created_at_ms": int(now_ms),
        "channel": prefs[0] if prefs else "in_app",
        "template": template,
        "message": fill["message"],
        "content_id": fill.get("content_id"),
        "reason": REASONS[template],
        "risk": float(round(risk, 4)),
        "escalate_to": escalate,
    }
    sent = [s for s in section.get("sent", ()) if now_ms - s[0] < 7 * DAY_MS]
    sent.append([int(now_ms), nid])
    section["sent"] = sent[-max(cfg.max_per_week, 1) * 2 :]
    section["open"] = [nid, int(now_ms), segment_of(profile), f"{template}@{window}", 0]
    section["eps"] = [*section.get("eps", ()), episode][-MAX_EPISODES:]
    section.pop("pend", None)
    return Decision("send", REASONS[template], nudge=nudge)
