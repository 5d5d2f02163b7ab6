"""Dropout evaluation on KDD Cup 2015 (XuetangX) course files.

Input: ``course<N>.csv`` files (``enrollment_id,time,event_<kind>...``: 30 daily
rows per enrollment, one count per kind of activity) and ``labels.csv``
(``enrollment_id,label``, 1 = no activity in the 10 days after the window).

Protocol (printed with the results):

* Streaming: all courses are replayed together in calendar order. Each nonzero
  count becomes that many events of that kind on that day (one session from
  10:00 UTC, events a minute apart; the data has no time of day). Every event
  goes to the learner's rhythm section (``rhythm.observe``) and to their
  activity profile (``dropout_features.observe``, ~60 numbers); each course
  counts its enrollments active per day (``dropout_features.CohortActivity``,
  the cohort's calendar: share of the course active over its last 7 days and
  on the last day, label-free). Features are read from that online state at
  the end of a day, so nothing after that day is used.
* Snapshots: after days 7, 14 and 30 of each course, every enrollment (also
  those not active yet) is read as that day's feature vector and scored.
* Supervised, honest: the online model (River StandardScaler + logistic
  regression, AdaGrad) is trained in ONE pass, in a seeded random order, on the
  day-D snapshots of the training enrollments with their labels, and scores
  the day-D snapshots of the held-out ones. LOCO: train on 4 courses, score the
  5th, repeat for each, one AUC over all enrollments. 5-fold: enrollments split
  at random into 5 folds (no enrollment in two folds), same rule. The day-7 and
  day-14 models see only day-7 / day-14 snapshots.
* Self-supervised (no labels.csv): every 2 days each active learner's profile
  is checkpointed; once its outcome is known in the stream ("no activity in
  the next 10 days", the label's own meaning) a shared online model learns it.
  A learner is scored by what that model had learned by that calendar day
  (the worker's risk until it has 200 outcomes). A 15-feature calibrator on
  the rhythm section (``rhythm.RiskCalibrator``) does the same.
* Rows for comparison, measured in the same run: an offline reference (batch
  L2 logistic regression fit to convergence on the same features and folds),
  the rhythm calibrator trained on other courses' labels (LOCO), the stream
  worker's own risk (``rhythm.risk``: the learner's silence against their own
  gaps, no learning) and the same model asked the label's question
  (``rhythm.quiet_probability``), and single-feature baselines.

Use ``run(...) -> dict`` from code or ``command`` as a typer command.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from streams.models import dropout_features as prof
from streams.models import rhythm

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dropout"
CHECK_DAYS = (7, 14, 30)
GOALS = {30: 0.90, 14: 0.85}
DAY_MS = rhythm.DAY_MS
SESSION_START_MS = 10 * rhythm.HOUR_MS
SELF_EVERY_DAYS = 2
SEED = 0
# kind of activity in the files -> (canonical verb, object type, profile kind)
KINDS = {
    "event_access": ("viewed", "page", "access"),
    "event_discussion": ("commented", "discussion", "discussion"),
    "event_navigate": ("navigated", "page", "navigate"),
    "event_page_close": ("closed", "page", "page_close"),
    "event_problem": ("answered", "problem", "problem"),
    "event_video": ("played", "video", "video"),
    "event_wiki": ("viewed", "wiki", "wiki"),
}
HEADLINE = "online_loco"
ROWS = {  # key -> label, in print order
    "online_loco": "online model, streaming features, LOCO labels",
    "online_kfold": "online model, streaming features, 5-fold by enrollment",
    "online_self": "online model, streaming features, self-supervised (no labels)",
    "batch_loco": "reference: offline batch logistic regression, LOCO",
    "batch_kfold": "reference: offline batch logistic regression, 5-fold",
    "rhythm_self": "rhythm calibrator, 15 features, self-supervised",
    "rhythm_loco": "rhythm calibrator on other courses' labels (LOCO)",
    "rhythm_risk": "worker risk: silence hazard on own gaps (no learning)",
    "rhythm_quiet": "same model: P(no activity in the next 10 days)",
    "base_recency": "baseline: days since last activity",
    "base_count": "baseline: total activity count",
    "base_days": "baseline: active days",
}


def default_courses() -> list[Path]:
    return sorted(DATA_DIR.glob("course*.csv"))


def load(course_files: list[Path]) -> dict[str, dict[str, Any]]:
    """course -> {"start": epoch ms of day 1, "kinds": [...], "rows": {enrollment: [[counts]]}}."""
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
        first = min(date.fromisoformat(t) for rows in per.values() for t, _ in rows)
        start = (first.toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS
        rows: dict[str, list[list[int]]] = {}
        for e, days in per.items():
            grid = [[0] * len(kinds) for _ in range(30)]
            for t, counts in days:
                d = date.fromisoformat(t).toordinal() - first.toordinal()
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


class _Learner:
    """One enrollment's online state in the replay."""

    __slots__ = ("course", "eid", "rhythm", "profile", "pending")

    def __init__(self, course: str, eid: str) -> None:
        self.course, self.eid = course, eid
        self.rhythm: dict[str, Any] = {}
        self.profile: dict[str, Any] = {}
        self.pending: list[tuple[int, dict[str, float]]] = []  # self-supervised checkpoints


