"""End-to-end latency, Kafka append -> Redis, at 25/50/75 % of the worker's maximum.

    .venv/bin/python -m loadtests.latency [--learners 10000] [--seconds 20] [--max-rate N]

Starts its own Tansu and Redis on free loopback ports and one stream worker
(``python -m streams``), and stops them all at the end, on failure and on Ctrl-C.

1. Warm-up: a short paced run, until the worker has joined and processes.
2. Maximum: unless ``--max-rate`` is given, a backlog of ``--max-events`` is
   produced as fast as possible and the worker's drain rate (processed-events
   counter, after the producer finished) is the maximum.
3. For 25 %, 50 % and 75 % of it: ``loadtests.generate`` (its own process,
   clock ``live``) sends for ``--seconds`` at that rate and logs each event's id
   and record timestamp (set explicitly at produce time: the Kafka append time).
   This process subscribes to every learner's live channel ``lp:{id}:live``
   (admin user); the worker publishes each new recommendation list in the same
   Redis pipeline as the ``SET``, after it, with the id of the event that
   triggered it. An event's latency is the arrival of the first publish for its
   learner whose trigger is that event or a later one (a batch folds several
   events of a learner into one write). The first 2 s of each phase are
   skipped (the rate change settles).

The generator paces on a schedule but stamps records when it actually sends,
so if it falls behind latency is understated: its achieved rate is printed.
Prints p50/p95/p99 per load, and how busy the worker's main thread (where
the batches are processed) and the whole machine were; never asserts timings.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import orjson
import psutil
import typer
from rich.console import Console
from rich.table import Table

from learnpulse.stack.procs import free_port
from learnpulse.topics import Topics
from loadtests import harness
from loadtests.generate import Clock, Counts, KafkaSink, Workload

console = Console(width=150)
SETTLE_S = 2.0


class LiveFeed(threading.Thread):
    """Every message on ``lp:*:live``: (arrival ms, learner id, trigger event id)."""

    def __init__(self, url: str) -> None:
        super().__init__(name="live-feed", daemon=True)
        import redis

        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe("lp:*:live")
        self.got: list[tuple[float, bytes, bytes]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop.is_set():
            msg = self.pubsub.get_message(timeout=0.2)
            if msg is not None:
                with self.lock:
                    self.got.append((time.time() * 1000, msg["channel"], msg["data"]))
        self.pubsub.close()

    def take(self) -> list[tuple[float, str, str | None]]:
        """Parse what arrived so far (reco messages only) and forget it."""
        with self.lock:
            raw, self.got = self.got, []
        out = []
        for t, channel, data in raw:
            d = orjson.loads(data)
            if d.get("type") != "reco":
                continue
            learner = channel.decode().split("{", 1)[1].rsplit("}", 1)[0]
            out.append((t, learner, d["value"].get("trigger_event_id")))
        return out


@dataclass
class Phase:
    fraction: float
    target_rate: float
    sent: int
    achieved_rate: float
    measured: int
    unresolved: int
    p50: float
    p95: float
    p99: float
    max: float
    worker_p50: float  # the worker's own histogram (append -> Redis written): bucket bounds
    worker_p99: float
    worker_cpu: float  # worker process CPU seconds per second of the phase
    main_thread: float  # the worker's main thread (the processing) alone
    machine_cpu: float  # every process on the machine, share of all CPUs


def latencies(
    sends: Path, feed: list[tuple[float, str, str | None]], skip_before_ms: float
) -> tuple[list[float], int]:
    """Latency (ms) of each sent event, from its record timestamp to its first visible write."""
    pending: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for line in sends.read_text().splitlines():
        eid, learner, stamp = line.split(" ")
        pending[learner].append((eid, int(stamp)))
    out: list[float] = []
    resolved: set[str] = set()
    pos: dict[str, int] = defaultdict(int)
    for t, learner, trigger in sorted(feed):
        evs = pending.get(learner)
        if not evs or trigger is None:
            continue
        ids = [e for e, _ in evs]
        try:
            upto = ids.index(trigger, pos[learner])
        except ValueError:
            continue
        for eid, ts in evs[pos[learner] : upto + 1]:
            if ts >= skip_before_ms:
                out.append(t - ts)
            resolved.add(eid)
        pos[learner] = upto + 1
    counted = sum(1 for evs in pending.values() for _e, ts in evs if ts >= skip_before_ms)
    return out, counted - len(out)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def run_generator(
    stack: harness.BenchStack,
    topics: Topics,
    learners: int,
    rate: float,
    seconds: float | None,
    count: int | None,
    tag: str,
    sends: Path | None,
    linger_ms: int = 5,
) -> harness.Proc:
    args = [
        "--linger-ms",
        str(linger_ms),
        "--learners",
        str(learners),
        "--rate",
        str(rate),
        "--to",
        "kafka",
        "--bootstrap",
        stack.kafka_bootstrap,
        "--topic-prefix",
        topics.prefix,
        "--no-reference",
        "--clock",
        "live",
        "--tag",
        tag,
        "--quiet",
    ]
    if seconds:
        args += ["--duration", str(seconds)]
    if count:
        args += ["--count", str(count)]
    if sends:
        args += ["--sends-log", str(sends)]
    return stack.spawn(f"gen-{tag}", harness.python_module("loadtests.generate", *args), {})


E2E_BUCKET = "learnpulse_e2e_append_to_redis_seconds_bucket"


def worker_buckets(port: int) -> dict[float, float]:
    """The worker's own append -> Redis histogram: cumulative count per upper bound (s)."""
    url = f"http://127.0.0.1:{port}/metrics?" + urllib.parse.urlencode({"name[]": E2E_BUCKET})
    out: dict[float, float] = {}
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(E2E_BUCKET + "{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                bound = float("inf") if le == "+Inf" else float(le)
                out[bound] = out.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Upper bound (ms) of the bucket holding quantile q of the observations in between."""
    deltas = sorted((b, after.get(b, 0.0) - before.get(b, 0.0)) for b in after)
    total = deltas[-1][1] if deltas else 0.0
    for bound, cum in deltas:
        if total and cum >= q * total:
            return bound * 1000
    return float("nan")


def busy(pid: int) -> tuple[float, float]:
    """CPU seconds so far of the worker process and of its main thread (the processing;
    faust's consumer, librdkafka and the clusterer run in other threads)."""
    proc = psutil.Process(pid)
    main = next((t for t in proc.threads() if t.id == pid), None)
    return harness.cpu_seconds(proc), (main.user_time + main.system_time) if main else 0.0


def wait_exit(stack: harness.BenchStack, proc: harness.Proc, timeout: float) -> None:
    assert proc.popen is not None
    proc.popen.wait(timeout)
    rc = proc.popen.returncode
    stack.stop_proc(proc)
    if rc != 0:
        raise RuntimeError(f"{proc.name} exited {rc}:\n{proc.log_tail()}")


def main(
    learners: Annotated[int, typer.Option(help="learners in the organisation")] = 10_000,
    seconds: Annotated[float, typer.Option(help="seconds per load level")] = 20.0,
    max_rate: Annotated[
        float | None,
        typer.Option(help="the worker's maximum events/s (measured in this run if not given)"),
    ] = None,
    max_events: Annotated[int, typer.Option(help="backlog drained to measure the maximum")] = (
        40_000
    ),
    fractions: Annotated[str, typer.Option(help="loads as fractions of the max")] = (
        "0.25,0.5,0.75"
    ),
    partitions: Annotated[int, typer.Option(help="partitions of the learner topics")] = 4,
    patch: Annotated[
        list[str] | None,
        typer.Option(help="run the worker with these loadtests.patches (loadtests.real_worker)"),
    ] = None,
    batch_within_s: Annotated[
        float | None, typer.Option(help="worker setting batch_within_s (default: the worker's own)")
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(help="worker setting KEY=VALUE (LEARNPULSE_STREAMS_KEY), repeatable"),
    ] = None,
    keep_logs: Annotated[
        Path | None, typer.Option(help="keep the stack's working directory (worker logs) here")
    ] = None,
    producer_linger_ms: Annotated[
        int,
        typer.Option(
            help="the paced generators' linger.ms: a record's stamp is taken at produce(), "
            "so up to this long is spent in the generator before the append"
        ),
    ] = 5,
) -> None:
    """Measure and print; see the module docstring."""
    m = harness.machine()
    console.print(
        f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}, "
        f"load {m['load']}, commit {m['commit']}"
    )
    phases: list[Phase] = []
    with harness.bench_stack(keep_logs) as stack, tempfile.TemporaryDirectory() as tmp:
        topics = Topics(prefix="lat.", partitions=partitions)
        stack.create_topics(topics)
        w = Workload.create(learners, clock=Clock.live)
        KafkaSink(stack.kafka_bootstrap, topics, Counts()).reference(w.reference_records())
        port = free_port()
        extra = {} if batch_within_s is None else {"batch_within_s": str(batch_within_s)}
        for kv in setting or []:
            k, sep, v = kv.partition("=")
            if not sep:
                raise typer.BadParameter(f"--setting {kv!r}: expected KEY=VALUE")
            extra[k.lower()] = v
        env = stack.worker_env(topics, f"lat-{int(time.time())}", port, **extra)
        module = "streams"
        if patch:
            env["LP_BENCH_PATCHES"] = ",".join(patch)
            module = "loadtests.real_worker"
        worker = stack.spawn("worker", harness.python_module(module), env)
        assert worker.pid is not None
        feed = LiveFeed(stack.url())
        feed.start()
        try:
            console.print("warm-up: waiting for the worker to join and process")
            gen = run_generator(stack, topics, learners, 500, None, 3000, "warm", None)
            wait_exit(stack, gen, 120)
            harness.watch(worker.pid, port, 3000, 120)
            done = harness.scrape(port) or 0.0
            if max_rate is None:
                gen = run_generator(stack, topics, learners, 0, None, max_events, "max", None)
                wait_exit(stack, gen, 300)
                c0, t0 = harness.scrape(port) or 0.0, time.monotonic()
                cpu0 = harness.cpu_seconds(psutil.Process(worker.pid))
                target = done + max_events
                while (c := harness.scrape(port) or 0.0) < target:
                    if time.monotonic() - t0 > 300:
                        raise TimeoutError("the worker did not drain the backlog in 300 s")
                    time.sleep(0.1)
                dt = time.monotonic() - t0
                cpu = harness.cpu_seconds(psutil.Process(worker.pid)) - cpu0
                max_rate = (c - c0) / dt
                console.print(
                    f"maximum: {max_rate:,.0f} events/s draining a backlog "
                    f"({(c - c0) / cpu:,.0f} events/s per worker CPU second)"
                )
                done = c
            feed.take()
            for f in (float(x) for x in fractions.split(",")):
                rate = f * max_rate
                sends = Path(tmp) / f"sends-{f}.txt"
                start_ms = time.time() * 1000
                busy0, wall0 = busy(worker.pid), time.monotonic()
                hist0 = worker_buckets(port)
                psutil.cpu_percent()  # starts the machine-wide measurement
                gen = run_generator(
                    stack, topics, learners, rate, seconds, None, f"p{f}", sends, producer_linger_ms
                )
                wait_exit(stack, gen, seconds + 120)
                machine = psutil.cpu_percent() / 100
                busy1, wall1 = busy(worker.pid), time.monotonic()
                n = len(sends.read_text().splitlines())
                harness.watch(worker.pid, port, done + n, 120)
                done += n
                time.sleep(0.5)  # the last publishes arrive
                hist1 = worker_buckets(port)
                got = feed.take()
                stamps = [int(line.rsplit(" ", 1)[1]) for line in sends.read_text().splitlines()]
                span = (max(stamps) - min(stamps)) / 1000 if stamps else 0.0
                lat, unresolved = latencies(sends, got, start_ms + SETTLE_S * 1000)
                phases.append(
                    Phase(
                        f,
                        rate,
                        n,
                        n / span if span else 0.0,
                        len(lat),
                        unresolved,
                        pct(lat, 0.5),
                        pct(lat, 0.95),
                        pct(lat, 0.99),
                        max(lat) if lat else float("nan"),
                        bucket_quantile(hist0, hist1, 0.5),
                        bucket_quantile(hist0, hist1, 0.99),
                        (busy1[0] - busy0[0]) / (wall1 - wall0),
                        (busy1[1] - busy0[1]) / (wall1 - wall0),
                        machine,
                    )
                )
                p = phases[-1]
                console.print(
                    f"  {f:.0%} of max ({rate:,.0f}/s): p50 {p.p50:.1f} ms, "
                    f"p95 {p.p95:.1f}, p99 {p.p99:.1f} ({p.measured:,} events); "
                    f"worker main thread busy {p.main_thread:.0%}, machine {p.machine_cpu:.0%}; "
                    f"worker's own histogram p50 <= {p.worker_p50:.0f} ms, "
                    f"p99 <= {p.worker_p99:.0f} ms"
                )
            e2e = harness.scrape(port, "learnpulse_e2e_append_to_redis_seconds_count")
        finally:
            feed.stop.set()
            feed.join(2)
    t = Table(
        title=f"End-to-end latency, Kafka append -> Redis pub/sub, one worker, "
        f"{learners:,} learners; max {max_rate:,.0f} events/s"
    )
    for col in (
        "load",
        "target/s",
        "achieved/s",
        "events",
        "not seen",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "worker p50/p99 ≤ ms",
        "worker CPU",
        "main thread",
        "machine",
    ):
        t.add_column(col, justify="right")
    for p in phases:
        t.add_row(
            f"{p.fraction:.0%}",
            f"{p.target_rate:,.0f}",
            f"{p.achieved_rate:,.0f}",
            f"{p.measured:,}",
            f"{p.unresolved:,}",
            f"{p.p50:.1f}",
            f"{p.p95:.1f}",
            f"{p.p99:.1f}",
            f"{p.max:.1f}",
            f"{p.worker_p50:.0f} / {p.worker_p99:.0f}",
            f"{p.worker_cpu:.0%}",
            f"{p.main_thread:.0%}",
            f"{p.machine_cpu:.0%}",
        )
    console.print(t)
    if phases:
        mid = min(phases, key=lambda p: abs(p.fraction - 0.5))
        console.print(
            f"goal at {mid.fraction:.0%}: p50 <= 20 ms ({mid.p50:.1f}), "
            f"p99 <= 100 ms ({mid.p99:.1f}); worker histogram saw {e2e or 0:,.0f} "
            f"events; median of p50s {statistics.median(p.p50 for p in phases):.1f}"
        )


if __name__ == "__main__":
    typer.run(main)
