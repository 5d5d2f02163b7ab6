"""CPU per event of the learner processing alone (``LearnBatch.handle``), A/B against patches.

    .venv/bin/python -m loadtests.handle_bench [--events 40000] [--learners 4000] [--repeats 5] \\
        [--warm N] [--variant NAME=patch+patch ...] [--tree NAME=PATH ...] [--callgrind]

No Kafka, no Redis: each run is a fresh process that builds the organisation,
loads its reference data, pre-encodes its profiles and ``--events`` activity
events (Avro wire format) and times (process CPU time) ``handle`` +
``save_states`` over batches of ``--batch`` records (default: the worker's
``LEARNPULSE_STREAMS_BATCH_SIZE`` default), as the worker calls them. Runs of the
variants alternate so a noisy neighbour hits all of them alike, and the order
rotates each repeat (base, A, B; then A, B, base; then B, base, A; ...): on this
machine the second run of a pair was measured faster, by about 5% (RESULTS.md,
thirteenth round), so a fixed order favours whichever variant runs later. Use an
even number of repeats with two variants. Medians are printed with the gain over
``base``. This is how the
processing patches of ``loadtests.patches`` (fast-decode, paths-index) are
measured; transport patches need ``loadtests.throughput``. ``--tree NAME=PATH``
runs the same child from another source tree (a ``git worktree`` of another
commit, its compiled modules built there with ``python -m learnpulse.native
build``), so two commits' code is compared run by run on the same machine.
``--callgrind`` counts the instructions executed in ``handle`` and
``save_states`` under valgrind instead of timing them: repeatable to ~0.5%
where CPU time on this shared machine moves +-10% from run to run, so one
repeat of each variant decides a change of a few percent (it does not see
cache misses; ~2 min per run with 3,000 learners and 3,000 events). ``--warm N``
processes N activity events first, unmeasured (and uncounted: the child marks
the switch with ``os.getppid()``, where valgrind dumps), so the measured events
meet learners with a history. The child runs on a deterministic clock
(``loadtests.outputs_digest.fix_clock``), so every tree processes the same
events. Never asserts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(width=150)


def child(events: int, learners: int, size: int, warm: int = 0) -> dict[str, float]:
    # A deterministic wall clock: otherwise what is "new" or "due", and so the work,
    # moves with the hour the run starts, and two trees would not process the
    # same events.
    from loadtests.outputs_digest import fix_clock

    fix_clock()
    from loadtests.patches import apply_from_env

    apply_from_env()  # first: the pure-python patch must run before streams is imported
    from loadtests.memory import encoded_workload

    batch, profiles, acts, _last_ms = encoded_workload(learners, warm + events, "hb.")
    for i in range(0, len(profiles), size):
        batch.save_states(batch.handle(profiles[i : i + size]))
    # Learners with a history: the first ``warm`` events run unmeasured.
    warm_acts, acts = acts[:warm], acts[warm:]
    for i in range(0, len(warm_acts), size):
        batch.save_states(batch.handle(warm_acts[i : i + size]))
    os.getppid()  # marker: under --callgrind the counts are dumped here and start again
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
    callgrind: Annotated[
        bool,
        typer.Option(
            help="count instructions (valgrind) instead of timing: deterministic to ~0.5%, "
            "~40x slower; one repeat is enough"
        ),
    ] = False,
    warm: Annotated[
        int,
        typer.Option(
            help="activity events processed unmeasured first, so the measured ones meet "
            "learners with a history (as a running worker does)"
        ),
    ] = 0,
    child_run: Annotated[bool, typer.Option("--child", hidden=True)] = False,
) -> None:
    """Measure and print; see the module docstring."""
    if child_run:
        print(json.dumps(child(events, learners, batch, warm)))
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
    if callgrind and shutil.which("valgrind") is None:
        raise typer.BadParameter("--callgrind needs valgrind (Debian: apt-get install valgrind)")
    unit = "M instructions/event" if callgrind else "CPU µs/event"
    results: dict[str, list[float]] = {n: [] for n in specs}
    for rep in range(repeats):
        if callgrind:
            # Counts do not depend on what else runs: all variants at once, one per core.
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                futures = {
                    name: pool.submit(
                        run_child, events, learners, batch, p, trees.get(name), True, warm
                    )
                    for name, p in specs.items()
                }
                values = {name: f.result() for name, f in futures.items()}
        else:
            values = {
                name: run_child(events, learners, batch, specs[name], trees.get(name), False, warm)
                for name in run_order(list(specs), rep)
            }
        for name, value in values.items():
            results[name].append(value)
            console.print(f"  run {rep + 1} {name:>14}: {value:6.3f} {unit}")
    base = statistics.median(results["base"])
    how = (
        "callgrind, instructions in handle + save_states" if callgrind else f"medians of {repeats}"
    )
    t = Table(
        title=f"LearnBatch.handle + save_states, {events:,} events after {warm:,} unmeasured, "
        f"{learners:,} learners, batches of {batch:,}, {how}"
    )
    cols = ("variant", "patches", unit, "events/s per core", "saved", "runs")
    for col in cols if not callgrind else cols[:3] + cols[4:]:
        t.add_column(col, justify="left" if col in ("variant", "patches", "runs") else "right")
    for name, vals in results.items():
        med = statistics.median(vals)
        row = [
            name,
            tree_label(trees.get(name)) or specs[name] or "-",
            f"{med:.3f}" if callgrind else f"{med:.1f}",
        ]
        if not callgrind:
            row.append(f"{1e6 / med:,.0f}")
        row += [f"{(base - med) / base:+.1%}", " ".join(f"{v:.4g}" for v in vals)]
        t.add_row(*row)
    console.print(t)


def tree_label(tree: str | None) -> str:
    """The tree, and its interpreter when that is not this one."""
    if tree is None:
        return ""
    python = interpreter(tree)
    return tree if python == sys.executable else f"{tree} ({python_version(python)})"


def python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"Python {out.stdout.strip()}"


def run_order(names: list[str], rep: int) -> list[str]:
    """The variants in the order of repeat ``rep``: rotated, so each is first as often.

    >>> [run_order(["base", "a", "b"], r) for r in range(3)]
    [['base', 'a', 'b'], ['a', 'b', 'base'], ['b', 'base', 'a']]
    """
    k = rep % len(names)
    return names[k:] + names[:k]


def interpreter(tree: str | None) -> str:
    """The tree's own ``.venv`` interpreter if it has one, else this one.

    A tree with its own venv may run another Python build (the fourteenth round
    compared interpreters this way), and its compiled modules were built for it.
    """
    own = Path(tree) / ".venv" / "bin" / "python" if tree else None
    return str(own) if own is not None and own.exists() else sys.executable


def run_child(
    events: int,
    learners: int,
    batch: int,
    patches: str,
    cwd: str | None,
    callgrind: bool,
    warm: int = 0,
) -> float:
    """One fresh process: CPU µs per event, or (``callgrind``) millions of instructions
    per event executed inside ``handle`` and ``save_states``."""
    env = dict(os.environ, LP_BENCH_PATCHES=patches)
    if cwd is not None:
        env["PYTHONPATH"] = cwd  # its streams/ and learnpulse/, not this tree's
    cmd = [interpreter(cwd), "-m", "loadtests.handle_bench", "--child"]
    cmd += ["--events", str(events), "--learners", str(learners), "--batch", str(batch)]
    cmd += ["--warm", str(warm)]
    if not callgrind:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=cwd)
        return float(json.loads(out.stdout.strip().splitlines()[-1])["cpu_us"])
    # Instructions are counted only inside the two compiled entry points (the
    # set-up runs uncounted), with string hashing fixed so dict and set orders
    # repeat: the same code then counts the same within ~0.5% (time: +-10%).
    env["PYTHONHASHSEED"] = "0"
    with tempfile.TemporaryDirectory() as tmp:
        vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out"]
        # The child calls os.getppid() once, between the warm-up and the measured
        # events: the counts so far go to cg.out.1, the measured ones to cg.out.
        # The trigger is libc's getppid, not CPython's os_getppid: a stripped
        # interpreter (Debian's) has no symbol for the latter (decision 0028).
        vg += ["--collect-atstart=no", "--dump-before=getppid"]
        vg += [
            f"--toggle-collect=CPyPy_batch___LearnBatch___{f}" for f in ("handle", "save_states")
        ]
        out = subprocess.run(vg + cmd, env=env, capture_output=True, text=True, cwd=cwd)
        if out.returncode != 0:
            raise RuntimeError(f"valgrind run failed: {out.stderr[-2000:]}")
        m = re.search(r"^totals: (\d+)", Path(f"{tmp}/cg.out").read_text(), re.M)
    if m is None or int(m.group(1)) == 0:
        # Nothing counted: the compiled modules are not built in that tree (pure
        # Python has no such C functions to count in).
        raise RuntimeError("callgrind counted nothing: build the compiled modules there")
    return int(m.group(1)) / events / 1e6


if __name__ == "__main__":
    typer.run(main)
