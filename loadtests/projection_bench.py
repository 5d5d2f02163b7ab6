"""What one learner's projection costs, part by part (the per-list work of a live batch).

    .venv/bin/python -m loadtests.projection_bench [--learners 10000] [--events 30000] \\
        [--batch 70] [--sample 2000] [--repeats 3]

A live batch writes about one list per event (RESULTS.md, "Live batch
anatomy"); each list is a projection: ``LearnBatch._project`` assigns the
interest cluster (``InterestTracker.finish``), ranks (``Recommender.recommend``)
or patches the cached list, renders the Redis values and encodes the audit
record. This bench builds the synthetic organisation, runs ``--events``
activity events through ``LearnBatch.handle`` in batches of ``--batch`` (the
live size at 50% load) so the states are realistic, then calls each part of a
projection directly for ``--sample`` learners who were active last, and prints
the best of ``--repeats`` passes in µs per learner. The parts are the compiled
functions the worker calls (``learnpulse.native``; ``LEARNPULSE_NATIVE=0`` for
pure Python), called from this interpreted loop, so the sum is a little above
what ``handle`` spends. No Kafka, no Redis; never asserts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console(width=120)


def build(learners: int, events: int, batch_size: int) -> tuple[Any, list[str], int, float]:
    """A ``LearnBatch`` after ``events`` events; the last active learners; the last event time."""
    from loadtests.memory import encoded_workload

    batch, profiles, acts, last_ms = encoded_workload(learners, events, "pb.")
    for i in range(0, len(profiles), 500):
        batch.save_states(batch.handle(profiles[i : i + 500]))
    t0 = time.process_time()
    for i in range(0, len(acts), batch_size):
        batch.save_states(batch.handle(acts[i : i + batch_size]))
    handle_us = (time.process_time() - t0) / len(acts) * 1e6
    recent = list(dict.fromkeys(m.key.decode() for m in reversed(acts) if m.key))
    return batch, recent, last_ms, handle_us


def parts(b: Any, now: int) -> dict[str, Callable[[str, dict[str, Any]], Any]]:
    """Each part of a projection as ``fn(learner_id, state)``, in the order it runs."""
    from streams import clustering
    from streams.batch import public_state
    from streams.models import candidates, ranker

    rec = b.recommender

    def paths(lid: str, st: dict[str, Any]) -> Any:
        return b._paths({}, lid, (st.get("profile") or {}).get("team_id", ""))

    def inputs(st: dict[str, Any]) -> Any:
        return clustering.recommender_inputs(st["interest"], b.centroids, b.k_min, st["done"])

    def context(lid: str, st: dict[str, Any]) -> Any:
        cluster, peers = inputs(st)
        return rec.context(st, lid, now, st.get("profile") or {}, None, None, cluster, peers)

    def scored(lid: str, st: dict[str, Any]) -> Any:
        ctx = context(lid, st)
        cands = list(candidates.generate(ctx).values())
        w = ranker.combined_weights(rec.prior, ctx.segment, st.get("ranker") or {})
        return ranker.scores([(c.cid, c.info) for c in cands], ctx, w)

    def recommend(lid: str, st: dict[str, Any]) -> Any:
        cluster, peers = inputs(st)
        profile = st.get("profile") or {}
        return rec.recommend(
            st, profile, None, None, now, learner_id=lid, cluster=cluster, peers=peers
        )

    lists: dict[str, Any] = {}

    def audit(lid: str, st: dict[str, Any]) -> bytes:
        items = lists.get(lid) or lists.setdefault(lid, recommend(lid, st))
        keep = ("content_id", "title", "score", "source", "reasons")
        record = {"learner_id": lid, "generated_at_ms": now, "model_version": "ranker-1"}
        record["trigger_event_id"] = "e"
        record["items"] = [{k: it[k] for k in keep} for it in items]
        return b._encode_audit(record)  # type: ignore[no-any-return]

    return {
        "load the state (unpack)": lambda lid, st: b.load(lid),
        "interest, cluster and peers (finish)": lambda lid, st: b.interest.finish(
            lid, st, b.ref.catalog, paths(lid, st)
        ),
        "recommender context": context,
        "  + candidates": lambda lid, st: candidates.generate(context(lid, st)),
        "  + weights and scores": scored,
        "recommend (all of it)": recommend,
        "public state value": lambda lid, st: public_state(lid, st, now),
        "audit record (Avro)": audit,
    }


def main(
    learners: Annotated[int, typer.Option(help="learners in the organisation")] = 10_000,
    events: Annotated[int, typer.Option(help="activity events before measuring")] = 30_000,
    batch: Annotated[int, typer.Option(help="records per handle() call while warming")] = 70,
    sample: Annotated[int, typer.Option(help="learners measured (the last active)")] = 2_000,
    repeats: Annotated[int, typer.Option(help="passes per part; the best is printed")] = 3,
) -> None:
    """Measure and print; see the module docstring."""
    from loadtests.harness import machine_line

    console.print(machine_line())
    b, recent, now, handle_us = build(learners, events, batch)
    states = [(lid, b.load(lid)) for lid in recent[:sample]]
    t = Table(
        title=f"One projection, part by part: {len(states):,} learners after {events:,} events "
        f"in batches of {batch} (handle: {handle_us:.0f} CPU µs per event), best of {repeats}"
    )
    t.add_column("part")
    t.add_column("µs per learner", justify="right")
    for name, fn in parts(b, now).items():
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for lid, st in states:
                fn(lid, st)
            best = min(best, (time.perf_counter() - t0) / len(states) * 1e6)
        t.add_row(name, f"{best:.1f}")
    console.print(t)
    console.print(
        "Indented rows include the row above them; 'recommend' also sorts, applies the "
        "exploration slots and renders the reasons."
    )


if __name__ == "__main__":
    typer.run(main)
