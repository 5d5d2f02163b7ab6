"""Drop detection and nudge volume on the synthetic organisation, in event time.

Protocol (printed with the results):

* The synthetic organisation (``learnpulse.synth``) is generated from a seed and
  its events are replayed once, in event-time order, through the worker's own
  code: ``learner.guard`` / ``apply_activity`` and ``engagement.observe`` per
  event (profiles applied first, paths when their time comes), then
  ``engagement.risk_and_due`` reschedules the learner's silence timer, exactly
  as ``streams.batch.LearnBatch.handle`` does (a batch of one event).
* The silence timer is an in-memory twin of ``streams.silence.SilenceIndex``
  (one due time per learner, a new schedule overwrites, a claim takes every
  learner due at or before *now*, oldest first) driven by **event time**: the
  clock ticks every ``tick_s`` of event time and at every event. A claimed
  learner is decided with ``engagement.decide`` as in
  ``streams.agents.watch_engagement.tick``; a deferral is re-scheduled at its
  ``retry_at_ms``, a send or skip leaves the index until the next event.
  Default ``NudgeConfig``: 1 nudge per rolling 24 h, 3 per rolling 7 days,
  quiet hours 20:00-08:00 local, send windows.
* Ground truth: a learner *dropped* if ``truth.drop_of`` falls in the replayed
  window. A flag is **true** when it comes from a learner who dropped, at or
  after their ``decay_from_ms`` (the thinning-out before the drop counts as
  early detection); any other flag is false. Per learner: a true positive has a
  true flag; a false positive was flagged, but never truly. Precision and recall
  are over learners; *flag precision* is over flags. Delays are first true flag
  minus the real drop time (negative = caught while fading), and minus the
  learner's last real event. Droppers with fewer than ``OBSERVABLE_DAYS`` left
  in the window are also reported apart (a late drop cannot be caught in time).
* Rows, all in the same run: the worker's nudges (reasons silence, abandoned,
  failures; deadline nudges count for volume, not as drop flags); the worker's
  risk at a timer fire crossing ``risk_threshold``; a diagnostic daily scan of
  every learner's worker risk (what the risk could flag if every learner were
  looked at daily: *not* the worker's path); the trade-off curve: more worker
  replicas, each with another ``min_risk`` (``curve``); baselines with the same
  timer and nudge policy but a fixed silence threshold instead of the rhythm
  model (7 days, and 3 days = the rhythm prior's gap for everyone); a ceiling
  that reads the truth: the same policy, nudging once the silence exceeds
  ``k`` times the learner's *true* mean gap (``7 / sessions_per_week``) plus
  their inactive weekdays (no estimate can know this); and the due-date rule
  (an assigned path item passes its due date undone), a detector.
* Not modelled: Kafka partitions, claim limits and leases (one worker owns all
  learners; a tick claims everything due); the recommender, so nudges carry no
  "Next up" item (``next_content_id=None``).
* Volume: nudges per learner per week, the most in any rolling 24 h and 7 days
  (checked independently of the policy code), and nudges sent inside quiet
  hours in the learner's zone (zoneinfo, DST-correct).

The synthetic learners do not react to nudges, so these are detection figures,
not effect sizes. ``run(...) -> dict`` from code, ``command`` as a typer command.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from learnpulse.synth import Organisation
from learnpulse.synth.org import DEFAULT_START_MS
from streams import engagement
from streams.models import learner, nudge_policy, rhythm
from streams.models.state import LearnerState, new_state

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
WEEK_MS = 7 * DAY_MS
OBSERVABLE_DAYS = 14
DROP_REASONS = frozenset({"silence", "abandoned", "failures"})
MAIN = "LearnPulse worker: nudges"
RISK_AT_FIRE = "LearnPulse worker: risk >= {thr:g} at a fire"
DAILY_SCAN = "diagnostic: worker risk >= {thr:g}, daily scan"
DUE_DATE = "baseline: overdue path item"
CURVE = "worker, min_risk {thr:g}"
CEILING = "ceiling: silence > {k:g} x true mean gap"
CURVE_RISKS = (0.3, 0.45, 0.75, 0.9)  # keep in step with the command's defaults
CEILING_KS = (3.0, 4.0, 5.0)


class DueIndex:
    """In-memory twin of ``streams.silence.SilenceIndex`` for one worker owning all
    partitions: one due time per learner; scheduling again moves it; a claim
    takes every learner due at or before ``now_ms``, oldest first.

    >>> ix = DueIndex()
    >>> ix.schedule("a", 10); ix.schedule("b", 5); ix.schedule("a", 30)
    >>> ix.claim_due(20), ix.claim_due(20), len(ix)
    ([('b', 5)], [], 1)
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}

    def schedule(self, learner_id: str, due_ms: int) -> None:
        self._due[learner_id] = int(due_ms)
        heapq.heappush(self._heap, (int(due_ms), learner_id))

    def claim_due(self, now_ms: int) -> list[tuple[str, int]]:
        out = []
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            due, lid = heapq.heappop(heap)
            if self._due.get(lid) == due:  # else a stale entry of a moved due time
                del self._due[lid]
                out.append((lid, due))
        return out

    def __len__(self) -> int:
        return len(self._due)


