"""Knowledge-tracing evaluation of the skill model on ASSISTments 2015 (DKVMN split).

Input: the three-line-per-learner files of the DKVMN paper (number of responses;
comma-separated skill ids; comma-separated correctness 1/0), as in
``../shared/data/knowledge-tracing/assist2015_{train,test}.csv``.

Protocol (printed with the results):

* Every learner's responses are replayed in order as a stream, one minute apart
  (the files have no times), through ``SkillModel.learn``, which predicts each
  response before learning from it. Each learner starts from an empty section.
* First the whole train file (test-then-train), then the test file's learners.
  The model keeps learning during the test stream, as it does live, but never
  sees a response before predicting it. ROC AUC and log-loss are computed over
  all test-file predictions.
* Baseline measured in the same run: each skill's correctness rate so far
  (global across learners, updated online the same way). Published AUCs on
  these exact files for reference: DKT 0.7294, DKVMN 0.7157 (seewoo5/KT README).

Use ``run(...) -> dict`` from code or ``command`` as a typer command.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from streams.models.mastery import MINUTE_MS, Engine, Section, SkillModel

DATA_DIR = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "knowledge-tracing"
).resolve()
DEFAULT_TRAIN = DATA_DIR / "assist2015_train.csv"
DEFAULT_TEST = DATA_DIR / "assist2015_test.csv"
PUBLISHED = {"DKT (published)": 0.7294, "DKVMN (published)": 0.7157}
START_MS = 1_420_070_400_000  # 2015-01-01T00:00Z: synthetic times start here

Sequence = tuple[list[str], list[bool]]


class FormatError(ValueError):
    """A knowledge-tracing file is not in the three-line format; says where."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = path, line


def _fields(text: str) -> list[str]:
    # Trailing commas and spaces appear in some copies of these files.
    return [f.strip() for f in text.strip().rstrip(",").split(",") if f.strip() != ""]


def read_sequences(path: Path) -> Iterator[Sequence]:
    """Yield (skill ids, correctness) per learner; blank lines are ignored.

    Raises ``FormatError`` with the line number on anything malformed.
    """
    with open(path, encoding="utf-8") as fh:
        lines = [(i, raw.strip()) for i, raw in enumerate(fh, start=1) if raw.strip()]
    for j in range(0, len(lines), 3):
        group = lines[j : j + 3]
        count_no, count_text = group[0]
        if len(group) < 3:
            raise FormatError(path, count_no, "incomplete learner: need count, skills, answers")
        (skills_no, skills_text), (answers_no, answers_text) = group[1], group[2]
        count_fields = _fields(count_text)
        if len(count_fields) != 1 or not count_fields[0].isdigit():
            raise FormatError(path, count_no, f"expected a response count, got {count_text!r}")
        count = int(count_fields[0])
        skills = _fields(skills_text)
        answers = _fields(answers_text)
        if len(skills) != count:
            raise FormatError(path, skills_no, f"{len(skills)} skill ids, count says {count}")
        if len(answers) != count:
            raise FormatError(path, answers_no, f"{len(answers)} answers, count says {count}")
        bad = next((a for a in answers if a not in ("0", "1")), None)
        if bad is not None:
            raise FormatError(path, answers_no, f"correctness must be 0 or 1, got {bad!r}")
        yield skills, [a == "1" for a in answers]


def roc_auc(labels: list[bool], scores: list[float]) -> float:
    """ROC AUC (Mann-Whitney, ties counted half).

    >>> roc_auc([False, True, False, True], [0.1, 0.9, 0.4, 0.4])
    0.875
    """
    pairs = sorted(zip(scores, labels, strict=True))
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # average 1-based rank of the tied group
        rank_sum += mid_rank * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def log_loss(labels: list[bool], scores: list[float]) -> float:
    """Mean negative log-likelihood of the labels."""
    total = 0.0
    for y, p in zip(labels, scores, strict=True):
        p = min(max(p, 1e-7), 1 - 1e-7)
        total -= math.log(p if y else 1 - p)
    return total / len(labels) if labels else float("nan")


