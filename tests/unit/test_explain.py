"""Explanations: sentences a learner understands, with the evidence behind them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import schemas
from streams.models import explain
from streams.models.explain import reason, reasons, when_due
from streams.models.recommend import Recommender
from streams.models.state import new_state

DAY = 86_400_000
HOUR = 3_600_000
NOW = 1_736_424_000_000  # Thursday 2025-01-09 12:00 UTC
ROOT = Path(__file__).resolve().parents[2]


def test_due_dates_are_said_as_weekdays_in_the_learners_time_zone() -> None:
    friday_late = NOW + DAY + 11 * HOUR + 30 * 60_000  # Friday 23:30 UTC
    assert when_due(friday_late, NOW, "UTC") == "due tomorrow"
    assert when_due(friday_late + DAY, NOW, "UTC") == "due Saturday"
    # Already Saturday morning in India; still Friday afternoon in New York.
    assert when_due(friday_late, NOW, "Asia/Kolkata") == "due Saturday"
    assert when_due(friday_late, NOW, "America/New_York") == "due tomorrow"
    assert when_due(NOW - 3 * DAY, NOW) == "overdue since Monday"
    assert when_due(NOW + 30 * DAY, NOW) == "due 8 February"
    assert when_due(NOW, NOW, "Not/AZone") == "due today"  # unknown zone: UTC


def test_each_kind_of_evidence_reads_as_a_sentence() -> None:
    cases: list[tuple[tuple[Any, ...], str]] = [
        (
            ("path", "Onboarding", 1, 3, NOW + 1 * DAY, True),
            'Step 1 of 3 in "Onboarding", assigned by your manager, due tomorrow',
        ),
        (("path", "Onboarding", 2, 3, None, False), 'Step 2 of 3 in "Onboarding", assigned to you'),
        (
            ("prereq", "SQL path", "Advanced SQL", NOW + 4 * DAY, True),
            'Needed before "Advanced SQL", the next step of "SQL path" '
            "(assigned by your manager, due Monday)",
        ),
        (("continue", 0.4, NOW - DAY), "You are 40% through this; pick up where you left off"),
        (
            ("continue", 0.0, NOW - 2 * DAY),
            "You started this 2 days ago; pick up where you left off",
        ),
        (
            ("gap", "sql", "role", 0.8, "quiz", 0.4, "data_analyst"),
            "Builds SQL, a skill your role needs; you scored 40% on the last quiz",
        ),
        (
            ("gap", "public_speaking", "goal", 0.8, "self", 0.3, "sales_rep"),
            "Builds Public Speaking, one of your goals; you rated yourself 30%",
        ),
        (
            ("gap", "excel", "role", 0.7, "model", 0.35, "analyst"),
            "Builds Excel, a skill your role needs; your estimated mastery is 35%",
        ),
        (
            ("gap", "excel", "role", 0.7, "none", 0.0, "analyst"),
            "Builds Excel, a skill your role needs",
        ),
        (("popular", "sales", True), "Popular with managers in Sales lately"),
        (
            ("popular", "engineering", False),
            "Popular with individual contributors in Engineering lately",
        ),
        (("popular_all",), "Popular across the company lately"),
        (("cluster",), "Popular with people who share your interests"),
        (("peers", 3), "3 people in your team finished this this week"),
        (("peers", 1), "1 person in your team finished this this week"),
        (("interest", "data", "recent"), "Because you have been learning Data lately"),
        (("interest", "ux_research", "said"), "Matches your interest in UX Research"),
        (("fresh", 0), "New: published today"),
        (("fresh", 5), "New: published 5 days ago"),
        (("niche", "design"), "A hidden gem in Design: few people have found it yet"),
    ]
    for ev, sentence in cases:
        assert reason(ev, NOW, "UTC") == sentence


def test_reasons_are_capped_and_exploration_is_said() -> None:
    evs = [("path", "P", 1, 2, None, True), ("peers", 2), ("popular_all",), ("fresh", 1)]
    out = reasons(evs, NOW, "UTC", explored=True)
    assert len(out) == explain.MAX_REASONS + 1
    assert out[-1] == explain.EXPLORE_NOTE


class Ref:
    version = 1
    role_skills = {"data_analyst": {"sql": 0.8}}

    def __init__(self) -> None:
        self.catalog = {
            "sql-1": {
                "title": "SQL for Analysts",
                "skills": ["sql"],
                "topics": ["data"],
                "level": 1,
                "format": "course",
                "published_at_ms": NOW - 300 * DAY,
            },
            "sql-2": {
                "title": "SQL Joins",
                "skills": ["sql"],
                "topics": ["data"],
                "level": 2,
                "format": "video",
                "published_at_ms": NOW - 300 * DAY,
            },
        }
        self.paths = {
            "p1": {
                "path_id": "p1",
                "title": "Analyst onboarding",
                "assigned_by": "boss",
                "learner_ids": ["ann"],
                "team_ids": [],
                "items": [{"content_id": "sql-1", "due_at_ms": NOW + DAY}],
                "active": True,
            }
        }


def test_recommended_items_match_the_schema_and_carry_their_evidence() -> None:
    st = new_state()
    st["profile"] = {
        "learner_id": "ann",
        "role": "data_analyst",
        "manager_id": "boss",
        "department": "data",
        "time_zone": "Europe/Berlin",
    }
    st["ranker"]["q"] = {"sql": [40, NOW - DAY]}
    items = Recommender(Ref(), explore_slots=0).recommend(st, now_ms=NOW)
    schema = json.loads((ROOT / "schemas" / f"{schemas.RECOMMENDATION}.avsc").read_text())
    fields = [f["name"] for f in schema["fields"][4]["type"]["items"]["fields"]]
    assert all(list(it) == fields for it in items)
    first = items[0]
    assert (first["content_id"], first["source"]) == ("sql-1", "path")
    assert first["reasons"][0] == (
        'Step 1 of 1 in "Analyst onboarding", assigned by your manager, due tomorrow'
    )
    # 40% on the last quiz: the level-2 item is the right next difficulty, not the level-1.
    assert items[1]["content_id"] == "sql-2"
    assert items[1]["reasons"][0] == (
        "Builds SQL, a skill your role needs; you scored 40% on the last quiz"
    )
    # The whole list encodes as the audit record.
    record = {
        "learner_id": "ann",
        "generated_at_ms": NOW,
        "model_version": "x",
        "trigger_event_id": None,
        "items": items,
    }
    assert (
        schemas.decode(schemas.RECOMMENDATION, schemas.encode(schemas.RECOMMENDATION, record))[
            "items"
        ]
        == items
    )


def _when_due_reference(due_ms: int, now_ms: int, tz: str) -> str:
    """when_due as first written: both instants converted on every call."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    due = datetime.fromtimestamp(due_ms / 1000, zone)
    today = datetime.fromtimestamp(now_ms / 1000, zone)
    days = (due.date() - today.date()).days
    if days == 0:
        return "due today"
    if days == 1:
        return "due tomorrow"
    weekdays = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    if 1 < days < 7:
        return f"due {weekdays[due.weekday()]}"
    if -7 < days < 0:
        return f"overdue since {weekdays[due.weekday()]}"
    months = ("January", "February", "March", "April", "May", "June", "July", "August")
    months += ("September", "October", "November", "December")
    date = f"{due.day} {months[due.month - 1]}"
    return f"overdue since {date}" if days < 0 else f"due {date}"


def test_when_due_with_remembered_local_dates_matches_converting_every_time() -> None:
    # The local dates of instants are remembered: the sentences must be those of
    # converting both instants every time, for instants across 2025 (daylight-saving
    # changes included) and around Berlin's spring change, in odd and unknown zones.
    import random

    from streams.models.explain import when_due

    rng = random.Random(11)
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Pacific/Chatham"]
    zones += ["Australia/Lord_Howe", "Not/AZone", ""]
    start = 1_735_689_600_000  # 2025-01-01 00:00 UTC
    nows = [start + rng.randrange(365 * 86_400_000) for _ in range(60)]
    nows += [1_743_296_400_000 + d for d in (-1, 0, 1, 3_600_000)]  # Berlin DST start
    for now in nows:
        for tz in zones:
            for _ in range(12):
                due = now + rng.randrange(-20 * 86_400_000, 40 * 86_400_000)
                assert when_due(due, now, tz) == _when_due_reference(due, now, tz)
                assert when_due(due, now, tz) == _when_due_reference(due, now, tz)  # cached
