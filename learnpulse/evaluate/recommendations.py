"""Recommendation quality and adaptation speed on the synthetic organisation.

Protocol (printed with the results):

* The synthetic organisation (``learnpulse.synth``) is generated from a seed;
  its events are streamed once, in event-time order, through every model in
  the comparison. Paths that managers assign during the window reach the
  models when their time comes. Profiles are applied before the first event.
* **Test, then train.** When a learner's event is their first touch of a
  catalog item (a start, view or completion of content they had neither open
  nor finished) each model first recommends K=10 items from the state *before*
  the event; the hit rate@10 and NDCG@10 (one relevant item: the one they
  picked) are scored; then the event is learned. So no model ever sees the
  answer before it is asked.
* The models learn from the learners' own events only: their picks (each
  against alternatives they could have picked), completions, resumptions,
  ratings; the knowledge-tracing ``SkillModel`` learns their answers first, as
  in the stream worker. The synthetic learners never see the lists, so
  front-end feedback (impressions, clicks) is *not* simulated by default: it
  would only teach the ranker "what we showed was not picked", a pattern of our
  own making. ``feedback=True`` simulates it anyway (impressions of the shown
  list with each item's source, a click when the pick was on it) through the
  same ``Recommender.observe``.
* **Adaptation.** For each learner whose latent interest switches (ground
  truth), count their events (every event, answers included) from the switch
  on until the top 5 holds at least one item of the new interest group (the
  goal's "reaches the top 5"; 0 = already there at the switch), and until it
  holds 3 of 5 (the new interest dominates). Medians are over switchers with an
  event after the switch, those who never get there (within 60 events) counted
  as infinitely late.
* Baselines measured in the same run: random (active, published, untouched
  items), global popularity and role popularity (time-decayed counts of first
  touches, the same :class:`Popularity` the model uses, untouched items only).

Use ``run(...) -> dict`` from code or ``command`` as a typer command.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from learnpulse.synth import Organisation
from streams.models import learner
from streams.models.mastery import SkillModel
from streams.models.popularity import ALL, Popularity, role_key
from streams.models.ranker import SharedPrior
from streams.models.recommend import Recommender
from streams.models.state import LearnerState, new_state

DAY_MS = 86_400_000
K = 10
TOP_ADAPT = 5
ADAPT_NEEDS = (1, 3)  # new-interest items in the top 5: "reaches it", "holds the majority"
ADAPT_MAX = 60  # events after a switch we keep checking; later counts as never
FIRST_TOUCH = frozenset(
    {"started", "launched", "viewed", "completed", "passed", "mastered", "attempted", "experienced"}
)


class Ref:
    """In-memory reference data with the same surface as ``streams.reference.ReferenceData``."""

    def __init__(self, records: Mapping[str, list[dict[str, Any]]]) -> None:
        self.catalog = {r["content_id"]: r for r in records["catalog"]}
        self.paths = {p["path_id"]: p for p in records["paths"]}
        self.role_skills = {r["role"]: dict(r["required_skills"]) for r in records["role_skills"]}
        self.version = 1

    def add_path(self, path: dict[str, Any]) -> None:
        self.paths[path["path_id"]] = path
        self.version += 1


class Model:
    """One row of the comparison: recommend from a learner's state, then observe the event."""

    name = ""
    personalised = False

    def recommend(self, lid: str, state: LearnerState, t: int) -> list[str]:
        raise NotImplementedError

    def observe(self, lid: str, state: LearnerState, ev: dict[str, Any], shown: list[str]) -> None:
        """Learn ``ev``; ``shown`` is the list the learner saw just before it ([] if none)."""


