"""Read latency of a learner's recommendations: straight from Redis vs through the delivery API.

    .venv/bin/python -m loadtests.read_bench [--readers 50] [--rate 2000] [--seconds 5]

Starts its own Redis (with the stack's ACL users) and a delivery API process
on free loopback ports, writes ``--learners`` pre-rendered recommendation
lists, then runs ``--readers`` concurrent readers that each fetch a random
learner's list, in two phases per path:

* **paced**: the readers together aim at ``--rate`` requests/s (a front-end
  fleet under normal load). Latency is measured from when a request was *due*,
  so a reader that falls behind counts its waiting (no coordinated omission).
* **saturated**: every reader sends its next request as soon as the last one
  is answered: the most this one client process can get out of each path.

Direct reads use redis-py's asyncio client with hiredis and the read-only
front-end user; API reads use a minimal keep-alive HTTP/1.1 client (so client
overhead stays small) with a learner token each. The load generator shares the
machine with the servers, so these are upper bounds. Goals: direct p99 < 1 ms,
API p99 < 10 ms. It prints figures; it never asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis
import redis.asyncio as aioredis

from learnpulse import keys
from learnpulse.stack.procs import Proc, free_port
from learnpulse.stack.services import RedisUsers, redis_url, start_redis
from services.delivery.tokens import mint

GOALS_MS = {"direct": 1.0, "api": 10.0}


def reco_value(learner: str, k: int = 10) -> bytes:
    """A realistic top-10 list (~2 KB), shaped like the stream worker's."""
    items = [
        {
            "content_id": f"c-{random.randrange(10_000):05d}",
            "title": f"Course {i}: practical skills for everyday analysis work",
            "score": round(random.random(), 4),
            "source": random.choice(["continue", "path", "gap", "popular", "cluster"]),
            "reasons": [
                "Builds sql, a skill your role (data_analyst) needs",
                "Popular with people in your team this week",
            ],
        }
        for i in range(k)
    ]
    return orjson.dumps(
        {
            "v": keys.VALUE_VERSION,
            "learner_id": learner,
            "generated_at_ms": int(time.time() * 1000),
            "model_version": "bench",
            "trigger_event_id": None,
            "items": items,
        }
    )