@dataclass
class Track:
    """One row: its flags against the truth and, for policy rows, its nudges.

    Rows other than the worker replicas reuse the first replica's learner states
    read-only and bring their own due time, risk, deadline and re-check rules.
    """

    name: str
    kind: str  # "policy" (sends nudges) or "detector" (flags only)
    due_fn: Callable[[LearnerState], int | None] | None = None
    risk_fn: Callable[[LearnerState, int], float] | None = None
    deadlines: bool = False  # offer path deadlines to the policy, as the worker does
    recheck_ms: int | None = None  # re-check after a "no reason (yet)" skip; None: leave
    index: DueIndex = field(default_factory=DueIndex)
    bandit: nudge_policy.NudgeBandit = field(default_factory=nudge_policy.NudgeBandit)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    nudges: list[tuple[str, int, str]] = field(default_factory=list)  # learner, t, reason
    deadline_sent: dict[tuple[str, str], int] = field(default_factory=dict)
    deadline_cover: list[int] = field(default_factory=lambda: [0, 0])  # covered, undone
    first_true: dict[str, int] = field(default_factory=dict)
    false_learners: set[str] = field(default_factory=set)
    flags: int = 0
    true_flags: int = 0
    above: set[str] = field(default_factory=set)  # risk rows: above the threshold now
    decisions: Counter[str] = field(default_factory=Counter)

    def record(self, truth: Truth, lid: str, now: int, d: nudge_policy.Decision) -> None:
        """Count a timer decision; keep its nudge and flag; re-schedule a deferral."""
        self.decisions[f"{d.action}:{d.reason}"] += 1
        if d.action == "send" and d.nudge is not None:
            self.nudges.append((lid, now, d.nudge["reason"]))
            if d.nudge["reason"] in DROP_REASONS:
                truth.flag(self, lid, now)
            elif d.nudge["reason"] == "deadline":
                self.deadline_sent[(lid, str(d.nudge["content_id"]))] = now
        elif d.action == "defer" and d.retry_at_ms:
            self.index.schedule(lid, int(d.retry_at_ms))
        elif self.recheck_ms and d.reason in ("no_reason", "open_nudge"):
            self.index.schedule(lid, now + self.recheck_ms)


class Truth:
    """Whether a flag of ``learner`` at ``t`` is a true one (see the protocol)."""

    def __init__(self, org: Organisation, end_ms: int) -> None:
        tr = org.truth
        self.drop = {lid: d for lid, d in tr.drop_at_ms.items() if d < end_ms}
        self.decay = {lid: tr.decay_from_ms[lid] for lid in self.drop}

    def flag(self, track: Track, lid: str, t: int) -> None:
        track.flags += 1
        if lid in self.drop and t >= self.decay[lid]:
            track.true_flags += 1
            track.first_true.setdefault(lid, t)
        else:
            track.false_learners.add(lid)