def _emit(
    learner: _Learner,
    day_ms: int,
    counts: list[int],
    kinds: list[str],
    cohort: prof.CohortActivity | None = None,
) -> int:
    total = sum(counts)
    if not total:
        return 0
    if cohort is not None:
        day = prof.new_active_day(learner.profile, day_ms + SESSION_START_MS)
        if day is not None:
            cohort.active_on(day)
    step = min(60_000, (12 * rhythm.HOUR_MS) // total)
    t = day_ms + SESSION_START_MS
    for kind, c in zip(kinds, counts, strict=True):
        if not c:
            continue
        verb, otype, pkind = KINDS[kind]
        prof.observe(learner.profile, t, pkind, c)
        for _ in range(c):
            rhythm.observe(learner.rhythm, t, verb, object_type=otype)
            t += step
    return total


def _self_supervise(learner: _Learner, end: int, model: prof.OnlineDropoutModel) -> int:
    """Settle this learner's checkpoints whose outcome the stream knows at ``end``."""
    keep, learned = [], 0
    t1 = learner.profile.get("t1", 0)
    for t, x in learner.pending:
        if t1 > t:  # active again; the daily sweep sees it by the end of that day
            model.learn_one(x, False)
        elif end - t >= rhythm.HORIZON_DAYS * DAY_MS:
            model.learn_one(x, True)
        else:
            keep.append((t, x))
            continue
        learned += 1
    learner.pending = keep
    return learned


def _online_fit(
    train: list[tuple[dict[str, float], int]], seed: int
) -> Callable[[dict[str, float]], float]:
    model = prof.OnlineDropoutModel(min_examples=1)
    order = train[:]
    random.Random(seed).shuffle(order)
    for x, y in order:  # one pass
        model.learn_one(x, bool(y))
    return model.predict_one


def _batch_fit(
    train: list[tuple[dict[str, float], int]], seed: int, l2: float = 100.0
) -> Callable[[dict[str, float]], float]:
    """Offline reference: L2 logistic regression on standardised features, Newton
    steps to convergence (what the online model would reach with unlimited passes)."""
    X = np.array([[x[f] for f in prof.FEATURES] for x, _ in train])
    y = np.array([t for _, t in train], dtype=float)
    mu, sd = X.mean(0), X.std(0) + 1e-9
    Z = np.c_[np.ones(len(X)), (X - mu) / sd]
    w = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-Z @ w))
        grad = Z.T @ (p - y) + reg * w
        hess = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break

    def predict(x: dict[str, float]) -> float:
        z = (np.array([x[f] for f in prof.FEATURES]) - mu) / sd
        return float(1 / (1 + np.exp(-(w[0] + z @ w[1:]))))

    return predict


def _rhythm_fit(
    train: list[tuple[dict[str, float], int]], seed: int
) -> Callable[[dict[str, float]], float]:
    cal = rhythm.RiskCalibrator(min_examples=1)
    order = train[:]
    rng = random.Random(seed)
    for _ in range(3):
        rng.shuffle(order)
        for x, y in order:
            cal.learn_one(x, bool(y))
    return cal.predict


