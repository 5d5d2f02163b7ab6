"""One batch's Redis writes: the worker's Lua calls against the old pipeline of commands.

    .venv/bin/python -m loadtests.redis_write_bench [--learners 250] [--repeats 30]

Starts its own redis-server (no persistence) and writes the same batch (two
values and one live message per learner, as ``LearnBatch`` renders them: a
1.2 KB list of 8 items and a 0.2 KB state, smaller than a real state value;
Redis holds ~2.7 KB per learner in the memory bench) with ``streams.sink.RedisSink`` as the
worker does (decision 0019) and with the ``pipelined-redis`` patch's pipeline,
alternating, and prints the medians of wall time and of this process's CPU
time per batch. Never asserts.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

console = Console(width=120)


def batch_effects(learners: int) -> object:
    from learnpulse import keys
    from streams.batch import Effects

    fx = Effects()
    item = {"content_id": "c-00001", "title": "A course title of usual length", "score": 0.61}
    item["reasons"] = ["Because people in your role finished it", "Due in 3 days"]
    for i in range(learners):
        lid = f"lrn-{i:06d}"
        reco = orjson.dumps({"v": 1, "learner_id": lid, "items": [item] * 8})
        state = orjson.dumps({"v": 1, "learner_id": lid, "skills": [["skill", 0.5]] * 10})
        fx.redis_values[keys.reco(lid)] = reco
        fx.redis_values[keys.state(lid)] = state
        fx.publish.append((keys.live_channel(lid), b'{"type":"reco","value":' + reco + b"}"))
        fx.appended_ms.append(int(time.time() * 1000))
    return fx


async def measure(url: str, learners: int, repeats: int) -> dict[str, tuple[float, float]]:
    import redis.asyncio as aioredis

    from loadtests.patches import PATCHES
    from streams.sink import RedisSink

    fx = batch_effects(learners)
    client = aioredis.Redis.from_url(url)
    script_write = RedisSink.write
    PATCHES["pipelined-redis"]()
    pipeline_write = RedisSink.write
    sink = RedisSink(client, 3600, 50)
    runs: dict[str, list[tuple[float, float]]] = {"lua (worker)": [], "pipeline (before)": []}
    ways = {"lua (worker)": script_write, "pipeline (before)": pipeline_write}
    for _ in range(repeats):
        for name, write in ways.items():
            w0, c0 = time.perf_counter(), time.process_time()
            await write(sink, fx)  # type: ignore[arg-type]
            runs[name].append((time.perf_counter() - w0, time.process_time() - c0))
    await client.aclose()
    RedisSink.write = script_write  # type: ignore[method-assign]
    return {
        n: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
        for n, v in runs.items()
    }


def main(
    learners: Annotated[int, typer.Option(help="learners in the batch")] = 250,
    repeats: Annotated[int, typer.Option(help="writes per way (alternating)")] = 30,
) -> None:
    """Measure and print; see the module docstring."""
    from learnpulse.stack.procs import free_port
    from learnpulse.stack.services import RedisUsers, redis_url, start_redis
    from loadtests.harness import machine_line

    console.print(machine_line())
    users = RedisUsers.generate()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_redis(port, Path(tmp), users)
        try:
            url = redis_url(port, "lp-worker", users.worker_password)
            res = asyncio.run(measure(url, learners, repeats))
        finally:
            proc.stop()
    t = Table(title=f"One batch's Redis writes, {learners} learners, medians of {repeats}")
    for col in ("way", "wall ms", "worker CPU ms", "CPU µs per learner"):
        t.add_column(col, justify="left" if col == "way" else "right")
    for name, (wall, cpu) in res.items():
        t.add_row(name, f"{wall * 1000:.2f}", f"{cpu * 1000:.2f}", f"{cpu * 1e6 / learners:.1f}")
    console.print(t)
    base = res["pipeline (before)"][1]
    console.print(f"lua/pipeline worker CPU: {res['lua (worker)'][1] / base:.2f}")


if __name__ == "__main__":
    typer.run(main)