class HttpConn:
    """One keep-alive HTTP/1.1 connection that GETs and reads a Content-Length body."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            b"GET " + path.encode() + b" HTTP/1.1\r\nHost: bench\r\n" + headers + b"\r\n"
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Result:
    path: str
    mode: str
    latencies: list[float]
    seconds: float
    errors: int

    def row(self) -> str:
        lat = sorted(self.latencies)
        n = len(lat)
        p50 = lat[n // 2] * 1000 if n else float("nan")
        p99 = lat[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan")
        mean = statistics.fmean(lat) * 1000 if n else float("nan")
        goal = GOALS_MS[self.path]
        verdict = "ok" if p99 < goal else "over"
        return (
            f"{self.mode:<10}{self.path:<8}{n:>9}{n / self.seconds:>10.0f}{p50:>9.3f}"
            f"{p99:>9.3f}{mean:>9.3f}{self.errors:>7}   <{goal:g} ms {verdict}"
        )


async def run_phase(
    path: str,
    mode: str,
    readers: int,
    seconds: float,
    rate: float,
    make: Callable[[int], Awaitable[Callable[[str], Awaitable[bool]]]],
    learners: list[str],
) -> Result:
    """``readers`` tasks; each gets its own fetch function (its own connection)."""
    fetchers = [await make(i) for i in range(readers)]
    for f in fetchers:  # connect and warm up outside the measurement
        for _ in range(20):
            await f(random.choice(learners))
    latencies: list[float] = []
    errors = 0
    interval = readers / rate if mode == "paced" else 0.0
    start = time.perf_counter()
    stop_at = start + seconds

    async def reader(fetch: Callable[[str], Awaitable[bool]], offset: float) -> None:
        nonlocal errors
        due = start + offset
        while True:
            now = time.perf_counter()
            if mode == "paced":
                if due > now:
                    await asyncio.sleep(due - now)
                t0 = due
                due += interval
            else:
                t0 = now
            if t0 >= stop_at:
                return
            ok = await fetch(random.choice(learners))
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    await asyncio.gather(*(reader(f, interval * i / readers) for i, f in enumerate(fetchers)))
    return Result(path, mode, latencies, time.perf_counter() - start, errors)


async def bench(
    args: argparse.Namespace, front_url: str, api_port: int, secret: bytes, learners: list[str]
) -> list[Result]:
    client = aioredis.Redis.from_url(front_url, max_connections=args.readers + 5)
    conns: list[HttpConn] = []
    tokens = {lrn: mint(secret, lrn, 3600) for lrn in learners}

    async def make_direct(_i: int) -> Callable[[str], Awaitable[bool]]:
        async def fetch(learner: str) -> bool:
            raw = await client.get(keys.reco(learner))
            return raw is not None

        return fetch

    async def make_api(_i: int) -> Callable[[str], Awaitable[bool]]:
        conn = HttpConn("127.0.0.1", api_port)
        conns.append(conn)

        async def fetch(learner: str) -> bool:
            status, body = await conn.get(
                "/v1/me/recommendations",
                b"Authorization: Bearer " + tokens[learner].encode() + b"\r\n",
            )
            return status == 200 and len(body) > 100

        return fetch

    results = []
    for mode in ("paced", "saturated"):
        for path, make in (("direct", make_direct), ("api", make_api)):
            results.append(
                await run_phase(path, mode, args.readers, args.seconds, args.rate, make, learners)
            )
    for c in conns:
        c.close()
    await client.aclose()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--readers", type=int, default=50, help="concurrent readers")
    p.add_argument(
        "--rate",
        type=float,
        default=1000,
        help="paced phase: total requests/s (default: each reader every 50 ms)",
    )
    p.add_argument("--seconds", type=float, default=5, help="length of each phase (max 60)")
    p.add_argument("--learners", type=int, default=1000, help="learners with a stored list")
    args = p.parse_args(argv)
    args.seconds = min(args.seconds, 60.0)  # bounded, whatever is asked
    random.seed(7)
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure
    workdir = Path(tempfile.mkdtemp(prefix="lp-read-bench-"))
    users = RedisUsers.generate()
    redis_port, api_port = free_port(), free_port()
    redis_proc = start_redis(redis_port, workdir / "redis", users)
    api: Proc | None = None
    try:
        worker = redis.Redis.from_url(redis_url(redis_port, "lp-worker", users.worker_password))
        learners = [f"lrn-{i:05d}" for i in range(args.learners)]
        pipe = worker.pipeline(transaction=False)
        for lrn in learners:
            pipe.set(keys.reco(lrn), reco_value(lrn))
        pipe.execute()
        size = len(worker.get(keys.reco(learners[0])) or b"")
        worker.close()
        secret = secrets.token_urlsafe(24)
        front = redis_url(redis_port, "lp-frontend", users.frontend_password)
        api = Proc(
            "delivery",
            [sys.executable, "-m", "services.delivery"],
            workdir / "api.log",
            env={
                "LEARNPULSE_DELIVERY_REDIS_URL": front,
                # Feedback is not exercised: nothing listens on this port.
                "LEARNPULSE_DELIVERY_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
                "LEARNPULSE_DELIVERY_TOKEN_SECRET": secret,
                "LEARNPULSE_DELIVERY_PORT": str(api_port),
            },
        ).start()

        def api_ready() -> bool:
            import httpx

            return httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=1).status_code == 200

        api.wait_ready(api_ready, 30, "answering /healthz")
        try:
            import uvloop

            runner: Callable[..., list[Result]] = uvloop.run  # type: ignore[assignment]
        except ImportError:
            runner = asyncio.run
        results = runner(bench(args, front, api_port, secret.encode(), learners))
    finally:
        if api is not None:
            api.stop()
        redis_proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\nreads of one learner's recommendations ({size} B value, {args.learners} learners), "
        f"{args.readers} concurrent readers, {args.seconds:g} s per phase, "
        f"{os.cpu_count()} cores shared by client and servers, load average before the run "
        f"{load_before:.1f}"
    )
    print(
        f"{'mode':<10}{'path':<8}{'requests':>9}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'mean ms':>9}{'errors':>7}   goal (p99)"
    )
    for r in results:
        print(r.row())
    by = {(r.mode, r.path): r for r in results}
    for mode in ("paced", "saturated"):
        d, a = by[(mode, "direct")], by[(mode, "api")]
        dp = sorted(d.latencies)[int(len(d.latencies) * 0.99)]
        ap = sorted(a.latencies)[int(len(a.latencies) * 0.99)]
        print(f"{mode}: API p99 is {ap / dp:.1f}x direct Redis p99")
    return 0


if __name__ == "__main__":
    sys.exit(main())