class LearnPulse(Model):
    """The production model code, with per-model ranker sections."""

    personalised = True

    def __init__(self, name: str, ref: Ref, feedback: bool = False, **kwargs: Any) -> None:
        self.name = name
        self.feedback = feedback
        self.rec = Recommender(ref, Popularity(), **kwargs)
        self.sections: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, dict[str, str]] = {}  # learner -> shown item -> source
        self.timing = {"observe": [0.0, 0], "recommend": [0.0, 0]}  # seconds, calls

    def _swap(self, lid: str, state: LearnerState) -> None:
        sec = self.sections.get(lid)
        if sec is None:
            sec = self.sections[lid] = {}
        state["ranker"] = sec

    def recommend(self, lid: str, state: LearnerState, t: int) -> list[str]:
        self._swap(lid, state)
        t0 = time.process_time()
        items = self.rec.recommend(state, now_ms=t, learner_id=lid)
        tm = self.timing["recommend"]
        tm[0] += time.process_time() - t0
        tm[1] += 1
        self.sources[lid] = {it["content_id"]: it["source"] for it in items}
        return [it["content_id"] for it in items]

    def observe(self, lid: str, state: LearnerState, ev: dict[str, Any], shown: list[str]) -> None:
        self._swap(lid, state)
        if self.feedback:  # what a front-end would report about the list it showed
            t = ev["occurred_at_ms"] - 1
            src = self.sources.get(lid, {})
            for rank, cid in enumerate(shown):
                fb = _feedback(ev, "impression", cid, t, src.get(cid, ""), rank)
                self.rec.observe(state, fb)
            if ev["object_id"] in shown:
                cid = ev["object_id"]
                fb = _feedback(ev, "clicked", cid, t, src.get(cid, ""), shown.index(cid))
                self.rec.observe(state, fb)
        t0 = time.process_time()
        self.rec.observe(state, ev)
        tm = self.timing["observe"]
        tm[0] += time.process_time() - t0
        tm[1] += 1


def _feedback(
    ev: dict[str, Any], verb: str, cid: str, t: int, source: str, rank: int
) -> dict[str, Any]:
    return {
        "event_id": f"{ev['event_id']}/{verb}/{cid}",
        "learner_id": ev["learner_id"],
        "occurred_at_ms": t,
        "received_at_ms": t,
        "source": "frontend",
        "verb": verb,
        "object_id": cid,
        "object_type": "recommendation",
        "result": None,
        "context": None,
        "extensions": {"source": source, "rank": str(rank)},
    }


def _untouched(
    state: LearnerState, cids: list[str], published: Mapping[str, int], t: int, k: int
) -> list[str]:
    done, prog = state["done"], state["prog"]
    out = []
    for c in cids:
        if c not in done and c not in prog and published[c] <= t:
            out.append(c)
            if len(out) == k:
                break
    return out


class Random(Model):
    name = "random"

    def __init__(self, ref: Ref, seed: int) -> None:
        self.cids = sorted(ref.catalog)
        self.published = {c: r.get("published_at_ms", 0) for c, r in ref.catalog.items()}
        self.rng = random.Random(seed)

    def recommend(self, lid: str, state: LearnerState, t: int) -> list[str]:
        return _untouched(
            state, self.rng.sample(self.cids, min(len(self.cids), 4 * K)), self.published, t, K
        )


class Popular(Model):
    """Most engaged-with items (time-decayed) under one popularity key per learner."""

    def __init__(self, name: str, ref: Ref, key: Callable[[LearnerState], str]) -> None:
        self.name = name
        self.pop = Popularity(top_n=80)
        self.key = key
        self.catalog = ref.catalog
        self.published = {c: r.get("published_at_ms", 0) for c, r in ref.catalog.items()}

    def recommend(self, lid: str, state: LearnerState, t: int) -> list[str]:
        return _untouched(
            state, [c for c, _n in self.pop.top(self.key(state), t)], self.published, t, K
        )

    def observe(self, lid: str, state: LearnerState, ev: dict[str, Any], shown: list[str]) -> None:
        cid = ev["object_id"]
        if _first_touch(state, ev, self.catalog):
            self.pop.add(
                [ALL, role_key(state["profile"].get("role", ""))], cid, ev["occurred_at_ms"]
            )


def _first_touch(state: LearnerState, ev: Mapping[str, Any], catalog: Mapping[str, Any]) -> bool:
    cid = ev["object_id"]
    return (
        ev["verb"] in FIRST_TOUCH
        and cid in catalog
        and cid not in state["done"]
        and cid not in state["prog"]
    )


def _topic(catalog: Mapping[str, Mapping[str, Any]], cid: str) -> str:
    topics = (catalog.get(cid) or {}).get("topics") or ()
    return topics[0] if topics else ""


