"""Explanations: candidate evidence turned into short sentences a learner understands.

Evidence tuples come from :mod:`streams.models.candidates`; only the final
top-K are rendered, so wording costs nothing for the items not shown. Dates are
said in the learner's own time zone ("due Friday", "due tomorrow").

Examples
--------
>>> DAY = 86_400_000
>>> now = 1_736_424_000_000  # Thursday 2025-01-09 12:00 UTC
>>> reason(("path", "SQL for analysts", 2, 4, now + DAY, True), now, "UTC")
'Step 2 of 4 in "SQL for analysts", assigned by your manager, due tomorrow'
>>> reason(("gap", "sql", "role", 0.8, "quiz", 0.4, "data_analyst"), now, "UTC")
'Builds SQL, a skill your role needs; you scored 40% on the last quiz'
>>> reason(("peers", 3), now, "UTC")
'3 people in your team finished this this week'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_MS: Final = 86_400_000
MAX_REASONS: Final = 3
EXPLORE_NOTE: Final = "Suggested to help you discover something new"
# streams.listcache finds progress sentences by it
CONTINUE_TAIL: Final = "; pick up where you left off"
_WEEKDAYS: Final[tuple[str, ...]] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
_MONTHS: Final[tuple[str, ...]] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_UPPER: Final = frozenset({"sql", "crm", "gdpr", "ux", "api", "hr", "qa", "ai", "ml", "it"})


def words(ident: str) -> str:
    """Human name of a skill or topic id.

    >>> words("sql"), words("public_speaking"), words("ux_research")
    ('SQL', 'Public Speaking', 'UX Research')
    """
    return " ".join(
        w.upper() if w in _UPPER else w.capitalize()
        for w in ident.replace("-", "_").split("_")
        if w
    )


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _day(ms: int, tz: str) -> datetime:
    return datetime.fromtimestamp(ms / 1000, _zone(tz))


# (instant, zone) -> that instant's local (date, weekday, day of month, month). A
# conversion costs ~8,000 instructions compiled; a batch's lists share one "now",
# and learners on one path share its due dates.
_LOCAL: Final[dict[tuple[int, str], tuple[date, int, int, int]]] = {}
_LOCAL_MAX: Final = 4096


def _local(ms: int, tz: str) -> tuple[date, int, int, int]:
    key = (ms, tz)
    hit = _LOCAL.get(key)
    if hit is None:
        d = _day(ms, tz)
        if len(_LOCAL) >= _LOCAL_MAX:
            _LOCAL.clear()
        hit = _LOCAL[key] = (d.date(), d.weekday(), d.day, d.month)
    return hit


def when_due(due_ms: int, now_ms: int, tz: str = "UTC") -> str:
    """ "due Friday", "due today", "overdue since Monday", "due 14 March".

    >>> now = 1_736_424_000_000  # Thursday 2025-01-09 12:00 UTC
    >>> [when_due(now + d * 86_400_000, now) for d in (0, 1, 1.5, -2, 20)]
    ['due today', 'due tomorrow', 'due Saturday', 'overdue since Tuesday', 'due 29 January']
    """
    due, weekday, day, month = _local(due_ms, tz)
    days = (due - _local(now_ms, tz)[0]).days
    if days == 0:
        return "due today"
    if days == 1:
        return "due tomorrow"
    if 1 < days < 7:
        return f"due {_WEEKDAYS[weekday]}"
    if -7 < days < 0:
        return f"overdue since {_WEEKDAYS[weekday]}"
    text = f"{day} {_MONTHS[month - 1]}"
    return f"overdue since {text}" if days < 0 else f"due {text}"


def _ago(ms: int, now_ms: int) -> str:
    days = max(0, (now_ms - ms) // DAY_MS)
    return "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"


def _mastery_clause(kind: str, value: float) -> str:
    pct = round(value * 100)
    if kind == "quiz":
        return f"; you scored {pct}% on the last quiz"
    if kind == "self":
        return f"; you rated yourself {pct}%"
    if kind == "model":
        return f"; your estimated mastery is {pct}%"
    return ""


def reason(ev: Sequence[Any], now_ms: int, tz: str = "UTC") -> str:
    """One sentence for one piece of evidence."""
    kind = ev[0]
    if kind == "path":
        _k, title, step, n, due, by_manager = ev
        who = "assigned by your manager" if by_manager else "assigned to you"
        tail = f", {when_due(due, now_ms, tz)}" if due else ""
        return f'Step {step} of {n} in "{title}", {who}{tail}'
    if kind == "prereq":
        _k, title, before, due, by_manager = ev
        who = "assigned by your manager" if by_manager else "assigned to you"
        tail = f", {when_due(due, now_ms, tz)}" if due else ""
        return f'Needed before "{before}", the next step of "{title}" ({who}{tail})'
    if kind == "continue":
        progress, last_ms = ev[1], ev[2]
        if progress > 0:
            return f"You are {round(progress * 100)}% through this{CONTINUE_TAIL}"
        return f"You started this {_ago(last_ms, now_ms)}{CONTINUE_TAIL}"
    if kind == "gap":
        _k, skill, why, _target, mkind, value, _role = ev
        need = "a skill your role needs" if why == "role" else "one of your goals"
        return f"Builds {words(skill)}, {need}{_mastery_clause(mkind, value)}"
    if kind == "popular":
        dept, manager = ev[1], ev[2]
        people = "managers" if manager else "individual contributors"
        where = f" in {words(dept)}" if dept else ""
        return f"Popular with {people}{where} lately"
    if kind == "popular_all":
        return "Popular across the company lately"
    if kind == "cluster":
        return "Popular with people who share your interests"
    if kind == "peers":
        n = ev[1]
        who = "1 person" if n == 1 else f"{n} people"
        where = "with your interests" if len(ev) > 2 and ev[2] == "cluster" else "in your team"
        return f"{who} {where} finished this this week"
    if kind == "interest":
        topic, why = words(ev[1]), ev[2]
        if why == "recent":
            return f"Because you have been learning {topic} lately"
        return f"Matches your interest in {topic}"
    if kind == "fresh":
        days = ev[1]
        return (
            "New: published today"
            if days == 0
            else "New: published yesterday"
            if days == 1
            else f"New: published {days} days ago"
        )
    if kind == "niche":
        return f"A hidden gem in {words(ev[1])}: few people have found it yet"
    return ""


# Sentences already rendered: the same evidence (a team's path step, a segment's
# popular items) comes back for many learners. Only these kinds depend on the
# moment and the time zone; the others are keyed by the evidence alone.
_NOW_KINDS: Final = frozenset({"path", "prereq", "continue"})
_MEMO: Final[dict[Any, str]] = {}
_MEMO_MAX: Final = 20_000


def _memo_reason(ev: Sequence[Any], now_ms: int, tz: str) -> str:
    key = (ev, now_ms, tz) if ev[0] in _NOW_KINDS else ev
    try:
        return _MEMO[key]
    except KeyError:
        pass
    except TypeError:  # unhashable evidence (a list): nothing to share
        return reason(ev, now_ms, tz)
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    text = _MEMO[key] = reason(ev, now_ms, tz)
    return text


def reasons(
    evidence: Sequence[Sequence[Any]], now_ms: int, tz: str = "UTC", explored: bool = False
) -> list[str]:
    """Up to :data:`MAX_REASONS` sentences, strongest evidence first."""
    out = []
    for ev in evidence[:MAX_REASONS]:
        r = _memo_reason(ev, now_ms, tz)
        if r:
            out.append(r)
    if explored:
        out.append(EXPLORE_NOTE)
    return out