class _SkillRate:
    """Baseline: each skill's correctness rate so far, across all learners."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}

    def learn(self, skills: list[str], correct: bool) -> float:
        rates = []
        for s in skills or ["?"]:
            c = self.counts.setdefault(s, [0, 0])
            rates.append((c[0] + 1) / (c[1] + 2))  # Laplace prior: 0.5 for unseen skills
            c[0] += correct
            c[1] += 1
        return sum(rates) / len(rates)


def run(
    train: Path = DEFAULT_TRAIN,
    test: Path = DEFAULT_TEST,
    progress: bool = True,
    engine: Engine = "river",
) -> dict[str, Any]:
    """Stream ``train`` then ``test`` through a fresh ``SkillModel``; return figures."""
    data = {"train": list(read_sequences(train)), "test": list(read_sequences(test))}
    total = sum(len(s) for seqs in data.values() for s, _ in seqs)
    model = SkillModel(engine=engine)
    baseline = _SkillRate()
    labels: list[bool] = []
    model_p: list[float] = []
    base_p: list[float] = []
    sizes: list[int] = []
    cpu_s = 0.0  # process CPU time inside learn(): robust to other load on the machine
    t_ms = START_MS
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("streaming answers", total=total)
        for phase, seqs in data.items():
            for skill_ids, answers in seqs:
                section: Section = {}
                times = range(t_ms + MINUTE_MS, t_ms + MINUTE_MS * (len(answers) + 1), MINUTE_MS)
                t_ms += MINUTE_MS * len(answers)
                events = list(zip(skill_ids, answers, times, strict=True))
                # Timed per learner, not per answer: a CPU clock read costs ~0.7 µs.
                c0 = time.process_time()
                preds = [model.learn(section, [s], y, t) for s, y, t in events]
                cpu_s += time.process_time() - c0
                rates = [baseline.learn([s], y) for s, y, _ in events]
                if phase == "test":
                    labels += answers
                    model_p += preds
                    base_p += rates
                    sizes.append(len(orjson.dumps(section)))
                bar.advance(task, len(answers))
    return {
        "train_file": str(train),
        "test_file": str(test),
        "engine": engine,
        "learners": {k: len(v) for k, v in data.items()},
        "events": total,
        "n_predictions": len(labels),
        "positive_rate": sum(labels) / len(labels) if labels else float("nan"),
        "auc": roc_auc(labels, model_p),
        "log_loss": log_loss(labels, model_p),
        "baseline_skill_rate_auc": roc_auc(labels, base_p),
        "baseline_skill_rate_log_loss": log_loss(labels, base_p),
        "published": dict(PUBLISHED),
        "us_per_learn": cpu_s / total * 1e6 if total else float("nan"),
        "bytes_per_learner": {
            "median": statistics.median(sizes) if sizes else 0,
            "p90": _quantile(sizes, 0.9),
            "max": max(sizes, default=0),
        },
        "shared_weights": len(model.to_dict()["weights"]),
    }


def _quantile(values: list[int], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def render(result: dict[str, Any], console: Console | None = None) -> None:
    """Print the figures of ``run`` as a rich table."""
    console = console or Console()
    table = Table(title="Knowledge tracing on ASSISTments 2015 (test learners)")
    table.add_column("model")
    table.add_column("ROC AUC", justify="right")
    table.add_column("log-loss", justify="right")
    table.add_column("measured here")
    table.add_row(
        f"SkillModel ({result['engine']})",
        f"{result['auc']:.4f}",
        f"{result['log_loss']:.4f}",
        "yes",
    )
    table.add_row(
        "per-skill correctness rate",
        f"{result['baseline_skill_rate_auc']:.4f}",
        f"{result['baseline_skill_rate_log_loss']:.4f}",
        "yes",
    )
    for name, auc in result["published"].items():
        table.add_row(name, f"{auc:.4f}", "-", "no (paper figure, same files)")
    console.print(table)
    size = result["bytes_per_learner"]
    console.print(
        f"{result['n_predictions']:,} test predictions after {result['events']:,} streamed "
        f"answers ({result['learners']['train']:,} train + {result['learners']['test']:,} test "
        f"learners); {result['us_per_learn']:.1f} CPU µs per learn() (predict + update); "
        f"learner section {size['median']} B median, {size['p90']} B p90, {size['max']} B max "
        f"(orjson); {result['shared_weights']:,} shared weights."
    )
    console.print(
        "Protocol: each answer is predicted before it is learned from; the train file is "
        "streamed first (test-then-train), then the test learners; one minute between answers."
    )


def command(
    train: Annotated[
        Path, typer.Option(help="train file (three lines per learner)")
    ] = DEFAULT_TRAIN,
    test: Annotated[Path, typer.Option(help="test file (three lines per learner)")] = DEFAULT_TEST,
    engine: Annotated[str, typer.Option(help="river | fast (same model, plain dicts)")] = "river",
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Stream ASSISTments 2015 through the skill model; print ROC AUC against baselines."""
    if engine not in ("river", "fast"):
        raise typer.BadParameter("engine must be 'river' or 'fast'")
    try:
        result = run(train, test, progress=progress, engine=engine)  # type: ignore[arg-type]
    except (FormatError, OSError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    render(result)


if __name__ == "__main__":
    typer.run(command)
