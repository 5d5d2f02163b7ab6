"""Rhythm model: gaps, time of day, in-session signals, risk over silence, bounded state."""

from __future__ import annotations

import json
import math
import random

import pytest
from river import stats

from streams.models import rhythm
from streams.models.rhythm import DAY_MS, HOUR_MS

T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS  # a UTC midnight


def _regular(every_days: float, sessions: int, events_per_session: int = 3) -> dict:
    s: dict = {}
    for k in range(sessions):
        t = T0 + int(k * every_days * DAY_MS) + 9 * HOUR_MS
        for j in range(events_per_session):
            rhythm.observe(s, t + j * 60_000, "progressed", object_type="article")
    return s


def test_gap_statistics_follow_river_ewmean_and_ewvar() -> None:
    rng = random.Random(1)
    s: dict = {}
    t = T0
    mean, var = stats.EWMean(rhythm.GAP_FADING), stats.EWVar(rhythm.GAP_FADING)
    rhythm.observe(s, t, "viewed")
    for _ in range(40):
        gap = int(rng.uniform(1, 200) * HOUR_MS)
        t += gap
        rhythm.observe(s, t, "viewed")
        mean.update(math.log(gap / HOUR_MS))
        var.update(math.log(gap / HOUR_MS))
    assert s["gm"] == pytest.approx(mean.get())
    assert s["g2"] - s["gm"] ** 2 == pytest.approx(var.get(), abs=1e-9)
    assert s["ns"] == 41


def test_usual_gap_and_due_time_follow_the_learners_own_rhythm() -> None:
    every2 = _regular(2, 20)
    every7 = _regular(7, 20)
    sig2 = rhythm.signals(every2, every2["t1"])
    assert sig2["usual_gap_days"] == pytest.approx(2.0, abs=0.15)  # idle gap, ~2 days
    assert rhythm.signals(every7, every7["t1"])["usual_gap_days"] == pytest.approx(7.0, rel=0.05)
    # the due time scales with the learner's own gap: a few of their gaps, not a fixed date
    due2 = (rhythm.due_ms(every2) - every2["t1"]) / DAY_MS
    due7 = (rhythm.due_ms(every7) - every7["t1"]) / DAY_MS
    assert 4.0 < due2 < 14.0
    assert 2.5 < due7 / due2 < 3.5  # (the prior pulls both toward its 3-day gap)
    assert due7 <= rhythm.MAX_DUE_DAYS
    # sessions within 30 minutes are one session
    assert every2["ns"] == 20 and every2["n"] == 60


def test_risk_rises_with_silence_in_event_time_and_is_a_probability() -> None:
    s = _regular(2, 15)
    last = s["t1"]
    risks = [rhythm.risk(s, last + d * DAY_MS) for d in (0, 1, 3, 7, 14, 30, 90)]
    assert all(0.0 <= r <= 1.0 for r in risks)
    assert risks == sorted(risks) and risks[-1] > 0.9 > 0.3 > risks[0]
    # learning nothing new: asking about later times never changes the section
    before = json.dumps(s, sort_keys=True)
    rhythm.risk(s, last + 40 * DAY_MS)
    assert json.dumps(s, sort_keys=True) == before


def test_silence_means_more_for_a_regular_learner_than_for_a_sporadic_one() -> None:
    daily, monthly = _regular(1, 30), _regular(10, 6)
    for days in (3, 6, 12):
        assert rhythm.risk(daily, daily["t1"] + days * DAY_MS) > rhythm.risk(
            monthly, monthly["t1"] + days * DAY_MS
        )
    assert rhythm.risk(daily, daily["t1"] + 8 * DAY_MS) > 0.7
    assert rhythm.risk(monthly, monthly["t1"] + 8 * DAY_MS) < 0.05
    # six silent days break a daily rhythm more than a 10-day one
    assert rhythm.features(daily, daily["t1"] + 6 * DAY_MS)["silence_z"] > 2.0
    assert rhythm.features(monthly, monthly["t1"] + 6 * DAY_MS)["silence_z"] < 0.0


