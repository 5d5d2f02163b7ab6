"""Knowledge-tracing evaluation: the parser, the figures it reports, the command."""

from __future__ import annotations

import doctest
import random
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from learnpulse.evaluate import knowledge_tracing as kt
from tests.conftest import shared_data


def _write(path: Path, learners: list[tuple[list[str], list[int]]], trailing: str = "") -> Path:
    lines = []
    for skills, answers in learners:
        lines += [str(len(skills)), ",".join(skills) + trailing, ",".join(map(str, answers))]
    path.write_text("\n".join(lines) + "\n")
    return path


def _easy_learners(n: int, seed: int) -> list[tuple[list[str], list[int]]]:
    """Skill 1 is always answered right, skill 2 always wrong, skill 3 is a coin flip."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        skills = [rng.choice("123") for _ in range(rng.randint(5, 15))]
        answers = [1 if s == "1" else 0 if s == "2" else rng.randint(0, 1) for s in skills]
        out.append((skills, answers))
    return out


def test_easy_pattern_is_learned_and_figures_are_reported(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.csv", _easy_learners(40, 1))
    test = _write(tmp_path / "test.csv", _easy_learners(20, 2))
    res = kt.run(train, test, progress=False)
    n_test = sum(len(s) for s, _ in _easy_learners(20, 2))
    assert res["n_predictions"] == n_test
    assert res["learners"] == {"train": 40, "test": 20}
    assert res["auc"] > 0.9
    assert res["baseline_skill_rate_auc"] > 0.9  # the per-skill rate alone separates them too
    assert 0.0 < res["log_loss"] < 0.5
    assert res["published"] == {"DKT (published)": 0.7294, "DKVMN (published)": 0.7157}
    assert res["us_per_learn"] > 0
    assert 0 < res["bytes_per_learner"]["median"] <= res["bytes_per_learner"]["max"] < 1000


def test_parser_tolerates_blank_lines_and_trailing_commas(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("\n3\n7,8,7,\n1,0,1,\n\n\n2\n9,9\n0,0\n")
    assert list(kt.read_sequences(path)) == [
        (["7", "8", "7"], [True, False, True]),
        (["9", "9"], [False, False]),
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("3\n1,2\n1,0,1\n", 2, "2 skill ids, count says 3"),
        ("2\n1,2\n1,0,1\n", 3, "3 answers, count says 2"),
        ("x\n1\n1\n", 1, "expected a response count"),
        ("2\n1,2\n1,0\n2\n5,5\n1,0.5\n", 6, "correctness must be 0 or 1"),
        ("2\n1,2\n1,0\n\n2\n5,5\n", 5, "incomplete learner"),
    ],
)
def test_malformed_files_name_the_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(kt.FormatError, match=reason) as info:
        list(kt.read_sequences(path))
    assert info.value.line == line
    assert f"bad.csv:{line}:" in str(info.value)


def test_roc_auc_matches_hand_computed_values() -> None:
    assert kt.roc_auc([True, False], [0.9, 0.1]) == 1.0
    assert kt.roc_auc([True, False], [0.1, 0.9]) == 0.0
    assert kt.roc_auc([True, False, True, False], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert kt.roc_auc([False, True, False, True], [0.1, 0.9, 0.4, 0.4]) == 0.875


def test_doctests() -> None:
    assert doctest.testmod(kt).failed == 0


def test_command_prints_table_and_rejects_bad_files(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.csv", _easy_learners(10, 3), trailing=",")
    test = _write(tmp_path / "test.csv", _easy_learners(5, 4))
    app = typer.Typer()
    app.command()(kt.command)
    ok = CliRunner().invoke(app, ["--train", str(train), "--test", str(test), "--no-progress"])
    assert ok.exit_code == 0, ok.output
    for row in ("SkillModel (river)", "per-skill correctness rate", "DKT (published)", "0.7294"):
        assert row in ok.output
    bad = tmp_path / "bad.csv"
    bad.write_text("3\n1,2\n1,0,1\n")
    out = CliRunner().invoke(app, ["--train", str(bad), "--test", str(test), "--no-progress"])
    assert out.exit_code == 2
    assert "bad.csv:2:" in out.output


@pytest.mark.slow
def test_assistments_2015_beats_published_dkt() -> None:
    folder = shared_data("knowledge-tracing")
    res = kt.run(
        folder / "assist2015_train.csv",
        folder / "assist2015_test.csv",
        progress=False,
        engine="fast",
    )
    assert res["n_predictions"] == 199_761
    assert res["auc"] > 0.7294  # DKT, published on these exact files
    assert res["auc"] > res["baseline_skill_rate_auc"] + 0.05
