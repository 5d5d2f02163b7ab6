"""CPU per event of the learner processing alone (``LearnBatch.handle``), A/B against patches.

    .venv/bin/python -m loadtests.handle_bench [--events 40000] [--learners 4000] [--repeats 5] \\
        [--variant NAME=patch+patch ...] [--tree NAME=PATH ...]

No Kafka, no Redis: each run is a fresh process that builds the organisation,
loads its reference data, pre-encodes its profiles and ``--events`` activity
events (Avro wire format) and times (process CPU time) ``handle`` +
``save_states`` over batches of ``--batch`` records (default: the worker's
``LEARNPULSE_STREAMS_BATCH_SIZE`` default), as the worker calls them. Runs of the
variants alternate (base, A, B, base, A, B, ...) so a noisy neighbour hits all
of them alike; medians are printed with the gain over ``base``. This is how the
processing patches of ``loadtests.patches`` (fast-decode, paths-index) are
measured; transport patches need ``loadtests.throughput``. ``--tree NAME=PATH``
runs the same child from another source tree (a ``git worktree`` of another
commit, its compiled modules built there with ``python -m learnpulse.native
build``), so two commits' code is compared run by run on the same machine.
Never asserts.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(width=150)


def child(events: int, learners: int, size: int) -> dict[str, float]:
    from loadtests.patches import apply_from_env

    apply_from_env()  # first: the pure-python patch must run before streams is imported
    from loadtests.memory import encoded_workload

    batch, profiles, acts, _last_ms = encoded_workload(learners, events, "hb.")
    for i in range(0, len(profiles), size):
        batch.save_states(batch.handle(profiles[i : i + size]))
    from streams.gctune import tune
    from streams.settings import StreamsSettings

    default = StreamsSettings.model_fields["gc_threshold"].default
    tune(int(os.environ.get("LEARNPULSE_STREAMS_GC_THRESHOLD", default)))  # as the worker does
    t0, w0 = time.process_time(), time.perf_counter()
    for i in range(0, len(acts), size):
        batch.save_states(batch.handle(acts[i : i + size]))
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    return {"cpu_us": cpu / events * 1e6, "wall_us": wall / events * 1e6}


def main(
    events: Annotated[int, typer.Option(help="activity events per run")] = 40_000,
    learners: Annotated[int, typer.Option(help="learners in the organisation")] = 4_000,
    repeats: Annotated[int, typer.Option(help="runs per variant (alternating)")] = 5,
    batch: Annotated[
        int, typer.Option(help="records per handle() call; 0: the worker's default")
    ] = 0,
    variant: Annotated[
        list[str] | None,
        typer.Option(help="NAME=patch+patch (repeatable); 'base' (no patch) always runs"),
    ] = None,
    tree: Annotated[
        list[str] | None,
        typer.Option(help="NAME=PATH (repeatable): the base processing from another source tree"),
    ] = None,
    child_run: Annotated[bool, typer.Option("--child", hidden=True)] = False,
) -> None:
    """Measure and print; see the module docstring."""
    if child_run:
        print(json.dumps(child(events, learners, batch)))
        return
    from loadtests.harness import machine_line
    from loadtests.patches import PATCHES

    if batch <= 0:
        from streams.settings import StreamsSettings

        batch = int(StreamsSettings.model_fields["batch_size"].default)
    console.print(machine_line())

    specs = {"base": ""}
    trees: dict[str, str] = {}
    for spec in tree or []:
        name, _, path = spec.partition("=")
        if not (Path(path) / "streams" / "batch.py").is_file():
            raise typer.BadParameter(f"{path!r} is not a LearnPulse source tree")
        specs[name], trees[name] = "", str(Path(path).resolve())
    for spec in variant or (
        []
        if tree
        else [
            "fast-decode=fast-decode",
            "paths-index=paths-index",
            "both=fast-decode+paths-index",
        ]
    ):
        name, _, patches = spec.partition("=")
        for p in filter(None, patches.split("+")):
            if p not in PATCHES:
                raise typer.BadParameter(f"unknown patch {p!r}")
        specs[name] = patches.replace("+", ",")
    results: dict[str, list[float]] = {n: [] for n in specs}
    for rep in range(repeats):
        for name, patches in specs.items():
            env = dict(os.environ, LP_BENCH_PATCHES=patches)
            cwd = trees.get(name)
            if cwd is not None:
                env["PYTHONPATH"] = cwd  # its streams/ and learnpulse/, not this tree's
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "loadtests.handle_bench",
                    "--child",
                    "--events",
                    str(events),
                    "--learners",
                    str(learners),
                    "--batch",
                    str(batch),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=cwd,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[name].append(r["cpu_us"])
            console.print(f"  run {rep + 1} {name:>14}: {r['cpu_us']:6.1f} CPU µs/event")
    base = statistics.median(results["base"])
    t = Table(
        title=f"LearnBatch.handle + save_states, {events:,} events, {learners:,} learners, "
        f"batches of {batch:,}, medians of {repeats}"
    )
    for col in ("variant", "patches", "CPU µs/event", "events/s per core", "CPU saved", "runs"):
        t.add_column(col, justify="left" if col in ("variant", "patches", "runs") else "right")
    for name, vals in results.items():
        med = statistics.median(vals)
        t.add_row(
            name,
            trees.get(name) or specs[name] or "-",
            f"{med:.1f}",
            f"{1e6 / med:,.0f}",
            f"{(base - med) / base:+.0%}",
            " ".join(f"{v:.0f}" for v in vals),
        )
    console.print(t)


if __name__ == "__main__":
    typer.run(main)