@dataclass
class Context:
    """What every replica reads: reference data as of now, config, truth."""

    catalog: dict[str, dict[str, Any]]
    paths: dict[str, dict[str, Any]]
    profiles: list[dict[str, Any]]
    truth: Truth
    cfg: nudge_policy.NudgeConfig
    threshold: float

    def paths_for(self, lid: str, team: str) -> list[dict[str, Any]]:
        """Same selection as ``streams.reference.ReferenceData.paths_for``."""
        return [
            p
            for p in self.paths.values()
            if p.get("active", True)
            and (lid in p["learner_ids"] or (team and team in p["team_ids"]))
        ]


class WorkerReplica:
    """The stream worker's engagement path on its own learner states and shared models:
    ``LearnBatch.handle`` per event, ``watch_engagement.tick`` per clock tick, with
    the policy ``cfg`` (default: the context's).
    """

    def __init__(
        self, track: Track, ctx: Context, cfg: nudge_policy.NudgeConfig | None = None
    ) -> None:
        self.track, self.ctx = track, ctx
        self.models = engagement.EngagementModels(config=cfg or ctx.cfg)
        self.states: dict[str, LearnerState] = {}
        for prof in ctx.profiles:
            learner.apply_profile(st := new_state(), prof)
            self.states[prof["learner_id"]] = st
        self.at_fire: Track | None = None  # risk >= threshold at a fire, as a detector

    def event(self, ev: dict[str, Any], offset: int) -> LearnerState | None:
        lid = ev["learner_id"]
        state = self.states[lid]
        if learner.guard(state, ev["event_id"], 0, offset) != "applied":
            return None
        state["n"] = state.get("n", 0) + 1
        learner.apply_activity(state, ev)
        engagement.observe(self.models, state, ev)
        risk, _ = engagement.risk_and_due(self.models, state, state["last_ms"])
        state["risk"] = round(risk, 4)
        due = engagement.next_check_ms(
            self.models, state, self.ctx.paths_for(lid, state["profile"].get("team_id", "")), lid
        )
        if self.at_fire is not None and risk < self.ctx.threshold:
            self.at_fire.above.discard(lid)
        if due:
            self.track.index.schedule(lid, due)
        return state

    def tick(self, now: int) -> None:
        ctx = self.ctx
        for lid, _due in self.track.index.claim_due(now):
            state = self.states[lid]
            paths = ctx.paths_for(lid, state["profile"].get("team_id", ""))
            d = engagement.decide(self.models, lid, state, now, ctx.catalog, paths, None)
            risk, _ = engagement.risk_and_due(self.models, state, now)
            state["risk"] = round(risk, 4)
            self.track.record(ctx.truth, lid, now, d)
            if not self.track.recheck_ms:  # the worker's own follow-up rule
                again = engagement.followup_ms(d, state, now, self.models.config)
                if again is not None and d.action != "defer":
                    self.track.index.schedule(lid, again)
            fired = self.at_fire
            if fired is not None and risk >= ctx.threshold and lid not in fired.above:
                fired.above.add(lid)
                ctx.truth.flag(fired, lid, now)


def fire_other(
    track: Track, ctx: Context, states: Mapping[str, LearnerState], lid: str, now: int
) -> None:
    """A timer of a non-worker policy row: the same ``nudge_policy.decide``, its own risk."""
    state = states[lid]
    assert track.risk_fn is not None
    team = state["profile"].get("team_id", "")
    upcoming = (
        nudge_policy.upcoming_deadlines(
            ctx.paths_for(lid, team), learner_id=lid, team_id=team, done=state["done"], now_ms=now
        )
        if track.deadlines
        else []
    )
    d = nudge_policy.decide(
        track.sections.setdefault(lid, {}),
        learner_id=lid,
        now_ms=now,
        risk=track.risk_fn(state, now),
        signals=rhythm.signals(state["rhythm"], now),
        profile=state["profile"],
        last_activity_ms=state["last_ms"],
        prog=state["prog"],
        catalog=ctx.catalog,
        deadlines=upcoming,
        bandit=track.bandit,
        config=ctx.cfg,
    )
    track.record(ctx.truth, lid, now, d)


