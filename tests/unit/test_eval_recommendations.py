"""The recommendation evaluation: same figures for the same seed, baselines beaten."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from learnpulse.evaluate import recommendations


def test_small_run_beats_the_baselines_and_is_reproducible() -> None:
    a = recommendations.run(learners=80, days=21, seed=3, progress=False, ablations=False)
    rows = {r["model"]: r for r in a["rows"]}
    ours = rows["learnpulse"]
    assert a["targets"] > 300 and a["switchers"] > 5
    for name in ("popularity (global)", "role popularity", "random"):
        assert ours["ndcg_at_10"] > rows[name]["ndcg_at_10"], name
        assert ours["hit_rate_at_10"] > rows[name]["hit_rate_at_10"], name
    assert (
        a["ndcg_ratio_vs_popularity"]
        == ours["ndcg_at_10"] / rows["popularity (global)"]["ndcg_at_10"]
    )
    assert ours["adapt_1"]["median_events"] is not None
    assert 0 < a["ranker_section_bytes"]["max"] < 1500
    b = recommendations.run(learners=80, days=21, seed=3, progress=False, ablations=False)
    assert [(r["model"], r["ndcg_at_10"], r["adapt_1"]) for r in b["rows"]] == [
        (r["model"], r["ndcg_at_10"], r["adapt_1"]) for r in a["rows"]
    ]


def test_command_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(recommendations.command)
    out = tmp_path / "reco.json"
    result = CliRunner().invoke(
        app,
        ["--learners", "40", "--days", "10", "--no-ablations", "--no-progress", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "NDCG@10 vs popularity" in result.output
    assert "learnpulse" in result.output
    data = json.loads(out.read_text())
    assert data["learners"] == 40 and {r["model"] for r in data["rows"]} >= {"learnpulse", "random"}
