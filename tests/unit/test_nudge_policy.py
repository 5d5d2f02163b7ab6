"""Nudge policy: caps, quiet hours across zones and DST, suppression, escalation,
idempotency under replay, and the bandit learning within the caps."""

from __future__ import annotations

import copy
import io
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest

from streams.models import nudge_policy as np_
from streams.models.nudge_policy import DAY_MS, HOUR_MS, NudgeBandit, NudgeConfig

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "nudge.decided.v1.avsc"
CATALOG = {
    "c-sql": {"title": "SQL joins in practice", "duration_min": 30.0},
    "c-py": {"title": "Python for analysts", "duration_min": 20.0},
}
ALL_DAY = NudgeConfig(windows=(("day", 8, 20),))  # one window: isolates quiet hours


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def iso_utc(t: int) -> str:
    return datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


def profile(tz: str = "UTC", **kw: Any) -> dict[str, Any]:
    p = {
        "time_zone": tz,
        "preferred_channels": ["in_app"],
        "department": "eng",
        "manager_id": "m1",
        "escalate_to_manager": False,
    }
    p.update(kw)
    return p


def signals(days: float = 5.0, gap: float = 2.0, **kw: Any) -> dict[str, Any]:
    s = {
        "days_since_last": days,
        "usual_gap_days": gap,
        "abandoned_content_id": "c-sql",
        "abandoned_progress": 0.7,
        "failures": 0,
        "failure_content_id": None,
    }
    s.update(kw)
    return s


def decide(
    section: dict,
    now: int,
    *,
    last: int | None = None,
    risk: float = 0.8,
    prof: dict | None = None,
    sig: dict | None = None,
    **kw: Any,
) -> np_.Decision:
    last = now - 5 * DAY_MS if last is None else last
    return np_.decide(
        section,
        learner_id="l1",
        now_ms=now,
        risk=risk,
        signals=sig or signals((now - last) / DAY_MS),
        profile=prof or profile(),
        last_activity_ms=last,
        catalog=CATALOG,
        **kw,
    )


@pytest.mark.parametrize(
    ("template", "sig", "message"),
    [
        ("resume", {}, "You are 70% through SQL joins in practice; about 10 minutes left."),
        (
            "rhythm",
            {},
            "It has been 5 days since your last session; you usually learn every "
            "2 days. Next up: Python for analysts, about 20 minutes.",
        ),
        (
            "retry",
            {"failures": 3, "failure_content_id": "c-py"},
            "Python for analysts has not worked out in 3 tries; one more go with the worked "
            "examples takes about 20 minutes.",
        ),
    ],
)
def test_specific_messages_and_schema_fields(template: str, sig: dict, message: str) -> None:
    bandit = NudgeBandit()
    for _ in range(300):  # make the bandit pick this template
        bandit.update("eng", f"{template}@day", 1.0)
    t = ms("2024-05-06T10:00:00+00:00")
    d = decide(
        {}, t, sig=signals(5.0, **sig), bandit=bandit, config=ALL_DAY, next_content_id="c-py"
    )
    assert d.action == "send" and d.nudge is not None
    n = d.nudge
    assert (n["template"], n["message"]) == (template, message)
    assert "miss" not in n["message"].lower()
    raw = json.loads(SCHEMA.read_text())
    assert set(n) == {f["name"] for f in raw["fields"]}
    fastavro.schemaless_writer(io.BytesIO(), fastavro.parse_schema(raw), n)  # types match


def test_deadline_message_names_path_item_and_days_left() -> None:
    now = ms("2024-05-06T09:00:00+00:00")
    deadlines = np_.upcoming_deadlines(
        [
            {
                "path_id": "p1",
                "title": "Analyst onboarding",
                "learner_ids": ["l1"],
                "items": [
                    {"content_id": "c-done", "due_at_ms": now + DAY_MS},
                    {"content_id": "c-py", "due_at_ms": now + 2 * DAY_MS},
                    {"content_id": "c-sql", "due_at_ms": now + 20 * DAY_MS},
                ],
            },
            {
                "path_id": "p2",
                "title": "Other team",
                "team_ids": ["t9"],
                "items": [{"content_id": "c-sql", "due_at_ms": now + HOUR_MS}],
            },
        ],
        learner_id="l1",
        team_id="t1",
        done={"c-done": 1},
        now_ms=now,
    )
    assert [d["content_id"] for d in deadlines] == ["c-py", "c-sql"]
    d = decide({}, now, risk=0.1, deadlines=deadlines, config=ALL_DAY)  # low risk: deadline only
    assert d.action == "send" and d.nudge is not None
    assert d.nudge["message"] == "Analyst onboarding item Python for analysts is due in 2 days."
    assert d.nudge["reason"] == "deadline" and d.nudge["content_id"] == "c-py"