def test_risk_is_a_survival_posterior_and_due_time_is_its_inverse() -> None:
    s = _regular(2, 12)
    last = s["t1"]
    assert rhythm.risk(s, last) == pytest.approx(rhythm.DROP_PRIOR)
    for at in (0.3, 0.6, 0.9):
        due = rhythm.due_ms(s, at)
        assert rhythm.risk(s, due) == pytest.approx(at, abs=1e-3)
    assert rhythm.due_ms(s, 0.3) < rhythm.due_ms(s, 0.6) < rhythm.due_ms(s, 0.9)
    # with no gaps yet the prior (a gap of PRIOR_GAP_HOURS, weighed as GAP_PRIOR_N gaps)
    # decides, and uncertainty pushes the due time out
    one: dict = {}
    rhythm.observe(one, T0, "viewed")
    assert rhythm.due_ms(one) - T0 > rhythm.due_ms(_regular(3, 12)) - _regular(3, 12)["t1"]


def test_quiet_probability_adds_own_long_gaps_to_the_drop_risk() -> None:
    sporadic, regular = _regular(7, 8), _regular(1, 30)
    for s in (sporadic, regular):
        for d in (0, 3, 10):
            now = s["t1"] + d * DAY_MS
            assert rhythm.risk(s, now) <= rhythm.quiet_probability(s, now) <= 1.0
    # ten quiet days are likely anyway for a weekly learner, not for a daily one
    assert rhythm.quiet_probability(sporadic, sporadic["t1"]) > 0.2
    assert rhythm.quiet_probability(regular, regular["t1"]) < 0.05


def test_a_changed_rhythm_is_followed_and_old_sections_are_read() -> None:
    slow = _regular(7, 10)
    silent = 5 * DAY_MS
    before = rhythm.risk(slow, slow["t1"] + silent)
    for _ in range(40):  # then every day
        rhythm.observe(slow, slow["t1"] + DAY_MS, "viewed")
    assert rhythm.risk(slow, slow["t1"] + silent) > 3 * before
    fast = _regular(1, 40)
    old = {k: v for k, v in fast.items() if k not in ("hn", "hs")}  # written before hn/hs
    assert rhythm.risk(old, old["t1"] + silent) == pytest.approx(
        rhythm.risk(fast, fast["t1"] + silent), abs=0.1
    )


def test_never_seen_learner() -> None:
    assert rhythm.risk({}, T0) == rhythm.NEVER_ACTIVE_RISK
    assert rhythm.signals({}, T0) == {}
    assert rhythm.features({}, T0)["seen"] == 0.0
    with pytest.raises(ValueError):
        rhythm.due_ms({})


def test_time_of_day_uses_the_learners_zone_across_dst() -> None:
    ny: dict = {}
    # 13:00 UTC is 08:00 in New York in winter (EST) and 09:00 in summer (EDT): bucket 08-12
    for month_day in ("2024-01-10", "2024-01-12", "2024-07-10", "2024-07-12"):
        from datetime import datetime

        t = int(datetime.fromisoformat(f"{month_day}T13:00:00+00:00").timestamp() * 1000)
        rhythm.observe(ny, t, "viewed", tz="America/New_York")
    assert rhythm.signals(ny, ny["t1"])["usual_hour_bucket"] == 2
    utc: dict = {}
    rhythm.observe(utc, T0 + 23 * HOUR_MS, "viewed", tz="Not/AZone")  # unknown zone -> UTC
    assert rhythm.signals(utc, utc["t1"])["usual_hour_bucket"] == 5


def test_abandoned_video_is_reported_until_completed() -> None:
    s: dict = {}
    t = T0 + 10 * HOUR_MS
    rhythm.observe(s, t, "started", object_type="video", object_id="v1", progress=0.1)
    rhythm.observe(s, t + 600_000, "paused", object_type="video", object_id="v1", progress=0.7)
    assert rhythm.signals(s, t + HOUR_MS)["abandoned_content_id"] is None  # same day: pausing
    sig = rhythm.signals(s, t + 2 * DAY_MS)
    assert sig["abandoned_content_id"] == "v1" and sig["abandoned_progress"] == 0.7
    rhythm.observe(s, t + 3 * DAY_MS, "completed", object_type="video", object_id="v1")
    assert rhythm.signals(s, t + 5 * DAY_MS)["abandoned_content_id"] is None


def test_repeated_failures_are_counted_until_a_success() -> None:
    s: dict = {}
    for k in range(3):
        rhythm.observe(s, T0 + k * 60_000, "answered", success=False, object_id="q-sql")
    sig = rhythm.signals(s, T0 + HOUR_MS)
    assert sig["failures"] == 3 and sig["failure_content_id"] == "q-sql"
    rhythm.observe(s, T0 + 5 * 60_000, "answered", success=True, object_id="q-sql")
    assert rhythm.signals(s, T0 + HOUR_MS)["failures"] == 0


