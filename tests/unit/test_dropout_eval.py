"""Dropout evaluation: reproduces the reported AUCs and accepts any files in the format."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from learnpulse.evaluate import dropout
from tests.conftest import shared_data

HEADLINE = "risk (rhythm + self-supervised calibrator)"


def test_shared_courses_reproduce_the_reported_aucs() -> None:
    folder = shared_data("dropout")
    res = dropout.run(sorted(folder.glob("course*.csv")), folder / "labels.csv", progress=False)
    aucs = res["aucs"]
    assert res["enrollments"] == 4046
    assert aucs[HEADLINE][30] == pytest.approx(0.8426, abs=0.002)
    assert aucs[HEADLINE][14] == pytest.approx(0.6544, abs=0.002)
    # the rhythm model beats "days since last activity" at the end of the window
    assert aucs[HEADLINE][30] > aucs["baseline: days since last activity"][30] + 0.04
    assert aucs[HEADLINE][30] > aucs["baseline: total activity count"][30]


def _write_course(path: Path, rows: dict[str, list[int]]) -> None:
    lines = [
        "enrollment_id,time,event_access,event_discussion,event_navigate,"
        "event_page_close,event_problem,event_video,event_wiki"
    ]
    for e, active in rows.items():
        for d in range(30):
            n = active[d]
            lines.append(f"{e},2015-03-{d + 1:02d},{n},0,{n},0,0,0,0")
    path.write_text("\n".join(lines) + "\n")


def test_command_takes_any_course_and_labels_files(tmp_path: Path) -> None:
    # steady learners stay, learners who stopped early drop out
    rows, labels = {}, ["enrollment_id,label"]
    for i in range(40):
        stays = i % 2 == 0
        rows[str(i)] = [
            1 if (stays and d % 2 == 0) or (not stays and d < 5 + i % 7) else 0 for d in range(30)
        ]
        labels.append(f"{i},{0 if stays else 1}")
    _write_course(tmp_path / "course1.csv", rows)
    (tmp_path / "labels.csv").write_text("\n".join(labels) + "\n")
    res = dropout.run([tmp_path / "course1.csv"], tmp_path / "labels.csv", progress=False)
    assert res["aucs"][HEADLINE][30] == 1.0
    app = typer.Typer()
    app.command()(dropout.command)
    out = CliRunner().invoke(
        app,
        [str(tmp_path / "course1.csv"), "--labels", str(tmp_path / "labels.csv"), "--no-progress"],
    )
    assert out.exit_code == 0, out.output
    assert "after day 30" in out.output and "Protocol" in out.output