def test_low_risk_or_just_returned_learner_is_not_nudged() -> None:
    now = ms("2024-05-06T10:00:00+00:00")
    assert decide({}, now, risk=0.2).reason == "no_reason"
    assert decide({}, now, last=now - 2 * HOUR_MS, risk=0.9).reason == "returned"


@pytest.mark.parametrize(
    ("tz", "now", "opens"),
    [
        # 03:00 UTC: 04:00 in Berlin (CET), 22:00 the evening before in New York (EST)
        ("Europe/Berlin", "2024-01-15T03:00:00+00:00", "2024-01-15T07:00"),
        ("America/New_York", "2024-01-15T03:00:00+00:00", "2024-01-15T13:00"),
        ("Asia/Kolkata", "2024-01-15T20:00:00+00:00", "2024-01-16T02:30"),
        # New York springs forward on 2024-03-10: 08:00 EDT is 12:00 UTC, not 13:00
        ("America/New_York", "2024-03-10T05:00:00+00:00", "2024-03-10T12:00"),
        # ... and falls back on 2024-11-03: 08:00 EST is 13:00 UTC
        ("America/New_York", "2024-11-03T05:00:00+00:00", "2024-11-03T13:00"),
        # Berlin: CEST from 2024-03-31 (08:00 = 06:00 UTC), CET from 2024-10-27 (07:00 UTC)
        ("Europe/Berlin", "2024-03-30T22:00:00+00:00", "2024-03-31T06:00"),
        ("Europe/Berlin", "2024-10-26T22:00:00+00:00", "2024-10-27T07:00"),
    ],
)
def test_quiet_hours_in_the_learners_zone_across_dst(tz: str, now: str, opens: str) -> None:
    section: dict = {}
    d = decide(section, ms(now), prof=profile(tz), config=ALL_DAY)
    assert (d.action, d.reason) == ("defer", "quiet_hours")
    assert d.retry_at_ms is not None and iso_utc(d.retry_at_ms) == opens
    again = decide(
        section, d.retry_at_ms, last=ms(now) - 5 * DAY_MS, prof=profile(tz), config=ALL_DAY
    )
    assert again.action == "send"  # the same episode goes out when quiet hours end


def test_evening_window_in_new_york_converts_to_utc_with_dst() -> None:
    for day, utc_hour in (("2024-01-15", 22), ("2024-07-15", 21)):  # 17:00 EST / EDT
        at = np_.next_opening(ms(f"{day}T14:00:00+00:00"), "America/New_York", 17, 20)
        assert iso_utc(at) == f"{day}T{utc_hour}:00"


def _episode(
    section: dict,
    start: int,
    bandit: NudgeBandit | None = None,
    cfg: NudgeConfig = ALL_DAY,
    prof: dict | None = None,
) -> tuple[str, int]:
    """Drive one silence episode (last activity at ``start``) until sent or skipped."""
    now = start + 2 * DAY_MS
    for _ in range(20):
        d = decide(section, now, last=start, bandit=bandit, config=cfg, prof=prof)
        if d.action != "defer":
            return d.action, now
        assert d.retry_at_ms is not None and d.retry_at_ms > now
        now = d.retry_at_ms
    raise AssertionError("never settled")


def test_caps_per_day_and_per_week_defer_then_release() -> None:
    cfg = NudgeConfig(max_per_day=1, max_per_week=3, windows=(("day", 8, 20),))
    section: dict = {}
    sends: list[int] = []
    last = ms("2024-05-06T09:00:00+00:00")
    for _ in range(12):  # a learner who returns each time and drifts right away
        action, at = _episode(section, last, cfg=cfg)
        assert action == "send"
        sends.append(at)
        np_.on_activity(section, at + HOUR_MS)
        last = at + HOUR_MS - 2 * DAY_MS  # already silent long enough for the next episode
    for t in sends:
        assert sum(1 for u in sends if t <= u < t + DAY_MS) <= 1
        assert sum(1 for u in sends if t <= u < t + 7 * DAY_MS) <= 3
    # the cap deferred rather than dropped: 12 sends took about four weeks, not 12 days
    assert (sends[-1] - sends[0]) / DAY_MS > 21


