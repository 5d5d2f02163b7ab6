"""Activity profile for dropout risk: exact windows and sums, no look-ahead, bounded state."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from streams.models import dropout_features as prof
from streams.models.rhythm import DAY_MS, HOUR_MS

T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS  # a UTC midnight


def _grid(seed: int, days: int = 30) -> list[list[int]]:
    rng = random.Random(seed)
    p = rng.uniform(0.1, 0.7)
    return [
        [rng.randrange(0, 6) if rng.random() < 0.5 else 0 for _ in prof.KINDS]
        if rng.random() < p
        else [0] * len(prof.KINDS)
        for _ in range(days)
    ]


def _replay(grid: list[list[int]]) -> dict:
    s: dict = {}
    for d, counts in enumerate(grid):
        for i, (kind, c) in enumerate(zip(prof.KINDS, counts, strict=True)):
            prof.observe(s, T0 + d * DAY_MS + 10 * HOUR_MS + i * 60_000, kind, c)
    return s


@pytest.mark.parametrize("seed", range(12))
def test_features_equal_a_brute_force_computation_from_the_daily_grid(seed: int) -> None:
    g = np.array(_grid(seed))
    days = np.nonzero(g.sum(1))[0]
    if len(days) == 0:
        g[5, 4] = 1
        days = np.array([5])
    now = T0 + 30 * DAY_MS  # end of day 30 (index 29)
    f = prof.features(_replay(g.tolist()), now)
    assert f["active_days"] == len(days)
    for w in prof.WINDOWS:
        assert f[f"active_last{w}"] == (g[30 - w :].sum(1) > 0).sum()
    assert f["silent_days"] == 29 - days[-1]
    gaps = np.diff(days)
    assert f["gap_max"] == max([*gaps, 29 - days[-1]])
    assert f["gap_mean"] == pytest.approx(gaps.mean() if len(gaps) else 30 - days[0])
    for i, k in enumerate(prof.KINDS):
        assert f[f"log_{k}"] == pytest.approx(math.log1p(g[:, i].sum()))
        assert f[f"dayshare_{k}"] == pytest.approx((g[:, i] > 0).sum() / len(days))
        # EW rates: every event faded by its age at `now`, here with the 3-day half-life
        ages = (now - (T0 + np.arange(30) * DAY_MS + 10 * HOUR_MS + i * 60_000)) / DAY_MS
        assert f[f"ew_{k}_h3"] == pytest.approx(math.log1p((g[:, i] * 0.5 ** (ages / 3)).sum()))
    # trend = least-squares slope of log1p(daily events) from the first active day on
    y = np.log1p(g.sum(1))[days[0] :]
    slope = np.polyfit(np.arange(len(y)), y, 1)[0] if len(y) > 1 else 0.0
    assert f["trend"] == pytest.approx(slope, abs=1e-9)
    assert f["log_max_day"] == pytest.approx(math.log1p(g.sum(1).max()))


def test_reading_features_changes_nothing() -> None:
    s = _replay(_grid(3)[:14])
    before = json.dumps(s, sort_keys=True)
    first = prof.features(s, T0 + 14 * DAY_MS)
    prof.features(s, T0 + 40 * DAY_MS)
    assert json.dumps(s, sort_keys=True) == before
    assert prof.features(s, T0 + 14 * DAY_MS) == first


def test_silence_fades_recent_activity_and_grows_silent_days() -> None:
    s: dict = {}
    for d in range(10):
        prof.observe(s, T0 + d * DAY_MS + 9 * HOUR_MS, "video", 4)
    soon, later = prof.features(s, T0 + 11 * DAY_MS), prof.features(s, T0 + 25 * DAY_MS)
    assert later["ew_video_h3"] < soon["ew_video_h3"]
    assert later["active_last7"] == 0 < soon["active_last7"]
    assert later["silent_days"] == 15 and soon["silent_days"] == 1
    assert later["log_video"] == soon["log_video"]  # totals never fade


def test_late_events_count_but_do_not_reopen_past_days() -> None:
    s: dict = {}
    prof.observe(s, T0 + 5 * DAY_MS, "problem", 2)
    prof.observe(s, T0 + 2 * DAY_MS, "problem", 3)  # arrives late
    f = prof.features(s, T0 + 6 * DAY_MS)
    assert f["log_problem"] == pytest.approx(math.log1p(5))
    assert f["active_days"] == 1 and f["silent_days"] == 0


def test_local_days_follow_the_learners_time_zone() -> None:
    # 15:00 and 17:00 UTC: one UTC day, but 23:00 and 01:00 in Shanghai (two local days)
    shanghai: dict = {}
    utc: dict = {}
    for h in (15, 17):
        prof.observe(shanghai, T0 + h * HOUR_MS, "access", tz="Asia/Shanghai")
        prof.observe(utc, T0 + h * HOUR_MS, "access")
    assert shanghai["ad"] == 2 and utc["ad"] == 1
    assert prof.features(shanghai, T0 + DAY_MS, tz="Asia/Shanghai")["active_last3"] == 2


def test_state_stays_small_after_a_busy_year() -> None:
    s: dict = {}
    rng = random.Random(0)
    for d in range(365):
        for k in prof.KINDS:
            prof.observe(s, T0 + d * DAY_MS + rng.randrange(DAY_MS), k, rng.randrange(1, 500))
    assert prof.state_bytes(s) < 700
    assert all(math.isfinite(v) for v in prof.features(s, T0 + 400 * DAY_MS).values())


def test_kind_of_maps_canonical_events() -> None:
    assert prof.kind_of("played", "video") == "video"
    assert prof.kind_of("answered", "question") == "problem"
    assert prof.kind_of("commented", "") == "discussion"
    assert prof.kind_of("viewed", "wiki") == "wiki"
    assert prof.kind_of("navigated", "page") == "navigate"
    assert prof.kind_of("closed", "page") == "page_close"
    assert prof.kind_of("completed", "article") == "access"


def test_online_model_ranks_the_silent_above_the_steady() -> None:
    model = prof.OnlineDropoutModel(min_examples=50)
    rng = random.Random(1)
    assert not model.ready
    for _ in range(300):
        steady = rng.random() < 0.3
        g = [
            [rng.randrange(1, 4) if (steady and d % 2) or d < 3 else 0 for _ in prof.KINDS]
            for d in range(30)
        ]
        model.learn_one(prof.features(_replay(g), T0 + 30 * DAY_MS), not steady)
    assert model.ready
    steady = [[2 if d % 2 else 0 for _ in prof.KINDS] for d in range(30)]
    gone = [[2 if d < 3 else 0 for _ in prof.KINDS] for d in range(30)]
    now = T0 + 30 * DAY_MS
    assert (
        model.predict_one(prof.features(_replay(gone), now))
        > 0.5
        > model.predict_one(prof.features(_replay(steady), now))
    )


def test_cohort_context_counts_each_active_learner_once_per_day_and_never_looks_ahead() -> None:
    cohort = prof.CohortActivity(enrolled=4)
    states: list[dict] = [{} for _ in range(4)]
    active = {0: (0, 1, 2, 3), 1: (0, 1), 5: (0,), 6: (3,)}  # day -> learners active
    for day in range(8):
        for i in active.get(day, ()):
            for k in range(3):  # three events the same day count once
                t = T0 + day * DAY_MS + 10 * HOUR_MS + k * 60_000
                d = prof.new_active_day(states[i], t)
                if d is not None:
                    cohort.active_on(d)
                prof.observe(states[i], t, "video")
        if day == 5:
            at5 = prof.features(states[2], T0 + 6 * DAY_MS, cohort=cohort)
    # after day 5: 7-day share (4 + 2 + 0 + 0 + 0 + 1 + 0 active of 4, over 7 days)
    assert at5["cohort_active7"] == pytest.approx(7 / 28)
    assert at5["cohort_active_last"] == pytest.approx(0.25)
    later = prof.features(states[2], T0 + 6 * DAY_MS, cohort=cohort)  # after day 6 was seen
    assert (later["cohort_active7"], later["cohort_active_last"]) == (
        at5["cohort_active7"],
        at5["cohort_active_last"],
    )
    # the same for a learner never seen, and 0 without a cohort
    never = prof.features({}, T0 + 6 * DAY_MS, cohort=cohort)
    assert never["cohort_active7"] == at5["cohort_active7"] and never["seen"] == 0.0
    assert prof.features(states[2], T0 + 6 * DAY_MS)["cohort_active7"] == 0.0
