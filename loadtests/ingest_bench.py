"""Benchmark of the ingest gateway: xAPI statements/s and request latency, beside Kafka.

Starts its own Tansu broker and Redis (free ports, temporary directory), runs one
gateway process (``python -m services.ingest``), and posts unique xAPI statements
in batches of 1 and 100 from concurrent clients. In the same run it produces the
same canonical events straight to Kafka (idempotent, acks=all) as the baseline.
Prints a table and the ratios; never asserts on timings.

Run::

    .venv/bin/python -m loadtests.ingest_bench                   # defaults
    .venv/bin/python -m loadtests.ingest_bench --statements 20000 --concurrency 8

Goal (issue 3): at least 5,000 statements/s per gateway process with batches of 100.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

ADL = "http://adlnet.gov/expapi/verbs/"


def statement(i: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"account": {"homePage": "https://lms.example.com", "name": f"u-{i % 5000}"}},
        "verb": {"id": ADL + ("completed" if i % 3 else "attempted")},
        "object": {
            "id": f"https://lms.example.com/courses/{i % 200}/m/{i % 7}",
            "definition": {"type": "http://adlnet.gov/expapi/activities/module"},
        },
        "result": {"score": {"scaled": (i % 10) / 10}, "success": bool(i % 2), "duration": "PT5M"},
        "context": {
            "registration": str(uuid.uuid4()),
            "contextActivities": {"parent": [{"id": f"https://lms.example.com/courses/{i % 200}"}]},
        },
        "timestamp": "2024-05-01T10:00:00.000Z",
    }


@dataclass
class Result:
    name: str
    statements: int
    seconds: float
    latencies: list[float]
    cpu_s: float | None = None

    @property
    def rate(self) -> float:
        return self.statements / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post_all(
    base: str,
    auth: dict[str, str],
    bodies: list[bytes],
    per_body: int,
    concurrency: int,
    name: str,
    pid: int,
) -> Result:
    headers = {**auth, "X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"}
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                t = time.perf_counter()
                r = await client.post("/xapi/statements", content=body)
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"gateway answered {r.status_code}: {r.text[:300]}")

        cpu0 = cpu_seconds(pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu0
    return Result(name, len(bodies) * per_body, elapsed, latencies, cpu)


def direct_kafka(bootstrap: str, topic: str, stmts: list[dict[str, Any]]) -> Result:
    """Baseline: the same canonical events, encoded and produced straight to Kafka."""
    from confluent_kafka import Producer

    from services.ingest import xapi
    from services.ingest.publisher import encode

    recs = [s.record for s in xapi.normalize(stmts, source="bench", received_at_ms=0)]
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
        }
    )
    started = time.perf_counter()
    for rec in recs:
        key, value, headers = encode(rec, "xapi")
        while True:
            try:
                p.produce(topic, key=key, value=value, headers=headers)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    left = p.flush(60)
    elapsed = time.perf_counter() - started
    if left:
        raise RuntimeError(f"{left} records not delivered in the baseline")
    return Result("direct to Kafka (encode+produce+flush)", len(recs), elapsed, [])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gateway exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gateway not answering {url} after {timeout}s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--statements",
        type=int,
        default=20_000,
        help="statements per batch-size run (batch 1 uses a tenth)",
    )
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent client requests")
    args = ap.parse_args(argv)

    import redis

    from learnpulse.stack.procs import free_port
    from learnpulse.stack.services import (
        RedisUsers,
        create_topics,
        redis_url,
        start_redis,
        start_tansu,
    )
    from learnpulse.topics import Topics
    from services.ingest.keystore import KeyStore, new_credential

    work = Path(tempfile.mkdtemp(prefix="lp-ingest-bench-"))
    procs: list[Any] = []
    gateway: subprocess.Popen[bytes] | None = None
    try:
        kport, rport, gport = free_port(), free_port(), free_port()
        procs.append(start_tansu(kport, work / "tansu"))
        users = RedisUsers.generate()
        procs.append(start_redis(rport, work / "redis", users))
        bootstrap = f"127.0.0.1:{kport}"
        topics = Topics(prefix="bench.", partitions=4)
        create_topics(bootstrap, topics.all(), topics.compacted())
        ingest_url = redis_url(rport, "lp-ingest", users.ingest_password)
        cred, token = new_credential("bench", rate_per_s=1e9, burst=10**9)
        KeyStore(redis.Redis.from_url(ingest_url)).add(cred)
        env = {
            **os.environ,
            "LEARNPULSE_INGEST_KAFKA_BOOTSTRAP": bootstrap,
            "LEARNPULSE_INGEST_REDIS_URL": ingest_url,
            "LEARNPULSE_INGEST_TOPIC_PREFIX": topics.prefix,
            "LEARNPULSE_INGEST_PORT": str(gport),
            "LEARNPULSE_INGEST_MAX_BATCH": "100",
        }
        log = open(work / "gateway.log", "wb")  # noqa: SIM115 - owned by the child
        gateway = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{gport}"
        wait_http(base + "/healthz", 30, gateway)
        auth = {"Authorization": f"Bearer {token}"}

        # Warm-up: metadata, connections, caches.
        warm = [orjson.dumps([statement(i) for i in range(100)]) for _ in range(5)]
        asyncio.run(post_all(base, auth, warm, 100, 2, "warm-up", gateway.pid))

        results: list[Result] = []
        n1 = max(args.statements // 10, 100)
        singles = [orjson.dumps(statement(i)) for i in range(n1)]
        results.append(
            asyncio.run(
                post_all(
                    base, auth, singles, 1, args.concurrency, "gateway, batches of 1", gateway.pid
                )
            )
        )
        n100 = max(args.statements // 100, 1)
        hundreds = [orjson.dumps([statement(i * 100 + j) for j in range(100)]) for i in range(n100)]
        results.append(
            asyncio.run(
                post_all(
                    base,
                    auth,
                    hundreds,
                    100,
                    args.concurrency,
                    "gateway, batches of 100",
                    gateway.pid,
                )
            )
        )
        baseline = direct_kafka(
            bootstrap, topics.activity, [statement(i) for i in range(n100 * 100)]
        )
        report(results, baseline, args)
    finally:
        if gateway is not None:
            gateway.terminate()
            try:
                gateway.wait(10)
            except subprocess.TimeoutExpired:
                gateway.kill()
        for p in reversed(procs):
            p.stop()
    return 0


def report(results: list[Result], baseline: Result, args: argparse.Namespace) -> None:
    print(
        f"\ningest gateway benchmark  ({os.cpu_count()} CPUs, concurrency "
        f"{args.concurrency}, one gateway process, Tansu + Redis on the same machine)\n"
    )
    head = (
        f"{'run':42} {'statements':>10} {'seconds':>8} {'stmts/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'gw CPU µs/stmt':>15} {'vs Kafka':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in [*results, baseline]:
        cpu = f"{r.cpu_s / r.statements * 1e6:15.0f}" if r.cpu_s else f"{'-':>15}"
        p50 = f"{r.pct(0.5):8.1f}" if r.latencies else f"{'-':>8}"
        p99 = f"{r.pct(0.99):8.1f}" if r.latencies else f"{'-':>8}"
        print(
            f"{r.name:42} {r.statements:10d} {r.seconds:8.2f} {r.rate:9.0f} {p50} {p99} "
            f"{cpu} {r.rate / baseline.rate:9.2f}"
        )
    b100 = results[-1]
    cap = b100.statements / b100.cpu_s if b100.cpu_s else float("nan")
    print(
        f"\nbatches of 100: {b100.rate:.0f} statements/s wall-clock; the gateway process "
        f"used {b100.cpu_s or 0:.1f} CPU-s, i.e. ~{cap:.0f} statements per CPU-second "
        f"(goal: 5,000/s per gateway process)"
    )
    print(f"mean request latency, batches of 100: {statistics.mean(b100.latencies) * 1000:.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
