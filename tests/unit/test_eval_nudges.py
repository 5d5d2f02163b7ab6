"""The nudge evaluation: event-time replay of the worker's engagement path on a small
synthetic organisation, checked against the caps, quiet hours and ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from learnpulse.evaluate import nudges
from learnpulse.synth import Organisation
from streams.models.nudge_policy import DAY_MS, HOUR_MS, NudgeConfig

# Four weeks across both daylight-saving changes of spring 2025 (US 9 March, EU 30 March).
DST_START = nudges._day_ms("2025-03-03")


@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    return nudges.run(learners=150, days=28, seed=3, progress=False, start_ms=DST_START)


def test_output_has_every_row_with_its_figures(small: dict[str, Any]) -> None:
    rows = {r["model"]: r for r in small["rows"]}
    assert list(rows)[0] == nudges.MAIN
    curve = {nudges.CURVE.format(thr=r) for r in nudges.CURVE_RISKS}
    ceiling = {nudges.CEILING.format(k=k) for k in nudges.CEILING_KS}
    assert {nudges.DUE_DATE} | curve | ceiling <= set(rows)
    assert "baseline: 7 days of silence" in rows and "baseline: 3 days of silence" in rows
    assert small["droppers"] > 5 and small["events"] > 3000
    for r in rows.values():
        assert 0.0 <= r["precision"] <= 1.0 and 0.0 <= r["recall"] <= 1.0
        assert r["flagged"] == r["true_positives"] + r["false_positives"]
        assert r["true_positives"] == r["delay_days"]["n"]
        if r["kind"] == "policy":
            assert r["nudges"] == sum(r["nudges_by_reason"].values())
            weeks = r["per_learner_week"]["learner_weeks_by_count"]
            assert sum(weeks.values()) == 150 * 4
    assert json.loads(json.dumps(small)) == small  # the --out file holds everything


def test_no_learner_exceeds_the_caps_or_gets_a_nudge_in_quiet_hours(small: dict[str, Any]) -> None:
    cfg = NudgeConfig()
    policy = [r for r in small["rows"] if r["kind"] == "policy"]
    assert sum(r["nudges"] for r in policy) > 300  # enough sends for the checks to bite
    for r in policy:
        assert r["max_in_24h"] <= cfg.max_per_day, r["model"]
        assert r["max_in_7d"] <= cfg.max_per_week, r["model"]
        assert r["caps_ok"], r["model"]
        assert r["quiet_hour_sends"] == 0, r["model"]


def test_drops_are_detected_by_the_replay(small: dict[str, Any]) -> None:
    rows = {r["model"]: r for r in small["rows"]}
    seven = rows["baseline: 7 days of silence"]
    assert seven["recall"] > 0.5 and seven["delay_days"]["median"] is not None
    assert rows[nudges.CEILING.format(k=4)]["recall"] > 0.5


def test_the_worker_nudges_learners_who_really_dropped(small: dict[str, Any]) -> None:
    rows = {r["model"]: r for r in small["rows"]}
    assert small["rows"][0]["true_positives"] > 0  # 4 weeks: most drops come too late to see
    # a lower min_risk trades precision for recall and speed
    low, high = rows[nudges.CURVE.format(thr=0.3)], rows[nudges.CURVE.format(thr=0.9)]
    assert low["recall"] >= high["recall"] and low["flagged"] > high["flagged"]


def test_the_independent_checks_catch_violations() -> None:
    assert nudges.max_in_window([0, HOUR_MS, 2 * HOUR_MS], DAY_MS) == 3
    assert nudges.max_in_window([0, DAY_MS, 2 * DAY_MS], DAY_MS) == 1
    assert nudges.max_in_window([0, DAY_MS, 2 * DAY_MS, 6 * DAY_MS], 7 * DAY_MS) == 4
    cfg = NudgeConfig()
    # 12:30 UTC on 10 March 2025 is 08:30 in New York (EDT since the 9th) but 07:30 in
    # EST: only a DST-correct conversion calls it outside the quiet hours.
    t = nudges._day_ms("2025-03-10") + 12 * HOUR_MS + 30 * 60_000
    assert not nudges.in_quiet_hours(t, "America/New_York", cfg)
    assert nudges.in_quiet_hours(t - 7 * DAY_MS, "America/New_York", cfg)
    assert nudges.in_quiet_hours(t + 10 * HOUR_MS, "Asia/Kolkata", cfg)  # 04:00 local


def test_due_index_moves_and_claims_like_the_redis_one() -> None:
    ix = nudges.DueIndex()
    ix.schedule("a", 100)
    ix.schedule("b", 50)
    ix.schedule("a", 300)  # a new due time replaces the old one
    ix.schedule("c", 50)
    assert ix.claim_due(49) == []
    assert ix.claim_due(200) == [("b", 50), ("c", 50)]
    assert len(ix) == 1
    ix.schedule("b", 250)
    assert ix.claim_due(1000) == [("b", 250), ("a", 300)]
    assert ix.claim_due(1000) == [] and len(ix) == 0


def test_flags_count_as_true_only_from_the_decay_of_a_real_drop() -> None:
    org = Organisation.generate(40, seed=5, horizon_days=30)
    lid, drop = next(iter(org.truth.drop_at_ms.items()))
    stayer = next(x for x in org.learner_ids if org.truth.drop_of(x) is None)
    truth = nudges.Truth(org, org.start_ms + 30 * DAY_MS)
    track = nudges.Track("t", "detector")
    truth.flag(track, lid, org.truth.decay_from_ms[lid] - 1)  # still fine then
    truth.flag(track, stayer, drop)
    assert track.first_true == {} and track.false_learners == {lid, stayer}
    truth.flag(track, lid, drop + DAY_MS)
    assert track.first_true == {lid: drop + DAY_MS} and track.true_flags == 1


def test_command_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(nudges.command)
    out = tmp_path / "nudges.json"
    args = ["--learners", "40", "--days", "10", "--no-progress", "--curve", "0.5", "--ceiling", ""]
    result = CliRunner().invoke(app, [*args, "--start", "2025-03-25", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Caps never exceeded" in result.output and nudges.MAIN in result.output
    data = json.loads(out.read_text())
    assert data["learners"] == 40 and data["start_ms"] == nudges._day_ms("2025-03-25")
    models = {r["model"] for r in data["rows"]}
    assert nudges.CURVE.format(thr=0.5) in models and nudges.CURVE.format(thr=0.9) not in models
    assert not any(m.startswith("ceiling") for m in models)