def run(
    learners: int = 1000,
    days: int = 60,
    seed: int = 7,
    explore_slots: int = 2,
    progress: bool = True,
    ablations: bool = True,
    feedback: bool = False,
    mastery: bool = True,
    negatives: int = 8,
) -> dict[str, Any]:
    """Stream the synthetic organisation through all models; return the figures.

    ``feedback`` simulates front-end impressions and clicks (see the module
    docstring); ``mastery`` runs the knowledge-tracing ``SkillModel`` on the
    learners' answers, as the stream worker does, so skill gaps use it.
    ``negatives`` is how many sampled alternatives each new pick is learned
    against, in every row that learns (the worker's ``Recommender`` takes 8).
    """
    t_start = time.perf_counter()
    skill_model = SkillModel() if mastery else None
    org = Organisation.generate(learners, seed=seed, horizon_days=days)
    truth = org.truth
    ref = Ref(org.reference_records(at_ms=org.start_ms))
    pending_paths = org.reference_updates(org.start_ms, org.start_ms + days * DAY_MS)
    common: dict[str, Any] = {"feedback": feedback, "seed": seed, "skill_model": skill_model}
    learning: dict[str, Any] = {**common, "negatives": negatives}
    models: list[Model] = [LearnPulse("learnpulse", ref, explore_slots=explore_slots, **learning)]
    if ablations:
        models += [
            LearnPulse("- without exploration", ref, explore_slots=0, **learning),
            LearnPulse(
                "- without the personal layer",
                ref,
                explore_slots=explore_slots,
                personal=False,
                **learning,
            ),
            LearnPulse(
                "- without the recent-topic lift",
                ref,
                explore_slots=explore_slots,
                recent_topic_rank=None,
                **learning,
            ),
            LearnPulse(
                "- without learning (hand-set prior)",
                ref,
                explore_slots=explore_slots,
                personal=False,
                negatives=0,
                prior=SharedPrior(lr=0.0, segment_lr=0.0),
                **common,
            ),
        ]
    models += [
        Popular("popularity (global)", ref, lambda s: ALL),
        Popular("role popularity", ref, lambda s: role_key(s["profile"].get("role", ""))),
        Random(ref, seed),
    ]
    states: dict[str, LearnerState] = {}
    for prof in ref_profiles(org):
        st = states[prof["learner_id"]] = new_state()
        learner.apply_profile(st, prof)
    hits = {m.name: 0 for m in models}
    ndcg = {m.name: 0.0 for m in models}
    by_why: dict[str, dict[str, list[float]]] = {m.name: {} for m in models}
    targets = 0
    n_events = 0
    # Adaptation: learner -> per model events until reached (None while pending).
    switch = {lid: t for lid, t in truth.switch_at_ms.items()}
    new_group = {
        lid: set(truth.groups_after[lid]) - set(truth.groups_before[lid]) for lid in switch
    }
    after_n: dict[str, int] = {}
    # (model, criterion) -> learner -> events until the criterion held (absent: not yet)
    reached: dict[tuple[str, int], dict[str, int]] = {
        (m.name, need): {} for m in models for need in ADAPT_NEEDS
    }
    catalog = ref.catalog
    end_of_run = org.start_ms
    bar = Progress(
        TextColumn("[bold]recommendations[/]"),
        BarColumn(),
        TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
        TextColumn("{task.fields[events]} events"),
        TimeElapsedColumn(),
        disable=not progress,
        transient=True,
    )
    with bar:
        task = bar.add_task("replay", total=days, events=0)
        for ev, (why, _p) in org.events_with_truth(days=days):
            t = end_of_run = ev["occurred_at_ms"]
            while pending_paths and pending_paths[0][1]["updated_at_ms"] <= t:
                ref.add_path(pending_paths.pop(0)[1])
            lid = ev["learner_id"]
            st = states[lid]
            n_events += 1
            shown: dict[str, list[str]] = {}
            if _first_touch(st, ev, catalog):
                targets += 1
                cid = ev["object_id"]
                for m in models:
                    top = m.recommend(lid, st, t)
                    shown[m.name] = top
                    gain = 0.0
                    if cid in top:
                        hits[m.name] += 1
                        gain = 1.0 / math.log2(top.index(cid) + 2)
                        ndcg[m.name] += gain
                    by_why[m.name].setdefault(why, []).append(gain)
            sw = switch.get(lid)
            adapting = sw is not None and t >= sw and new_group[lid]
            if adapting and lid not in after_n:  # first event after the switch: state as of it
                after_n[lid] = 0
                _check_adapted(models, reached, lid, st, t, 0, new_group[lid], catalog)
            if skill_model is not None and ev["verb"] == "answered":
                res = ev.get("result") or {}
                if res.get("success") is not None:
                    skills = list((ev.get("context") or {}).get("skill_ids") or ())
                    skill_model.learn(st["mastery"], skills, bool(res["success"]), t)
            for m in models:
                m.observe(lid, st, ev, shown.get(m.name, []))
            learner.apply_activity(st, ev)
            if adapting and after_n[lid] < ADAPT_MAX:
                after_n[lid] += 1
                _check_adapted(models, reached, lid, st, t, after_n[lid], new_group[lid], catalog)
            if n_events % 2000 == 0:
                bar.update(task, completed=min(days, (t - org.start_ms) / DAY_MS), events=n_events)
        bar.update(task, completed=days, events=n_events)
    rows = []
    for m in models:
        row: dict[str, Any] = {
            "model": m.name,
            "hit_rate_at_10": hits[m.name] / max(1, targets),
            "ndcg_at_10": ndcg[m.name] / max(1, targets),
            "ndcg_by_reason": {w: sum(v) / len(v) for w, v in sorted(by_why[m.name].items())},
        }
        for need in ADAPT_NEEDS:
            row[f"adapt_{need}"] = _adapt_summary(reached[(m.name, need)], list(after_n))
        rows.append(row)
    pop = next(r for r in rows if r["model"] == "popularity (global)")
    ours = rows[0]
    main: LearnPulse = models[0]  # type: ignore[assignment]
    sizes = [len(json.dumps(sec, separators=(",", ":"))) for sec in main.sections.values()]
    return {
        "learners": learners,
        "days": days,
        "seed": seed,
        "negatives": negatives,
        "k": K,
        "events": n_events,
        "targets": targets,
        "switchers": len(after_n),
        "rows": rows,
        "ndcg_ratio_vs_popularity": ours["ndcg_at_10"] / max(1e-9, pop["ndcg_at_10"]),
        "ranker_section_bytes": {
            "mean": statistics.fmean(sizes) if sizes else 0.0,
            "max": max(sizes, default=0),
        },
        "us_per_call": {
            "observe": 1e6 * main.timing["observe"][0] / max(1, main.timing["observe"][1]),
            "recommend": 1e6 * main.timing["recommend"][0] / max(1, main.timing["recommend"][1]),
            "recommend_best_of_5": _time_recommend(main, states, end_of_run),
        },
        "catalog_items": len(catalog),
        "seconds": time.perf_counter() - t_start,
    }