def _held_out(
    snaps: list[tuple[str, str, dict[str, float], int]],
    fold_of: Callable[[str, str], Any],
    fit: Callable[[list[tuple[dict[str, float], int]], int], Callable[[dict[str, float]], float]],
) -> tuple[list[int], list[float]]:
    """Fit on every fold but one, score that one; labels and scores of all snapshots."""
    folds = sorted({fold_of(c, e) for c, e, _, _ in snaps})
    if len(folds) < 2:
        return [], []  # e.g. LOCO with one course: no honest estimate, reported as n/a
    ys: list[int] = []
    ss: list[float] = []
    for i, k in enumerate(folds):
        train = [(x, y) for c, e, x, y in snaps if fold_of(c, e) != k]
        predict = fit(train, SEED + i)
        for c, e, x, y in snaps:
            if fold_of(c, e) == k:
                ys.append(y)
                ss.append(predict(x))
    return ys, ss


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
    learners: dict[str, list[_Learner]] = {
        c: [_Learner(c, e) for e in info["rows"] if e in labels] for c, info in courses.items()
    }
    cohorts = {c: prof.CohortActivity(len(ls)) for c, ls in learners.items()}
    cal = rhythm.RiskCalibrator()
    self_model = prof.OnlineDropoutModel()
    scores: dict[str, dict[int, tuple[list[int], list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: ([], []))
    )
    # day -> [(course, enrollment, profile features, label)], same for rhythm features
    snaps: dict[int, list[tuple[str, str, dict[str, float], int]]] = defaultdict(list)
    rsnaps: dict[int, list[tuple[str, str, dict[str, float], int]]] = defaultdict(list)
    calendar = sorted({info["start"] + d * DAY_MS for info in courses.values() for d in range(30)})
    events = learned = self_learned = 0
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("replaying days", total=len(calendar))
        for day_ms in calendar:
            live = [c for c, info in courses.items() if 0 <= day_ms - info["start"] < 30 * DAY_MS]
            end = day_ms + DAY_MS
            for c in live:
                info = courses[c]
                d = (day_ms - info["start"]) // DAY_MS
                for lr in learners[c]:
                    events += _emit(lr, day_ms, info["rows"][lr.eid][d], info["kinds"], cohorts[c])
            for c in live:  # the end-of-day sweep: settle outcomes first, then score
                for lr in learners[c]:
                    for seen_x, quiet in rhythm.matured(lr.rhythm, end):
                        cal.learn_one(seen_x, quiet)
                        learned += 1
                    self_learned += _self_supervise(lr, end, self_model)
            for c in live:
                day_no = (day_ms - courses[c]["start"]) // DAY_MS + 1
                for lr in learners[c]:
                    x = prof.features(lr.profile, end, cohort=cohorts[c])
                    if day_no in CHECK_DAYS:
                        y = labels[lr.eid]
                        snaps[day_no].append((c, lr.eid, x, y))
                        rsnaps[day_no].append((c, lr.eid, rhythm.features(lr.rhythm, end), y))
                        _score_streaming(scores, lr, x, y, end, day_no, cal, self_model)
                    rhythm.checkpoint(lr.rhythm, end)
                    if x["seen"] and day_no % SELF_EVERY_DAYS == 0:
                        lr.pending.append((end, x))
            bar.advance(task)
    rng = random.Random(SEED)
    kfold = {(c, lr.eid): rng.randrange(5) for c in sorted(learners) for lr in learners[c]}

    def by_course(c: str, e: str) -> str:
        return c

    def by_fold(c: str, e: str) -> int:
        return kfold[(c, e)]

    for day in CHECK_DAYS:
        if not snaps[day]:
            continue
        scores["online_loco"][day] = _held_out(snaps[day], by_course, _online_fit)
        scores["online_kfold"][day] = _held_out(snaps[day], by_fold, _online_fit)
        scores["batch_loco"][day] = _held_out(snaps[day], by_course, _batch_fit)
        scores["batch_kfold"][day] = _held_out(snaps[day], by_fold, _batch_fit)
        scores["rhythm_loco"][day] = _held_out(rsnaps[day], by_course, _rhythm_fit)
    aucs = {
        m: {d: roc_auc(*scores[m][d]) for d in sorted(scores[m]) if scores[m][d][0]} for m in scores
    }
    sizes = [prof.state_bytes(lr.profile) for ls in learners.values() for lr in ls]
    # what limits any model on these files: learners active on a single day look alike
    one_day = [lr.eid for ls in learners.values() for lr in ls if lr.profile.get("ad", 0) <= 1]
    stayed = [lr.eid for ls in learners.values() for lr in ls if not labels[lr.eid]]
    n = sum(len(ls) for ls in learners.values())
    return {
        "aucs": aucs,
        "enrollments": n,
        "dropout_rate": sum(labels[lr.eid] for ls in learners.values() for lr in ls) / max(n, 1),
        "events": events,
        "calibrator_examples": learned,
        "self_supervised_examples": self_learned,
        "one_active_day": {
            "enrollments": len(one_day),
            "stayed": sum(1 for e in one_day if not labels[e]),
            "stayed_total": len(stayed),
        },
        "profile_bytes": {"mean": sum(sizes) / max(len(sizes), 1), "max": max(sizes, default=0)},
        "courses": sorted(courses),
        "protocol": __doc__.split("Protocol (printed with the results):")[1]
        .split("Use ``run")[0]
        .strip()
        if __doc__
        else "",
    }


def _score_streaming(
    scores: Any,
    lr: _Learner,
    x: dict[str, float],
    y: int,
    end: int,
    day: int,
    cal: rhythm.RiskCalibrator,
    self_model: prof.OnlineDropoutModel,
) -> None:
    """Scores that need no labels: whatever the stream knows at ``end``."""
    seen = "t1" in lr.rhythm
    prior = rhythm.risk(lr.rhythm, end)
    rows = {
        "online_self": self_model.predict_one(x) if seen and self_model.ready else prior,
        "rhythm_self": cal.predict(rhythm.features(lr.rhythm, end))
        if seen and cal.ready
        else prior,
        "rhythm_risk": prior,
        "rhythm_quiet": rhythm.quiet_probability(lr.rhythm, end),
        "base_recency": (end - lr.rhythm["t1"]) / DAY_MS if seen else 99.0,
        "base_count": -float(lr.rhythm.get("n", 0)),
        "base_days": -float(lr.rhythm.get("ad", 0)),
    }
    for m, v in rows.items():
        scores[m][day][0].append(y)
        scores[m][day][1].append(v)


def goals_met(result: dict[str, Any], method: str = HEADLINE) -> dict[int, bool]:
    """Day -> whether ``method`` reaches the issue's AUC goal on that day."""
    aucs = result["aucs"].get(method, {})
    return {d: aucs.get(d, float("nan")) >= g for d, g in GOALS.items()}


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
    for m, label in ROWS.items():
        got = result["aucs"].get(m, {})
        table.add_row(label, *(f"{got[d]:.4f}" if d in got else "n/a" for d in CHECK_DAYS))
    console.print(table)
    met = goals_met(result)
    console.print(
        f"Goals ({ROWS[HEADLINE]}): "
        + ", ".join(
            f"day {d} >= {GOALS[d]:.2f}: {'met' if ok else 'NOT met'}" for d, ok in met.items()
        )
        + ("" if result["aucs"].get(HEADLINE) else " (LOCO needs two or more courses)")
    )
    pb = result["profile_bytes"]
    console.print(
        f"activity profile per learner: {pb['mean']:.0f} bytes mean, {pb['max']} max (JSON); "
        f"self-supervised outcomes learned: {result['self_supervised_examples']:,} (profile), "
        f"{result['calibrator_examples']:,} (rhythm calibrator)"
    )
    one = result["one_active_day"]
    console.print(
        f"{one['enrollments']} of {result['enrollments']} enrollments were active on one day "
        f"only in the window; {one['stayed']} of the {one['stayed_total']} who stayed are among "
        "them, hard to tell apart from those dropouts by activity alone."
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
    """Replay KDD Cup 2015 course activity through the streaming models; print ROC AUCs."""
    render(run(courses or None, labels, progress=progress))


if __name__ == "__main__":
    typer.run(command)