def max_in_window(times: Iterable[int], span_ms: int) -> int:
    """Most sends within any rolling ``span_ms`` (half-open, as the policy counts).

    >>> max_in_window([0, 3_600_000, 90_000_000], DAY_MS)
    2
    """
    ts = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ts):
        while t - ts[lo] >= span_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def in_quiet_hours(t_ms: int, tz: str, cfg: nudge_policy.NudgeConfig) -> bool:
    """Local wall-clock hour of ``t_ms`` in ``tz`` inside the quiet hours (own zoneinfo
    conversion, not the policy's, so a policy bug cannot hide here)."""
    try:
        zone = ZoneInfo(tz or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    hour = datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(zone).hour
    s, e = cfg.quiet_start_hour, cfg.quiet_end_hour
    return (hour >= s or hour < e) if s > e else s <= hour < e


def _deadlines(org: Organisation, start: int, end: int) -> list[tuple[int, str, str]]:
    """Every (due time, learner, item) of the path assignments due in the window."""
    members: dict[str, list[str]] = {}
    for lid, team in zip(org.learner_ids, org.team, strict=True):
        members.setdefault(team, []).append(lid)
    out: list[tuple[int, str, str]] = []
    for p in org.paths:
        targets = list(p["learner_ids"]) + [m for t in p["team_ids"] for m in members.get(t, [])]
        for item in p["items"]:
            if start <= item["due_at_ms"] < end:
                out += [(item["due_at_ms"], lid, item["content_id"]) for lid in targets]
    heapq.heapify(out)
    return out


def run(
    learners: int = 2000,
    days: int = 60,
    seed: int = 7,
    progress: bool = True,
    tick_s: int = 60,
    risk_threshold: float | None = None,
    start_ms: int = DEFAULT_START_MS,
    curve: tuple[float, ...] = CURVE_RISKS,
    ceiling: tuple[float, ...] = CEILING_KS,
    min_risk: float | None = None,
) -> dict[str, Any]:
    """Replay the synthetic organisation in event time; return the figures.

    The policy is the default ``NudgeConfig``, except ``min_risk`` if given (an
    experiment knob). ``risk_threshold`` (the risk rows) defaults to the policy's
    ``min_risk``; ``start_ms`` moves the window (e.g. across a daylight-saving
    change); ``curve`` adds a worker replica per ``min_risk`` value, ``ceiling``
    a truth-reading policy row per multiple of the true mean gap.
    """
    t_wall = time.perf_counter()
    cfg = nudge_policy.DEFAULT
    if min_risk is not None:
        cfg = dataclasses.replace(cfg, min_risk=min_risk)
    thr = cfg.min_risk if risk_threshold is None else risk_threshold
    org = Organisation.generate(learners, seed=seed, horizon_days=days, start_ms=start_ms)
    start, end = org.start_ms, org.start_ms + days * DAY_MS
    truth = Truth(org, end)
    records = org.reference_records(at_ms=start)
    ctx = Context(
        catalog={r["content_id"]: r for r in records["catalog"]},
        paths={p["path_id"]: p for p in records["paths"]},
        profiles=records["profiles"],
        truth=truth,
        cfg=cfg,
        threshold=thr,
    )
    pending_paths = [p for _k, p in org.reference_updates(start, end)]
    main = WorkerReplica(Track(MAIN, "policy", deadlines=True), ctx)
    main.at_fire = Track(RISK_AT_FIRE.format(thr=thr), "detector")
    workers = [main]
    for r in curve:
        track = Track(CURVE.format(thr=r), "policy", deadlines=True)
        workers.append(WorkerReplica(track, ctx, dataclasses.replace(cfg, min_risk=r)))
    scan = Track(DAILY_SCAN.format(thr=thr), "detector")
    others = [
        *(Track(f"baseline: {d} days of silence", "policy", *_silence(d)) for d in (7, 3)),
        *(Track(CEILING.format(k=k), "policy", *_true_gap(org, k)) for k in ceiling),
    ]
    due_date = Track(DUE_DATE, "detector")
    deadlines = _deadlines(org, start, end)
    policy_rows = [w.track for w in workers] + others

    def advance(now: int) -> None:
        """One tick of every timer at event time ``now``."""
        for w in workers:
            w.tick(now)
        for track in others:
            for lid, _due in track.index.claim_due(now):
                fire_other(track, ctx, main.states, lid, now)
        while deadlines and deadlines[0][0] <= now:
            t, lid, cid = heapq.heappop(deadlines)
            if cid in main.states[lid]["done"]:
                continue
            truth.flag(due_date, lid, t)
            for track in policy_rows:
                if track.deadlines:
                    sent = track.deadline_sent.get((lid, cid))
                    track.deadline_cover[0] += sent is not None and t - sent <= 3 * DAY_MS
                    track.deadline_cover[1] += 1

    def daily(now: int) -> None:
        for lid, state in main.states.items():  # the diagnostic scan of the worker's risk
            if "t1" not in state["rhythm"]:
                continue
            if engagement.risk_and_due(main.models, state, now)[0] < thr:
                scan.above.discard(lid)
            elif lid not in scan.above:
                scan.above.add(lid)
                truth.flag(scan, lid, now)

    tick = tick_s * 1000
    next_tick, next_day = start + tick, start + DAY_MS
    n_events = offset = 0
    cols = (TextColumn("replay"), BarColumn(), TextColumn("day {task.completed:.0f}/{task.total}"))
    with Progress(*cols, TimeElapsedColumn(), disable=not progress, transient=True) as bar:
        task = bar.add_task("replay", total=days)

        def clock_to(t: int) -> None:
            nonlocal next_tick, next_day
            while next_tick <= t:
                advance(next_tick)
                if next_tick >= next_day:
                    daily(next_day)
                    bar.update(task, completed=(next_day - start) // DAY_MS)
                    next_day += DAY_MS
                next_tick += tick
            advance(t)

        for ev in org.events():
            t = ev["occurred_at_ms"]
            clock_to(t)
            while pending_paths and pending_paths[0]["updated_at_ms"] <= t:
                p = pending_paths.pop(0)
                ctx.paths[p["path_id"]] = p
            offset += 1
            applied = [w.event(ev, offset) for w in workers]
            state = applied[0]
            if state is None:
                continue
            n_events += 1
            lid = ev["learner_id"]
            for track in others:
                nudge_policy.on_activity(track.sections.setdefault(lid, {}), t, track.bandit, cfg)
                assert track.due_fn is not None
                if (due := track.due_fn(state)) is not None:
                    track.index.schedule(lid, due)
        clock_to(end - 1)
        bar.update(task, completed=days)

    rows = [w.track for w in workers[:1]] + [main.at_fire, scan]
    rows += [w.track for w in workers[1:]] + others + [due_date]
    observable = [lid for lid, d in truth.drop.items() if d <= end - OBSERVABLE_DAYS * DAY_MS]
    missed = [lid for lid in truth.drop if lid not in main.track.first_true]
    return {
        "learners": learners,
        "days": days,
        "seed": seed,
        "start_ms": start,
        "tick_s": tick_s,
        "events": n_events,
        "droppers": len(truth.drop),
        "droppers_observable": len(observable),
        "observable_days": OBSERVABLE_DAYS,
        "risk_threshold": thr,
        "config": {
            "max_per_day": cfg.max_per_day,
            "max_per_week": cfg.max_per_week,
            "quiet_hours": [cfg.quiet_start_hour, cfg.quiet_end_hour],
            "min_risk": cfg.min_risk,
        },
        "rows": [_row(tr, truth, main.states, org, start, end, cfg) for tr in rows],
        "missed_droppers": _missed(missed, main, end),
        "seconds": time.perf_counter() - t_wall,
    }


def _true_gap(
    org: Organisation, k: float
) -> tuple[Callable[[LearnerState], int | None], Callable[[LearnerState, int], float]]:
    """Due time and risk of the ceiling row: risk 1 once the silence exceeds ``k``
    times the learner's true mean gap (from the simulation's own parameters) plus
    their inactive weekdays. A rule no estimate from events can beat by much."""
    days = {
        lid: k * 7.0 / spw + (7 - bin(mask).count("1"))
        for lid, spw, mask in zip(
            org.learner_ids,
            org.sessions_per_week.tolist(),
            org.active_days.tolist(),
            strict=True,
        )
    }

    def due(state: LearnerState) -> int | None:
        lid = state["profile"].get("learner_id", "")
        return state["last_ms"] + int(days[lid] * DAY_MS) if state["last_ms"] else None

    def risk(state: LearnerState, now: int) -> float:
        lid = state["profile"].get("learner_id", "")
        return 1.0 if now - state["last_ms"] >= days[lid] * DAY_MS else 0.0

    return due, risk


def _silence(
    days: float,
) -> tuple[Callable[[LearnerState], int | None], Callable[[LearnerState, int], float]]:
    """Due time and risk of the fixed-silence rule: risk 1 once ``days`` passed."""

    def due(state: LearnerState) -> int | None:
        return state["last_ms"] + int(days * DAY_MS) if state["last_ms"] else None

    def risk(state: LearnerState, now: int) -> float:
        return 1.0 if now - state["last_ms"] >= days * DAY_MS else 0.0

    return due, risk


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    vs = sorted(values)
    return vs[min(len(vs) - 1, int(q * len(vs)))]


def _row(
    tr: Track,
    truth: Truth,
    states: Mapping[str, LearnerState],
    org: Organisation,
    start: int,
    end: int,
    cfg: nudge_policy.NudgeConfig,
) -> dict[str, Any]:
    tp = set(tr.first_true)
    fp = tr.false_learners - tp
    observable = {lid for lid, d in truth.drop.items() if d <= end - OBSERVABLE_DAYS * DAY_MS}
    delays = [(t - truth.drop[lid]) / DAY_MS for lid, t in tr.first_true.items()]
    since_last = [(t - states[lid]["last_ms"]) / DAY_MS for lid, t in tr.first_true.items()]
    row: dict[str, Any] = {
        "model": tr.name,
        "kind": tr.kind,
        "flagged": len(tp | fp),
        "true_positives": len(tp),
        "false_positives": len(fp),
        "precision": len(tp) / max(1, len(tp | fp)),
        "recall": len(tp) / max(1, len(truth.drop)),
        "recall_observable": len(tp & observable) / max(1, len(observable)),
        "flag_precision": tr.true_flags / max(1, tr.flags),
        "delay_days": {"median": _q(delays, 0.5), "p90": _q(delays, 0.9), "n": len(delays)},
        "delay_since_last_event_days": {
            "median": _q(since_last, 0.5),
            "p90": _q(since_last, 0.9),
        },
    }
    if tr.kind == "policy":
        row.update(_volume(tr.nudges, org, start, end, cfg))
        row["decisions"] = dict(sorted(tr.decisions.items()))
        if tr.deadlines:
            covered, undone = tr.deadline_cover
            row["deadlines_missed"] = undone
            row["deadline_nudge_coverage"] = covered / max(1, undone)
    return row


def _volume(
    nudges: list[tuple[str, int, str]],
    org: Organisation,
    start: int,
    end: int,
    cfg: nudge_policy.NudgeConfig,
) -> dict[str, Any]:
    """Nudges per learner per week, rolling maxima, caps and quiet hours checked."""
    tz = dict(zip(org.learner_ids, org.time_zone, strict=True))
    by_learner: dict[str, list[int]] = {lid: [] for lid in org.learner_ids}
    for lid, t, _r in nudges:
        by_learner[lid].append(t)
    weeks = max(1, -(-(end - start) // WEEK_MS))
    per_week = Counter((lid, (t - start) // WEEK_MS) for lid, t, _r in nudges)
    cells = [per_week.get((lid, w), 0) for lid in org.learner_ids for w in range(weeks)]
    rate = [len(ts) / ((end - start) / WEEK_MS) for ts in by_learner.values()]
    max24 = max((max_in_window(ts, DAY_MS) for ts in by_learner.values()), default=0)
    max7 = max((max_in_window(ts, WEEK_MS) for ts in by_learner.values()), default=0)
    quiet = sum(1 for lid, t, _r in nudges if in_quiet_hours(t, tz[lid], cfg))
    return {
        "nudges": len(nudges),
        "nudges_by_reason": dict(Counter(r for _l, _t, r in nudges)),
        "nudged_learners": sum(1 for ts in by_learner.values() if ts),
        "per_learner_week": {
            "mean": statistics.fmean(rate) if rate else 0.0,
            "p90": _q(rate, 0.9),
            "max": max(rate, default=0.0),
            "max_calendar_week": max(cells, default=0),
            "learner_weeks_by_count": {str(k): v for k, v in sorted(Counter(cells).items())},
        },
        "max_in_24h": max24,
        "max_in_7d": max7,
        "caps_ok": max24 <= cfg.max_per_day and max7 <= cfg.max_per_week,
        "quiet_hour_sends": quiet,
    }


def _missed(missed: list[str], main: WorkerReplica, end: int) -> dict[str, Any]:
    """Droppers the worker never nudged: how long they were silent by the end, and
    their risk at the end of the window (what a re-check would have seen)."""
    states = main.states
    silent = [(end - states[lid]["last_ms"]) / DAY_MS for lid in missed if states[lid]["last_ms"]]
    risk_end = [engagement.risk_and_due(main.models, states[lid], end)[0] for lid in missed]
    return {
        "count": len(missed),
        "never_active": sum(1 for lid in missed if not states[lid]["last_ms"]),
        "silent_days_at_end": {"median": _q(silent, 0.5), "p90": _q(silent, 0.9)},
        "risk_at_end": {"median": _q(risk_end, 0.5), "p90": _q(risk_end, 0.9)},
        "silent_over_14d_at_end": sum(1 for s in silent if s >= 14),
    }


def _f(v: float | None, fmt: str = "{:.1f}") -> str:
    return "—" if v is None else fmt.format(v)


def render(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 180)
    start = datetime.fromtimestamp(result["start_ms"] / 1000, UTC).date()
    c = result["config"]
    console.print(
        f"[bold]Drop detection and nudges on the synthetic organisation[/]: "
        f"{result['learners']} learners, {result['days']} days from {start}, seed "
        f"{result['seed']}; {result['events']:,} events; {result['droppers']} real drops "
        f"({result['droppers_observable']} with >= {result['observable_days']} days left to "
        f"observe). Timer ticks every {result['tick_s']} s of event time. Caps "
        f"{c['max_per_day']}/24 h, {c['max_per_week']}/7 d; quiet hours "
        f"{c['quiet_hours'][0]}:00-{c['quiet_hours'][1]}:00 local; min risk {c['min_risk']:g}."
    )
    table = Table()
    for col in (
        "rule",
        "flagged",
        "precision",
        "recall",
        f"recall, {result['observable_days']} d left",
        "flag prec.",
        "delay (d) median / p90",
        "since last event (d)",
        "nudges/learner/wk mean, max",
        "max 24 h / 7 d",
        "quiet hours",
    ):
        rule = col == "rule"
        table.add_column(col, justify="left" if rule else "right", no_wrap=rule)
    for r in result["rows"]:
        d = r["delay_days"]
        pol = r["kind"] == "policy"
        plw = r.get("per_learner_week", {})
        ok = "" if not pol else ("" if r["caps_ok"] else " [red]OVER CAP[/]")
        table.add_row(
            r["model"],
            str(r["flagged"]),
            f"{r['precision']:.2f}",
            f"{r['recall']:.2f}",
            f"{r['recall_observable']:.2f}",
            f"{r['flag_precision']:.2f}",
            f"{_f(d['median'])} / {_f(d['p90'])}",
            _f(r["delay_since_last_event_days"]["median"]),
            f"{plw['mean']:.2f}, {plw['max']:.2f}" if pol else "—",
            f"{r['max_in_24h']} / {r['max_in_7d']}{ok}" if pol else "—",
            str(r["quiet_hour_sends"]) if pol else "—",
        )
    console.print(table)
    main = result["rows"][0]
    m = result["missed_droppers"]
    pol = [r for r in result["rows"] if r["kind"] == "policy"]
    caps_ok = all(r["caps_ok"] for r in pol)
    quiet = sum(r["quiet_hour_sends"] for r in pol)
    console.print(
        f"Caps never exceeded by any policy row: [bold]{caps_ok}[/]; nudges in quiet hours "
        f"(learner's zone): [bold]{quiet}[/]."
    )
    console.print(
        f"LearnPulse: {main['nudges']} nudges {main['nudges_by_reason']}; learner-weeks by "
        f"nudge count {main['per_learner_week']['learner_weeks_by_count']}; timer decisions "
        f"{main['decisions']}; path items missed with a deadline nudge in the 3 days before: "
        f"{main['deadline_nudge_coverage']:.0%} of {main['deadlines_missed']}."
    )
    console.print(
        f"Droppers never nudged: {m['count']} ({m['never_active']} never active; "
        f"{m['silent_over_14d_at_end']} silent >= 14 d at the end; median risk then "
        f"{_f(m['risk_at_end']['median'], '{:.2f}')}). {result['seconds']:.0f} s."
    )


def command(
    learners: Annotated[int, typer.Option(help="people in the synthetic organisation")] = 2000,
    days: Annotated[int, typer.Option(help="simulated days of events")] = 60,
    seed: Annotated[int, typer.Option(help="organisation seed")] = 7,
    start: Annotated[
        str | None, typer.Option(help="first day (YYYY-MM-DD, UTC); default the synth default")
    ] = None,
    tick_s: Annotated[int, typer.Option(help="silence timer tick, seconds of event time")] = 60,
    min_risk: Annotated[
        float | None, typer.Option(help="override the policy's min_risk (experiment)")
    ] = None,
    curve: Annotated[
        str, typer.Option(help="comma-separated min_risk values of extra worker replicas")
    ] = "0.3,0.45,0.75,0.9",
    ceiling: Annotated[
        str, typer.Option(help="comma-separated multiples of the true mean gap (ceiling rows)")
    ] = "3,4,5",
    out: Annotated[Path | None, typer.Option(help="write the figures as JSON here")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Replay the synthetic organisation in event time: drop detection precision, recall and
    delay of the nudges, nudge volume against the caps and quiet hours, with baselines."""
    start_ms = DEFAULT_START_MS if start is None else _day_ms(start)
    result = run(
        learners,
        days,
        seed,
        progress=progress,
        tick_s=tick_s,
        start_ms=start_ms,
        curve=_floats(curve),
        ceiling=_floats(ceiling),
        min_risk=min_risk,
    )
    render(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"not a list of numbers: {text!r}") from exc


def _day_ms(day: str) -> int:
    try:
        d = datetime.fromisoformat(day).replace(tzinfo=UTC)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date: {day!r}") from exc
    return int(d.timestamp() * 1000)


if __name__ == "__main__":
    typer.run(command)