def _time_recommend(
    model: LearnPulse, states: Mapping[str, LearnerState], now_ms: int, learners: int = 300
) -> float:
    """CPU µs per recommend over the first learners' final states, best of 5 passes.

    All timings are this process's CPU time (``time.process_time``), so other
    processes on the machine inflate them less than wall time would; the best
    pass is closer still to the cost on an idle core.
    """
    lids = sorted(states)[:learners]
    best = math.inf
    for _ in range(5):
        t0 = time.process_time()
        for lid in lids:
            model.recommend(lid, states[lid], now_ms)
        best = min(best, (time.process_time() - t0) / max(1, len(lids)))
    return best * 1e6


def ref_profiles(org: Organisation) -> list[dict[str, Any]]:
    return list(org.profiles())


def _check_adapted(
    models: list[Model],
    reached: dict[tuple[str, int], dict[str, int]],
    lid: str,
    state: LearnerState,
    t: int,
    n: int,
    groups: set[str],
    catalog: Mapping[str, Mapping[str, Any]],
) -> None:
    for m in models:
        pending = [need for need in ADAPT_NEEDS if lid not in reached[(m.name, need)]]
        if not pending:
            continue
        top = m.recommend(lid, state, t)[:TOP_ADAPT]
        hits = sum(1 for c in top if _topic(catalog, c) in groups)
        for need in pending:
            if hits >= need:
                reached[(m.name, need)][lid] = n


def _adapt_summary(reached: Mapping[str, int], switchers: list[str]) -> dict[str, Any]:
    """Median events to adapt (never-reached count as infinitely late), shares."""
    got = sorted(reached[lid] for lid in switchers if lid in reached)
    never = len(switchers) - len(got)
    med: float | None = None
    if got and len(got) > never:
        med = float(statistics.median(got + [10**9] * never))
    n = max(1, len(switchers))
    return {
        "median_events": med,
        "reached_share": len(got) / n,
        "at_switch_share": sum(1 for r in got if r == 0) / n,
    }