def test_weekly_volume_fades_over_empty_weeks() -> None:
    s: dict = {}
    for week in range(4):
        for k in range(10):
            rhythm.observe(s, T0 + week * 7 * DAY_MS + k * 3 * 60_000, "viewed")
    assert rhythm.signals(s, s["t1"])["weekly_events"] == pytest.approx(10.0)
    rhythm.observe(s, T0 + 8 * 7 * DAY_MS, "viewed")  # back after 4 empty weeks
    assert rhythm.signals(s, s["t1"])["weekly_events"] < 3.0


def test_state_stays_small_and_json_round_trips() -> None:
    s: dict = {}
    rng = random.Random(3)
    t = T0
    for _ in range(20_000):
        t += int(rng.expovariate(1 / (6 * HOUR_MS)))
        vid = f"video-{rng.randrange(500)}"
        rhythm.observe(
            s,
            t,
            rng.choice(["started", "paused", "viewed"]),
            object_type="video",
            object_id=vid,
            progress=rng.random(),
            tz="Europe/Berlin",
        )
        if rng.random() < 0.01:
            rhythm.checkpoint(s, t)
    assert len(s["op"]) <= rhythm.MAX_OPEN and len(s["ck"]) <= rhythm.MAX_CHECKPOINTS
    assert len(json.dumps(s)) < 1200
    copy = json.loads(json.dumps(s))
    rhythm.observe(s, t + DAY_MS, "viewed")
    rhythm.observe(copy, t + DAY_MS, "viewed")
    assert copy == json.loads(json.dumps(s))


def test_late_events_do_not_invent_gaps() -> None:
    s = _regular(1, 5)
    gm, ns, t1 = s["gm"], s["ns"], s["t1"]
    rhythm.observe(s, T0 - 30 * DAY_MS, "viewed")  # arrives late, long ago
    assert (s["gm"], s["ns"], s["t1"]) == (gm, ns, t1)


def test_checkpoints_mature_into_self_supervised_labels() -> None:
    s = _regular(1, 5)
    t = s["t1"] + HOUR_MS
    assert rhythm.checkpoint(s, t)
    assert not rhythm.checkpoint(s, t + HOUR_MS)  # spacing
    assert rhythm.matured(s, t + DAY_MS) == []  # outcome unknown yet
    rhythm.observe(s, t + 3 * DAY_MS, "viewed")  # came back within the horizon
    [(x, label)] = rhythm.matured(s, t + 3 * DAY_MS)
    assert label is False and x["seen"] == 1.0
    t2 = t + 4 * DAY_MS
    rhythm.checkpoint(s, t2)
    assert rhythm.matured(s, t2 + 9 * DAY_MS) == []
    [(_, label2)] = rhythm.matured(s, t2 + 10 * DAY_MS)  # silent through the horizon
    assert label2 is True
    assert not rhythm.checkpoint({}, t)  # no rhythm to learn from yet


def test_calibrator_learns_risk_from_outcomes_and_round_trips() -> None:
    rng = random.Random(5)
    cal = rhythm.RiskCalibrator(min_examples=100)
    assert not cal.ready
    regular, drifting = _regular(1, 20), _regular(1, 20)
    for _ in range(1500):
        quiet = rng.random() < 0.5
        s = drifting if quiet else regular
        now = s["t1"] + int((rng.uniform(8, 20) if quiet else rng.uniform(0, 2)) * DAY_MS)
        cal.learn_one(rhythm.features(s, now), quiet)
    assert cal.ready
    near = cal.predict(rhythm.features(regular, regular["t1"] + DAY_MS))
    far = cal.predict(rhythm.features(regular, regular["t1"] + 15 * DAY_MS))
    assert near < 0.2 and far > 0.8
    again = rhythm.RiskCalibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again.predict(rhythm.features(regular, regular["t1"] + 15 * DAY_MS)) == far


def test_calibrator_refuses_a_state_from_other_features() -> None:
    d = rhythm.RiskCalibrator().to_dict()
    d["features"] = ["other"]
    with pytest.raises(ValueError):
        rhythm.RiskCalibrator.from_dict(d)
