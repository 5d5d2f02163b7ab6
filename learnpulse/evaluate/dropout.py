"""Dropout evaluation of the rhythm model on KDD Cup 2015 (XuetangX) course files.

Input: ``course<N>.csv`` files (``enrollment_id,time,event_<kind>...``: 30 daily
rows per enrollment, one count per kind of activity) and ``labels.csv``
(``enrollment_id,label``, 1 = no activity in the 10 days after the window).

Protocol (printed with the results):

* All courses are replayed together in calendar order. Each nonzero count
  becomes that many events of that kind on that day (one session at 10:00 UTC,
  a minute apart; the data has no time of day) fed to ``rhythm.observe``.
* At the end of every day a sweep does what the stream worker's timer does:
  ``rhythm.matured`` outcomes train the shared ``RiskCalibrator``, then
  ``rhythm.checkpoint`` remembers today's features. The calibrator's labels are
  the stream's own ("no activity in the next 10 days"), so it never reads
  ``labels.csv``, and it only knows what had happened by that calendar day.
* After days 7, 14 and 30 of each course, every enrollment (including those with
  no activity yet) is scored with ``rhythm.risk`` as of that day's end, and ROC
  AUC is computed against the dropout label.
* Rows for comparison, measured in the same run: the hand-set rhythm prior (no
  learning), a supervised reference (the same calibrator trained on the labels
  of the *other* courses at the same day: leave-one-course-out), an optimistic
  bound (fit and scored on the same labels: not an estimate, it shows what these
  features and this model can reach at best) and single-feature baselines.

Use ``run(...) -> dict`` from code or ``command`` as a typer command.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from streams.models import rhythm

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dropout"
CHECK_DAYS = (7, 14, 30)
DAY_MS = rhythm.DAY_MS
SESSION_START_MS = 10 * rhythm.HOUR_MS
# kind of activity in the files -> (canonical verb, object type)
KINDS = {
    "event_access": ("viewed", "page"),
    "event_discussion": ("commented", "discussion"),
    "event_navigate": ("navigated", "page"),
    "event_page_close": ("closed", "page"),
    "event_problem": ("answered", "problem"),
    "event_video": ("played", "video"),
    "event_wiki": ("viewed", "wiki"),
}


def default_courses() -> list[Path]:
    return sorted(DATA_DIR.glob("course*.csv"))


def load(course_files: list[Path]) -> dict[str, dict[str, Any]]:
    """course -> {"start": epoch ms of day 1, "days": n, "rows": {enrollment: [[counts]]}}."""
    courses: dict[str, dict[str, Any]] = {}
    for path in course_files:
        per: dict[str, list[tuple[str, list[int]]]] = defaultdict(list)
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            kinds = [k for k in (reader.fieldnames or []) if k in KINDS]
            if "enrollment_id" not in (reader.fieldnames or []) or not kinds:
                raise ValueError(f"{path}: not a KDD Cup 2015 course file")
            for r in reader:
                per[r["enrollment_id"]].append((r["time"], [int(float(r[k])) for k in kinds]))
        first = min(t for rows in per.values() for t, _ in rows)
        start = int(date.fromisoformat(first).toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS
        rows: dict[str, list[list[int]]] = {}
        for e, days in per.items():
            grid = [[0] * len(kinds) for _ in range(30)]
            for t, counts in days:
                d = date.fromisoformat(t).toordinal() - date.fromisoformat(first).toordinal()
                if 0 <= d < 30:
                    grid[d] = counts
            rows[e] = grid
        courses[path.stem] = {"start": start, "kinds": kinds, "rows": rows}
    return courses


def load_labels(path: Path) -> dict[str, int]:
    with path.open(newline="") as fh:
        return {r["enrollment_id"]: int(r["label"]) for r in csv.DictReader(fh)}


def roc_auc(y: list[int], s: list[float]) -> float:
    """ROC AUC with average ranks for ties (Mann-Whitney U).

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    order = sorted(range(len(s)), key=lambda i: s[i])
    ranks = [0.0] * len(s)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and s[order[j + 1]] == s[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j + 2) / 2
        i = j + 1
    n1 = sum(y)
    n0 = len(y) - n1
    if not n1 or not n0:
        return float("nan")
    return (sum(r for r, t in zip(ranks, y, strict=True) if t) - n1 * (n1 + 1) / 2) / (n1 * n0)