def render(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 132)
    console.print(
        f"[bold]Recommendations on the synthetic organisation[/]: {result['learners']} learners, "
        f"{result['days']} days, seed {result['seed']}, "
        f"{result.get('negatives', 8)} sampled alternatives per pick; {result['events']:,} events, "
        f"{result['targets']:,} first touches scored (test, then train), "
        f"{result['switchers']} interest switchers"
    )
    table = Table(show_lines=False)
    for col in (
        "model",
        "hit rate@10",
        "NDCG@10",
        "adapt: events to 1 of top 5",
        "already at switch",
        "events to 3 of top 5",
        "never 3 of 5",
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in result["rows"]:
        a1, a3 = r["adapt_1"], r["adapt_3"]
        table.add_row(
            r["model"],
            f"{r['hit_rate_at_10']:.3f}",
            f"{r['ndcg_at_10']:.3f}",
            _med(a1["median_events"]),
            f"{a1['at_switch_share']:.0%}",
            _med(a3["median_events"]),
            f"{1 - a3['reached_share']:.0%}",
        )
    console.print(table)
    reasons = sorted({w for r in result["rows"] for w in r["ndcg_by_reason"]})
    t2 = Table(title="NDCG@10 by why the learner picked the item (simulation truth)")
    t2.add_column("model")
    for w in reasons:
        t2.add_column(w, justify="right")
    for r in result["rows"]:
        t2.add_row(r["model"], *(f"{r['ndcg_by_reason'].get(w, 0.0):.3f}" for w in reasons))
    console.print(t2)
    ratio = result["ndcg_ratio_vs_popularity"]
    med = result["rows"][0]["adapt_1"]["median_events"]
    console.print(
        f"NDCG@10 vs popularity: [bold]{ratio:.2f}x[/] (goal >= 2x); adaptation median "
        f"[bold]{_med(med)}[/] events (goal <= 3). "
        f"Ranker state per learner: mean {result['ranker_section_bytes']['mean']:.0f} B, "
        f"max {result['ranker_section_bytes']['max']} B (JSON). "
        f"CPU µs per call ({result['catalog_items']} catalog items): observe "
        f"{result['us_per_call']['observe']:.0f}, recommend "
        f"{result['us_per_call']['recommend']:.0f} (best pass "
        f"{result['us_per_call']['recommend_best_of_5']:.0f}). "
        f"{result['seconds']:.0f} s."
    )


def _med(value: float | None) -> str:
    return "never" if value is None else f"{value:g}"


def _plot(result: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh([r["model"] for r in rows], [r["ndcg_at_10"] for r in rows])
    ax.set_xlabel("NDCG@10 (test, then train)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path)
    return True


def command(
    learners: Annotated[int, typer.Option(help="people in the synthetic organisation")] = 1000,
    days: Annotated[int, typer.Option(help="simulated days of events")] = 60,
    seed: Annotated[int, typer.Option(help="organisation and model seed")] = 7,
    explore_slots: Annotated[int, typer.Option(help="exploratory slots of the 10")] = 2,
    ablations: Annotated[bool, typer.Option(help="also run the ablated models")] = True,
    feedback: Annotated[
        bool, typer.Option(help="simulate front-end impressions/clicks of the shown lists")
    ] = False,
    mastery: Annotated[bool, typer.Option(help="run knowledge tracing on answers")] = True,
    negatives: Annotated[
        int, typer.Option(help="sampled alternatives each new pick is learned against")
    ] = 8,
    out: Annotated[Path | None, typer.Option(help="write the figures as JSON here")] = None,
    plot: Annotated[Path | None, typer.Option(help="PNG bar chart (needs matplotlib)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Replay the synthetic organisation through the recommender; print hit rate, NDCG, speed."""
    result = run(
        learners,
        days,
        seed,
        explore_slots,
        progress=progress,
        ablations=ablations,
        feedback=feedback,
        mastery=mastery,
        negatives=negatives,
    )
    render(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    if plot is not None and not _plot(result, plot):
        Console().print("[yellow]matplotlib is not installed: no plot[/]")


if __name__ == "__main__":
    typer.run(command)