def test_cap_decision_says_when_the_slot_frees() -> None:
    cfg = NudgeConfig(max_per_day=1, max_per_week=3, windows=(("day", 8, 20),))
    t = ms("2024-05-06T10:00:00+00:00")
    section = {"sent": [[t - 6 * DAY_MS, "a"], [t - 3 * DAY_MS, "b"], [t - 2 * HOUR_MS, "c"]]}
    d = decide(section, t, config=cfg)
    assert (d.action, d.reason, d.retry_at_ms) == ("defer", "cap", t + DAY_MS)


def test_open_unanswered_nudge_suppresses_until_answered() -> None:
    t = ms("2024-05-06T10:00:00+00:00")
    section: dict = {}
    first = decide(section, t, config=ALL_DAY)
    assert first.action == "send" and first.nudge is not None
    deadlines = [
        {"path_id": "p", "path_title": "Path", "content_id": "c-py", "due_at_ms": t + 3 * DAY_MS}
    ]
    later = t + 1 * DAY_MS + HOUR_MS  # past the daily cap, within the open-nudge TTL
    d = decide(section, later, last=t - 5 * DAY_MS, deadlines=deadlines, config=ALL_DAY)
    assert (d.action, d.reason) == ("skip", "open_nudge")
    np_.on_outcome(section, first.nudge["nudge_id"], "opened", later)
    d2 = decide(section, later, last=t - 5 * DAY_MS, deadlines=deadlines, config=ALL_DAY)
    assert d2.action == "send" and d2.nudge is not None and d2.nudge["reason"] == "deadline"
    # the silence episode already had its nudge: no second one for it
    d3 = decide(section, later + 4 * DAY_MS, last=t - 5 * DAY_MS, config=ALL_DAY)
    assert (d3.action, d3.reason) == ("skip", "already_nudged")


def test_return_closes_the_nudge_and_drops_a_deferred_choice() -> None:
    bandit = NudgeBandit()
    night = ms("2024-05-06T23:00:00+00:00")
    section: dict = {}
    assert decide(section, night, bandit=bandit, config=ALL_DAY).action == "defer"
    assert "pend" in section
    np_.on_activity(section, night + HOUR_MS, bandit)  # came back during the night
    assert "pend" not in section
    d = decide(section, night + 9 * HOUR_MS, last=night + HOUR_MS, bandit=bandit, config=ALL_DAY)
    assert (d.action, d.reason) == ("skip", "returned")
    # a return after a sent nudge rewards its arm
    t = ms("2024-05-08T10:00:00+00:00")
    sent = decide(section, t, last=t - 5 * DAY_MS, bandit=bandit, config=ALL_DAY)
    assert sent.action == "send" and sent.nudge is not None
    assert np_.on_activity(section, t + DAY_MS, bandit) is True
    assert "open" not in section
    arm = f"{sent.nudge['template']}@day"
    assert bandit.mean("eng", arm) > 0.5


def test_escalation_only_when_configured_and_risk_is_high() -> None:
    t = ms("2024-05-06T10:00:00+00:00")
    cases = [(False, 0.99, None), (True, 0.99, "m1"), (True, 0.7, None)]
    for flag, risk, expected in cases:
        d = decide({}, t, risk=risk, prof=profile(escalate_to_manager=flag), config=ALL_DAY)
        assert d.nudge is not None and d.nudge["escalate_to"] == expected
    no_manager = profile(escalate_to_manager=True, manager_id=None)
    d = decide({}, t, risk=0.99, prof=no_manager, config=ALL_DAY)
    assert d.nudge is not None and d.nudge["escalate_to"] is None


def test_preferred_channel_order() -> None:
    t = ms("2024-05-06T10:00:00+00:00")
    for prefs, expected in (
        (["chat", "email"], "chat"),
        (["sms", "email"], "email"),
        ([], "in_app"),
    ):
        d = decide({}, t, prof=profile(preferred_channels=prefs), config=ALL_DAY)
        assert d.nudge is not None and d.nudge["channel"] == expected


