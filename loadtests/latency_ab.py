"""Latency A/B: two worker configurations in alternating runs, medians side by side.

    .venv/bin/python -m loadtests.latency_ab --pairs 3 \\
        --a "faust=--worker faust" --b "plain=--worker plain" \\
        [--common "--max-rate 5000 --fractions 0.5 --seconds 20 --no-floor --pin"]

Latency on the shared development machine moves by a factor of two between
identical runs (RESULTS.md, ninth round), so one run per variant says little.
This runs ``loadtests.latency`` once per variant per pair, A then B then A...,
each a fresh stack, with ``--common`` and the variant's own arguments, reads
the figures each run writes (``--json``), and prints every run and the
medians: p50/p99 from the record's stamp and from the broker's
acknowledgement, the worker's main thread and process CPU, the broker's CPU.
Runs take about 40 s each with the default ``--common``. Never asserts.
"""

from __future__ import annotations

import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from loadtests.harness import machine_line

console = Console(width=160)
COMMON = "--max-rate 5000 --fractions 0.5 --seconds 20 --no-floor --pin"
COLUMNS = (
    ("p50", "p50 ms"),
    ("p99", "p99 ms"),
    ("ack_p50", "ack p50"),
    ("ack_p99", "ack p99"),
    ("main_thread", "main thread"),
    ("worker_cpu", "worker CPU"),
    ("broker_cpu", "broker CPU"),
)


def variant(spec: str) -> tuple[str, list[str]]:
    name, sep, args = spec.partition("=")
    if not sep or not name:
        raise typer.BadParameter(f"{spec!r}: expected NAME=ARGS")
    return name, shlex.split(args)


def one_run(args: list[str], out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "loadtests.latency", *args, "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {done.returncode}:\n{done.stdout[-3000:]}")
    levels = orjson.loads(out.read_bytes())["levels"]
    if len(levels) != 1:
        raise typer.BadParameter("give one load level (--fractions X) per run")
    return levels[0]  # type: ignore[no-any-return]


def cell(key: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0%}" if key in ("main_thread", "worker_cpu", "broker_cpu") else f"{v:.1f}"


def main(
    a: Annotated[str, typer.Option(help="NAME=ARGS of variant A (latency's own options)")],
    b: Annotated[str, typer.Option(help="NAME=ARGS of variant B")],
    pairs: Annotated[int, typer.Option(help="alternating runs of each")] = 3,
    common: Annotated[str, typer.Option(help="options given to every run")] = COMMON,
) -> None:
    """Measure and print; see the module docstring."""
    console.print(machine_line())
    variants = [variant(a), variant(b)]
    if variants[0][0] == variants[1][0]:
        raise typer.BadParameter("give the two variants different names")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs):
            for name, args in variants:
                level = one_run([*shlex.split(common), *args], Path(tmp) / f"{name}-{i}.json")
                runs[name].append(level)
                console.print(
                    f"  pair {i + 1} {name}: p50 {level['p50']:.1f} ms, p99 {level['p99']:.1f} "
                    f"at {level['target_rate']:,.0f}/s"
                )
    t = Table(title=f"Latency A/B, {pairs} alternating runs each; {common}")
    t.add_column("variant")
    t.add_column("run")
    for _key, label in COLUMNS:
        t.add_column(label, justify="right")
    for name, levels in runs.items():
        for i, level in enumerate(levels):
            t.add_row(name, str(i + 1), *(cell(k, level.get(k)) for k, _ in COLUMNS))
        medians = []
        for k, _ in COLUMNS:
            vals = [lv[k] for lv in levels if lv.get(k) is not None]
            medians.append(cell(k, statistics.median(vals) if vals else None))
        t.add_row(f"[bold]{name}[/]", "[bold]median[/]", *medians)
    console.print(t)


if __name__ == "__main__":
    typer.run(main)