def _emit(section: dict[str, Any], day_ms: int, counts: list[int], kinds: list[str]) -> int:
    total = sum(counts)
    if not total:
        return 0
    step = min(60_000, (12 * rhythm.HOUR_MS) // total)
    t = day_ms + SESSION_START_MS
    for kind, c in zip(kinds, counts, strict=True):
        verb, otype = KINDS[kind]
        for _ in range(c):
            rhythm.observe(section, t, verb, object_type=otype)
            t += step
    return total


def _supervised(
    feats: dict[str, list[dict[str, float]]],
    ys: dict[str, list[int]],
    *,
    held_out: bool,
    seed: int = 0,
) -> tuple[list[int], list[float]]:
    """The calibrator trained on labels: on the other courses (leave-one-course-out,
    an honest estimate) or on every course including the scored one (in-sample, an
    optimistic bound of what these features and this model can reach)."""
    y_all: list[int] = []
    s_all: list[float] = []
    rng = random.Random(seed)
    for held in feats:
        train = [
            (x, y)
            for c in feats
            if c != held or not held_out
            for x, y in zip(feats[c], ys[c], strict=True)
        ]
        cal = rhythm.RiskCalibrator(min_examples=1)
        for _ in range(3):
            rng.shuffle(train)
            for x, y in train:
                cal.learn_one(x, bool(y))
        y_all += ys[held]
        s_all += [cal.predict(x) for x in feats[held]]
    return y_all, s_all


def run(
    course_files: list[Path] | None = None,
    labels_file: Path | None = None,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Replay the courses and return AUCs per method and day plus the protocol."""
    course_files = course_files or default_courses()
    labels = load_labels(labels_file or DATA_DIR / "labels.csv")
    courses = load(course_files)
    for course in courses.values():
        course["rows"] = {e: g for e, g in course["rows"].items() if e in labels}
    sections: dict[tuple[str, str], dict[str, Any]] = {
        (c, e): {} for c, info in courses.items() for e in info["rows"]
    }
    cal = rhythm.RiskCalibrator()
    # method -> day -> (labels, scores)
    scores: dict[str, dict[int, tuple[list[int], list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: ([], []))
    )
    feats: dict[int, dict[str, list[dict[str, float]]]] = defaultdict(dict)
    ys: dict[int, dict[str, list[int]]] = defaultdict(dict)
    calendar = sorted({info["start"] + d * DAY_MS for info in courses.values() for d in range(30)})
    events = learned = 0
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("replaying days", total=len(calendar))
        for day_ms in calendar:
            live = [
                (c, info)
                for c, info in courses.items()
                if info["start"] <= day_ms < info["start"] + 30 * DAY_MS
            ]
            for c, info in live:
                d = (day_ms - info["start"]) // DAY_MS
                for e, grid in info["rows"].items():
                    events += _emit(sections[(c, e)], day_ms, grid[d], info["kinds"])
            end = day_ms + DAY_MS
            for c, info in live:
                for e in info["rows"]:
                    for x, y in rhythm.matured(sections[(c, e)], end):
                        cal.learn_one(x, y)
                        learned += 1
            for c, info in live:
                day_no = (day_ms - info["start"]) // DAY_MS + 1
                if day_no in CHECK_DAYS:
                    _score(scores, feats, ys, c, info, sections, labels, end, day_no, cal)
                for e in info["rows"]:
                    rhythm.checkpoint(sections[(c, e)], end)
            bar.advance(task)
    for day in CHECK_DAYS:
        if feats[day]:
            scores["supervised_loco"][day] = _supervised(feats[day], ys[day], held_out=True)
            scores["supervised_in_sample"][day] = _supervised(feats[day], ys[day], held_out=False)
    aucs = {m: {d: roc_auc(*scores[m][d]) for d in sorted(scores[m])} for m in scores}
    return {
        "aucs": aucs,
        "enrollments": len(sections),
        "dropout_rate": sum(labels[e] for _, e in sections) / max(len(sections), 1),
        "events": events,
        "calibrator_examples": learned,
        "courses": sorted(courses),
        "protocol": __doc__.split("Protocol (printed with the results):")[1]
        .split("Use ``run")[0]
        .strip()
        if __doc__
        else "",
    }


def _score(
    scores: Any,
    feats: Any,
    ys: Any,
    course: str,
    info: dict[str, Any],
    sections: dict[tuple[str, str], dict[str, Any]],
    labels: dict[str, int],
    end: int,
    day: int,
    cal: rhythm.RiskCalibrator,
) -> None:
    feats[day][course] = []
    ys[day][course] = []
    for e in info["rows"]:
        s = sections[(course, e)]
        y = labels[e]
        f = rhythm.features(s, end)
        feats[day][course].append(f)
        ys[day][course].append(y)
        seen = "t1" in s
        rows = {
            "risk (rhythm + self-supervised calibrator)": rhythm.risk(s, end, cal),
            "rhythm prior (no learning)": rhythm.prior_risk(s, end),
            "baseline: days since last activity": (end - s["t1"]) / DAY_MS if seen else 99.0,
            "baseline: total activity count": -float(s.get("n", 0)),
            "baseline: active days": -float(s.get("ad", 0)),
        }
        for m, v in rows.items():
            scores[m][day][0].append(y)
            scores[m][day][1].append(v)


GOALS = {30: 0.90, 14: 0.85}


def render(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(
        title=f"Dropout ROC AUC — {result['enrollments']} enrollments, "
        f"{len(result['courses'])} courses, {result['events']:,} events, "
        f"dropout rate {result['dropout_rate']:.3f}"
    )
    table.add_column("method")
    for d in CHECK_DAYS:
        goal = f" (goal {GOALS[d]:.2f})" if d in GOALS else ""
        table.add_column(f"after day {d}{goal}", justify="right")
    order = [
        "risk (rhythm + self-supervised calibrator)",
        "rhythm prior (no learning)",
        "supervised_loco",
        "supervised_in_sample",
    ]
    names = {
        "supervised_loco": "reference: calibrator on other courses' labels (LOCO)",
        "supervised_in_sample": "bound: calibrator fit on all labels, in-sample (optimistic)",
    }
    for m in order + sorted(k for k in result["aucs"] if k not in order):
        if m in result["aucs"]:
            table.add_row(
                names.get(m, m),
                *(f"{result['aucs'][m].get(d, float('nan')):.4f}" for d in CHECK_DAYS),
            )
    console.print(table)
    console.print(
        f"calibrator trained on {result['calibrator_examples']:,} self-supervised "
        "outcomes (no labels.csv)"
    )
    console.print("[bold]Protocol[/bold]\n" + result["protocol"])


def command(
    courses: Annotated[
        list[Path] | None,
        typer.Argument(help="course<N>.csv files (default: the shared KDD Cup 2015 courses)"),
    ] = None,
    labels: Annotated[Path | None, typer.Option(help="labels.csv (enrollment_id,label)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Replay KDD Cup 2015 course activity through the rhythm model; print ROC AUCs."""
    render(run(courses or None, labels, progress=progress))


if __name__ == "__main__":
    typer.run(command)