def test_idempotency_key_is_stable_under_replay_and_restart() -> None:
    bandit = NudgeBandit()
    for k in range(30):  # some learned state, so the choice is not trivial
        bandit.update("eng", "resume@afternoon", float(k % 2))
    start = ms("2024-05-06T06:00:00+00:00")
    section: dict = {}
    first = _episode(section, start - 2 * DAY_MS, bandit, np_.DEFAULT)
    assert first[0] == "send"
    ids, arms = [], []
    for replay in range(3):
        # the worker restarts from the checkpointed state and bandit (JSON), replays
        s = json.loads(json.dumps({}))
        b = NudgeBandit.from_dict(json.loads(json.dumps(bandit.to_dict())))
        now = start + replay * 7 * 60_000  # the timer fires a little later each time
        for _ in range(5):
            d = decide(s, now, last=start - 2 * DAY_MS, bandit=b)
            if d.action == "send":
                break
            assert d.retry_at_ms is not None
            now = d.retry_at_ms
        assert d.nudge is not None
        template = d.nudge["template"]
        ids.append(d.nudge["nudge_id"])
        arms.append(s["open"][3])
    assert len(set(ids)) == 1 and len(set(arms)) == 1  # same template and send window
    assert ids[0] == np_.nudge_id("l1", f"silence:{start - 2 * DAY_MS}", template)
    # a second timer firing for the same episode does not send again
    again = copy.deepcopy(s)
    assert decide(again, now + 5 * DAY_MS, last=start - 2 * DAY_MS, bandit=b).reason in (
        "already_nudged",
        "open_nudge",
    )


def test_bandit_learns_the_better_arm_and_never_breaks_the_caps() -> None:
    cfg = NudgeConfig(max_per_day=1, max_per_week=2)
    bandit = NudgeBandit()
    rng = random.Random(7)
    # returns after "resume" in the morning are far likelier than anything else
    p_return = {"resume@morning": 0.7}
    sends: dict[str, list[int]] = {}
    chosen: list[str] = []
    capped = 0
    for learner in range(40):
        section: dict = {}
        lid = f"l{learner}"
        last = ms("2024-05-06T12:00:00+00:00") + learner * HOUR_MS
        now = last + 2 * DAY_MS
        for _ in range(40):
            d = np_.decide(
                section,
                learner_id=lid,
                now_ms=now,
                risk=0.8,
                signals=signals((now - last) / DAY_MS),
                profile=profile("Europe/Berlin"),
                last_activity_ms=last,
                catalog=CATALOG,
                bandit=bandit,
                config=cfg,
            )
            if d.action == "defer":
                assert d.retry_at_ms is not None
                capped += d.reason == "cap"
                now = d.retry_at_ms
                continue
            assert d.action == "send" and d.nudge is not None
            sends.setdefault(lid, []).append(now)
            arm = section["open"][3]
            chosen.append(arm)
            if rng.random() < p_return.get(arm, 0.1):
                last = now + 6 * HOUR_MS  # came back
                np_.on_activity(section, last, bandit, cfg)
            else:
                last = now + 5 * DAY_MS  # came back on their own, much later
                np_.on_activity(section, last, bandit, cfg)
            now = last + 2 * DAY_MS
    for times in sends.values():
        for t in times:
            assert sum(1 for u in times if t <= u < t + DAY_MS) <= cfg.max_per_day
            assert sum(1 for u in times if t <= u < t + 7 * DAY_MS) <= cfg.max_per_week
    arms = bandit.params["eng"]
    best = max(arms, key=lambda a: bandit.mean("eng", a))
    assert best == "resume@morning"
    late = chosen[-300:]
    assert late.count("resume@morning") / len(late) > 0.5
    assert NudgeBandit.from_dict(json.loads(json.dumps(bandit.to_dict()))).params["eng"] == arms
    assert capped > 20  # the caps really bound: the bandit only chose among allowed sends


def test_windows_must_avoid_quiet_hours() -> None:
    with pytest.raises(ValueError):
        NudgeConfig(windows=(("late", 19, 23),))


def test_nudge_section_stays_bounded() -> None:
    section: dict = {}
    last = ms("2024-01-01T09:00:00+00:00")
    for _ in range(60):
        action, at = _episode(section, last)
        np_.on_activity(section, at + HOUR_MS)
        last = at + HOUR_MS - 2 * DAY_MS
    assert len(section["eps"]) <= np_.MAX_EPISODES
    assert len(section["sent"]) <= 2 * np_.DEFAULT.max_per_week
    assert len(json.dumps(section)) < 1000
