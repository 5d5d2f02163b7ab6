"""End-to-end latency, Kafka append -> Redis, at 25/50/75 % of the worker's maximum.

    .venv/bin/python -m loadtests.latency [--learners 10000] [--seconds 15] [--max-rate N]

Starts its own Tansu and Redis on free loopback ports and one stream worker
(``python -m streams``), and stops them all at the end, on failure and on Ctrl-C.
By default every measurement gets a fresh stack (broker, Redis, worker): Tansu's
memory storage serves fetches more slowly as a partition's log grows (a plain
consumer's hop alone at 3,000/s went from p50 11 to 46 ms in 48 s), so levels
measured one after another on one broker would carry the earlier ones' logs.
``--no-fresh-stack`` runs everything on one stack, as before.

1. Warm-up: a short paced run, until the worker has joined and processes.
2. Maximum: unless ``--max-rate`` is given, a backlog of ``--max-events`` is
   produced as fast as possible and the worker's drain rate (processed-events
   counter, after the producer finished) is the maximum.
3. For 25 %, 50 % and 75 % of it: ``loadtests.generate`` (its own process,
   clock ``live``) sends for ``--seconds`` at that rate and logs each event's id,
   record timestamp (taken at ``produce()``) and librdkafka's time from
   ``produce()`` to the broker's acknowledgement. The append happened in
   between, so latency is given both ways: from the stamp (at least the
   append -> Redis time; includes the producer's linger) and from the
   acknowledgement (at most that time).
   This process subscribes to every learner's live channel ``lp:{id}:live``
   (admin user); the worker publishes each new recommendation list after its
   writes, with the id of the event that triggered it. An event's latency is
   the arrival of the first publish for its learner whose trigger is that event
   or a later one (a batch folds several events of a learner into one write).
   The first 2 s of each phase are skipped (the rate change settles).
4. The floor (``--floor``, default): the same generator at the same rate for
   the same time on a fresh broker, read by a plain confluent-kafka consumer
   that does no work and fetches as the worker does: the broker hop alone.

``--worker plain`` measures ``loadtests.plain_worker`` instead (the same
processing behind a confluent-kafka consumer: the transport's share,
decision 0023); ``--profile DIR`` (py-spy) and ``--perf DIR`` (Linux perf, C
frames too) record the worker during each level.

The generator paces on a schedule but stamps records when it actually sends,
so if it falls behind latency is understated: its achieved rate is printed.
Prints p50/p95/p99 per load, and how busy the worker's main thread (where
the batches are processed), the broker and the whole machine were; never
asserts timings.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import asdict, dataclass
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
from loadtests.harness import pct

console = Console(width=200)
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
    p50: float  # from the record's stamp (produce()): at least the append -> Redis time
    p95: float
    p99: float
    max: float
    ack_p50: float  # from the broker's acknowledgement: at most the append -> Redis time
    ack_p99: float
    worker_p50: float  # the worker's own histogram (append -> Redis written): bucket bounds
    worker_p99: float
    worker_cpu: float  # worker process CPU seconds per second of the phase
    main_thread: float  # the worker's main thread (the processing) alone
    machine_cpu: float  # every process on the machine, share of all CPUs
    broker_cpu: float  # Tansu, CPU seconds per second
    ranked: float = float("nan")  # share of the lists written that were ranked again
    floor_p50: float = float("nan")  # the broker hop alone (no worker), same rate
    floor_p99: float = float("nan")
    floor_broker_cpu: float = float("nan")


def latencies(
    sends: list[str], feed: list[tuple[float, str, str | None]], skip_before_ms: float
) -> tuple[list[float], list[float], int]:
    """Latency (ms) of each sent event to its first visible write: from its record
    timestamp, and from its acknowledgement; and how many were never seen."""
    pending: dict[str, list[tuple[str, int, float]]] = defaultdict(list)
    for line in sends:
        eid, learner, stamp, ack_us = line.split(" ")
        pending[learner].append((eid, int(stamp), int(stamp) + int(ack_us) / 1000))
    out: list[float] = []
    from_ack: list[float] = []
    pos: dict[str, int] = defaultdict(int)
    for t, learner, trigger in sorted(feed):
        evs = pending.get(learner)
        if not evs or trigger is None:
            continue
        ids = [e for e, _, _ in evs]
        try:
            upto = ids.index(trigger, pos[learner])
        except ValueError:
            continue
        for _eid, ts, acked in evs[pos[learner] : upto + 1]:
            if ts >= skip_before_ms:
                out.append(t - ts)
                from_ack.append(t - acked)
        pos[learner] = upto + 1
    counted = sum(1 for evs in pending.values() for _e, ts, _a in evs if ts >= skip_before_ms)
    return out, from_ack, counted - len(out)


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
LISTS = "learnpulse_recommendation_lists_total"


def by_label(port: int, name: str, label: str) -> dict[str, float]:
    """One metric of the worker's /metrics, summed per value of one of its labels."""
    url = f"http://127.0.0.1:{port}/metrics?" + urllib.parse.urlencode({"name[]": name})
    out: dict[str, float] = {}
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + "{"):
                value = line.split(f'{label}="', 1)[1].split('"', 1)[0]
                out[value] = out.get(value, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def worker_buckets(port: int) -> dict[float, float]:
    """The worker's own append -> Redis histogram: cumulative count per upper bound (s)."""
    return {float(le): n for le, n in by_label(port, E2E_BUCKET, "le").items()}


def lists_written(port: int) -> dict[str, float]:
    """Recommendation lists written so far, by how: ranked again or patched (cached)."""
    return by_label(port, LISTS, "how")


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


@dataclass
class Options:
    learners: int
    partitions: int
    seconds: float
    linger_ms: int
    patch: list[str]
    extra: dict[str, str]
    pin: bool = False
    profile: Path | None = None
    worker: str = "faust"
    perf: Path | None = None


WORKER_CPU, OTHERS_CPU = 1, 0


def pin(pid: int, cpu: int) -> None:
    """Every thread of process ``pid`` onto one CPU (threads started later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), {cpu})


@dataclass
class Running:
    """One worker on a stack, warmed up: its topics, metrics port and events processed."""

    stack: harness.BenchStack
    worker: harness.Proc
    port: int
    topics: Topics
    feed: LiveFeed
    done: float


def cpu_of(proc: harness.Proc | None) -> float:
    return harness.cpu_seconds(psutil.Process(proc.pid)) if proc and proc.pid else 0.0


def start_worker(stack: harness.BenchStack, o: Options) -> Running:
    """Topics, reference data and one warmed-up worker on ``stack``."""
    topics = Topics(prefix="lat.", partitions=o.partitions)
    stack.create_topics(topics)
    w = Workload.create(o.learners, clock=Clock.live)
    KafkaSink(stack.kafka_bootstrap, topics, Counts()).reference(w.reference_records())
    port = free_port()
    env = stack.worker_env(topics, f"lat-{int(time.time())}", port, **o.extra)
    module = "streams"
    if o.patch:
        env["LP_BENCH_PATCHES"] = ",".join(o.patch)
        module = "loadtests.real_worker"
    if o.worker == "plain":
        module = "loadtests.plain_worker"  # applies LP_BENCH_PATCHES itself
    worker = stack.spawn("worker", harness.python_module(module), env)
    assert worker.pid is not None
    if o.pin:
        pin(worker.pid, WORKER_CPU)
    feed = LiveFeed(stack.url())
    feed.start()
    console.print("warm-up: waiting for the worker to join and process")
    gen = run_generator(stack, topics, o.learners, 500, None, 3000, "warm", None)
    wait_exit(stack, gen, 120)
    harness.watch(worker.pid, port, 3000, 120)
    if o.pin:
        pin(worker.pid, WORKER_CPU)  # threads the interpreter had started before the first pin
    return Running(stack, worker, port, topics, feed, harness.scrape(port) or 0.0)


def measure_max(r: Running, o: Options, max_events: int) -> float:
    """The worker's drain rate of a backlog produced as fast as possible."""
    assert r.worker.pid is not None
    gen = run_generator(r.stack, r.topics, o.learners, 0, None, max_events, "max", None)
    wait_exit(r.stack, gen, 300)
    c0, t0 = harness.scrape(r.port) or 0.0, time.monotonic()
    cpu0 = cpu_of(r.worker)
    target = r.done + max_events
    while (c := harness.scrape(r.port) or 0.0) < target:
        elapsed = time.monotonic() - t0
        if elapsed > 300:
            raise TimeoutError("the worker did not drain the backlog in 300 s")
        time.sleep(harness.next_wait(c - c0, elapsed, target - c))
    dt = time.monotonic() - t0
    cpu = cpu_of(r.worker) - cpu0
    console.print(
        f"maximum: {(c - c0) / dt:,.0f} events/s draining a backlog "
        f"({(c - c0) / cpu:,.0f} events/s per worker CPU second)"
    )
    r.done = c
    return (c - c0) / dt


def start_perf(r: Running, out: Path, seconds: float) -> harness.Proc:
    """Linux perf on the worker over the level: C frames included (compiled models,
    CPython's dicts and allocator, librdkafka) at a few percent of overhead, where
    py-spy --native pauses the worker per sample. DWARF call graphs: the interpreter
    has no frame pointers."""
    assert r.worker.pid is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["perf", "record", "-F", "149", "--call-graph", "dwarf,32768", "-p"]
    cmd += [str(r.worker.pid), "-o", str(out), "--", "sleep", str(max(1, round(seconds)))]
    return r.stack.spawn(f"perf-{out.stem}", cmd, {})


def perf_reports(stack: harness.BenchStack, proc: harness.Proc, data: Path) -> None:
    """Self time by symbol and time including callees, as text beside the data."""
    assert proc.popen is not None
    proc.popen.wait(60)
    stack.stop_proc(proc)
    for kind, flags in (("self", ["--no-children"]), ("children", ["--children"])):
        out = data.with_suffix(f".{kind}.txt")
        with out.open("w") as f:
            subprocess.run(
                ["perf", "report", "-i", str(data), *flags, "--sort", "sym", "--stdio"]
                + ["-g", "none"],
                stdout=f,
                stderr=subprocess.DEVNULL,
                check=False,
                timeout=600,
            )
        console.print(f"perf: {out}")


def measure_phase(r: Running, o: Options, fraction: float, rate: float, tmp: Path) -> Phase:
    assert r.worker.pid is not None
    r.feed.take()
    sends = tmp / f"sends-{fraction}.txt"
    start_ms = time.time() * 1000
    busy0, wall0 = busy(r.worker.pid), time.monotonic()
    broker0 = cpu_of(r.stack.tansu)
    hist0 = worker_buckets(r.port)
    lists0 = lists_written(r.port)
    psutil.cpu_percent()  # starts the machine-wide measurement
    if o.profile is not None:
        from loadtests.throughput import start_spy

        # py-spy's samples over the level (threads apart): where the live main thread goes
        start_spy(r.stack, r.worker.pid, o.profile / f"load-{fraction}.txt", o.seconds)
    perf_data = o.perf / f"load-{fraction}.data" if o.perf else None
    perf = start_perf(r, perf_data, o.seconds) if perf_data else None
    gen = run_generator(
        r.stack, r.topics, o.learners, rate, o.seconds, None, f"p{fraction}", sends, o.linger_ms
    )
    wait_exit(r.stack, gen, o.seconds + 120)
    machine = psutil.cpu_percent() / 100
    busy1, wall1 = busy(r.worker.pid), time.monotonic()
    broker = (cpu_of(r.stack.tansu) - broker0) / (wall1 - wall0)
    lines = sends.read_text().splitlines()
    n = len(lines)
    harness.watch(r.worker.pid, r.port, r.done + n, 120)
    r.done += n
    time.sleep(0.5)  # the last publishes arrive
    hist1 = worker_buckets(r.port)
    lists1 = lists_written(r.port)
    ranked = lists1.get("ranked", 0.0) - lists0.get("ranked", 0.0)
    patched = lists1.get("patched", 0.0) - lists0.get("patched", 0.0)
    got = r.feed.take()
    stamps = [int(line.split(" ")[2]) for line in lines]
    span = (max(stamps) - min(stamps)) / 1000 if stamps else 0.0
    lat, from_ack, unresolved = latencies(lines, got, start_ms + SETTLE_S * 1000)
    p = Phase(
        fraction,
        rate,
        n,
        n / span if span else 0.0,
        len(lat),
        unresolved,
        pct(lat, 0.5),
        pct(lat, 0.95),
        pct(lat, 0.99),
        max(lat) if lat else float("nan"),
        pct(from_ack, 0.5),
        pct(from_ack, 0.99),
        bucket_quantile(hist0, hist1, 0.5),
        bucket_quantile(hist0, hist1, 0.99),
        (busy1[0] - busy0[0]) / (wall1 - wall0),
        (busy1[1] - busy0[1]) / (wall1 - wall0),
        machine,
        broker,
        ranked / (ranked + patched) if ranked + patched else float("nan"),
    )
    console.print(
        f"  {fraction:.0%} of max ({rate:,.0f}/s): p50 {p.p50:.1f} ms, "
        f"p95 {p.p95:.1f}, p99 {p.p99:.1f} ({p.measured:,} events; from the acknowledgement "
        f"p50 {p.ack_p50:.1f}, p99 {p.ack_p99:.1f}); worker main thread busy "
        f"{p.main_thread:.0%}, broker {p.broker_cpu:.0%} of a core, machine {p.machine_cpu:.0%}; "
        f"{p.ranked:.0%} of the lists written were ranked again"
    )
    if perf is not None and perf_data is not None:
        perf_reports(r.stack, perf, perf_data)  # after the figures: reports take a while
    return p


class TailReader(threading.Thread):
    """A plain confluent-kafka consumer of the activity topic doing no work: the broker
    hop alone (record stamp -> record in hand), fetching as the worker does."""

    def __init__(
        self, bootstrap: str, topics: Topics, fetch_wait_ms: int, cpu: int | None = None
    ) -> None:
        super().__init__(name="tail-reader", daemon=True)
        self.cpu = cpu
        from confluent_kafka import Consumer, TopicPartition

        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "lat-floor",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": fetch_wait_ms,
            }
        )
        self.consumer.assign(
            [TopicPartition(topics.activity, p, 0) for p in range(topics.partitions)]
        )
        self.got: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        if self.cpu is not None:
            os.sched_setaffinity(0, {self.cpu})  # this thread, where the worker would run
        # consume() returns at once when records are there; a short timeout so it
        # never holds records back waiting for more.
        while not self.stop.is_set():
            msgs = self.consumer.consume(500, 0.002)
            now = time.time() * 1000
            self.got.extend((now, m.timestamp()[1]) for m in msgs if m.error() is None)
        self.consumer.close()


def measure_floor(o: Options, rate: float, fetch_wait_ms: int) -> tuple[float, float, float]:
    """The same generator at the same rate on a fresh broker, read by :class:`TailReader`:
    the hop's p50 and p99 (ms) and the broker's CPU (seconds per second)."""
    with harness.bench_stack() as stack:
        topics = Topics(prefix="floor.", partitions=o.partitions)
        stack.create_topics(topics)
        reader = TailReader(
            stack.kafka_bootstrap, topics, fetch_wait_ms, WORKER_CPU if o.pin else None
        )
        reader.start()
        start_ms = time.time() * 1000
        broker0, wall0 = cpu_of(stack.tansu), time.monotonic()
        gen = run_generator(
            stack, topics, o.learners, rate, o.seconds, None, f"floor-{rate:.0f}", None, o.linger_ms
        )
        wait_exit(stack, gen, o.seconds + 120)
        broker = (cpu_of(stack.tansu) - broker0) / (time.monotonic() - wall0)
        time.sleep(0.5)
        reader.stop.set()
        reader.join(5)
        lat = [t - ts for t, ts in reader.got if ts >= start_ms + SETTLE_S * 1000]
        console.print(
            f"  broker hop alone at {rate:,.0f}/s: p50 {pct(lat, 0.5):.1f} ms, "
            f"p99 {pct(lat, 0.99):.1f} ({len(lat):,} records), broker {broker:.0%} of a core"
        )
        return pct(lat, 0.5), pct(lat, 0.99), broker


def main(
    learners: Annotated[int, typer.Option(help="learners in the organisation")] = 10_000,
    seconds: Annotated[float, typer.Option(help="seconds per load level")] = 15.0,
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
        Path | None,
        typer.Option(help="keep each stack's working directory (worker logs) under this one"),
    ] = None,
    producer_linger_ms: Annotated[
        int,
        typer.Option(
            help="the paced generators' linger.ms: a record's stamp is taken at produce(), "
            "so up to this long is spent in the generator before the append"
        ),
    ] = 5,
    fresh_stack: Annotated[
        bool,
        typer.Option(
            help="a new broker, Redis and worker for the maximum and for each load level: "
            "Tansu's fetches get slower as a partition's log grows (RESULTS.md, seventh round)"
        ),
    ] = True,
    floor: Annotated[
        bool,
        typer.Option(
            help="also measure the broker hop alone at each level (the same generator, "
            "a plain consumer doing no work, a fresh broker)"
        ),
    ] = True,
    pin_worker: Annotated[
        bool,
        typer.Option(
            "--pin/--no-pin",
            help="the worker alone on CPU 1; the broker, Redis, the generator and this "
            "process on CPU 0 (as with the broker on other machines; the maximum is then "
            "the worker's on one core)",
        ),
    ] = False,
    profile: Annotated[
        Path | None,
        typer.Option(help="py-spy the worker (threads apart) during each level; raw stacks here"),
    ] = None,
    perf: Annotated[
        Path | None,
        typer.Option(
            help="Linux perf on the worker during each level (C frames too); data and "
            "text reports here"
        ),
    ] = None,
    worker: Annotated[
        str,
        typer.Option(
            help="faust: python -m streams; plain: loadtests.plain_worker, the same "
            "processing behind a confluent-kafka consumer (the transport's share of latency)"
        ),
    ] = "faust",
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="also write the levels' figures here (loadtests.latency_ab)"),
    ] = None,
) -> None:
    """Measure and print; see the module docstring."""
    from streams.settings import StreamsSettings

    console.print(harness.machine_line())
    extra = {} if batch_within_s is None else {"batch_within_s": str(batch_within_s)}
    for kv in setting or []:
        k, sep, v = kv.partition("=")
        if not sep:
            raise typer.BadParameter(f"--setting {kv!r}: expected KEY=VALUE")
        extra[k.lower()] = v
    fetch_wait_ms = int(
        extra.get("fetch_max_wait_ms", StreamsSettings.model_fields["fetch_max_wait_ms"].default)
    )
    if worker not in ("faust", "plain"):
        raise typer.BadParameter(f"--worker {worker!r}: expected faust or plain")
    if perf is not None and shutil.which("perf") is None:
        raise typer.BadParameter("--perf needs Linux perf (Debian: apt-get install linux-perf)")
    o = Options(
        learners,
        partitions,
        seconds,
        producer_linger_ms,
        patch or [],
        extra,
        pin_worker,
        profile,
        worker,
        perf,
    )
    if pin_worker:
        if (os.cpu_count() or 1) < 2:
            raise typer.BadParameter("--pin needs two CPUs")
        pin(os.getpid(), OTHERS_CPU)  # and so everything it starts, until re-pinned
    levels = [float(x) for x in fractions.split(",")]
    phases: list[Phase] = []
    e2e = 0.0

    def one_stack(todo: list[float], need_max: bool, name: str) -> None:
        nonlocal max_rate, e2e
        keep = keep_logs / name if keep_logs else None
        with harness.bench_stack(keep) as stack, tempfile.TemporaryDirectory() as tmp:
            r = start_worker(stack, o)
            try:
                if need_max:
                    max_rate = measure_max(r, o, max_events)
                assert max_rate is not None
                for f in todo:
                    phases.append(measure_phase(r, o, f, f * max_rate, Path(tmp)))
                e2e += harness.scrape(r.port, "learnpulse_e2e_append_to_redis_seconds_count") or 0
            finally:
                r.feed.stop.set()
                r.feed.join(2)

    if not fresh_stack:
        one_stack(levels, max_rate is None, "all")
    else:
        if max_rate is None:
            one_stack([], True, "max")
        for f in levels:
            console.print(f"load {f:.0%}: a fresh broker, Redis and worker")
            one_stack([f], False, f"load-{f}")
    assert max_rate is not None
    if floor:
        for p in phases:
            p.floor_p50, p.floor_p99, p.floor_broker_cpu = measure_floor(
                o, p.target_rate, fetch_wait_ms
            )
    t = Table(
        title=f"End-to-end latency, Kafka append -> Redis pub/sub, one {worker} worker, "
        f"{learners:,} learners; max {max_rate:,.0f} events/s; "
        f"{'a fresh stack per level' if fresh_stack else 'one stack for all levels'}"
        f"{'; worker pinned to its own CPU' if pin_worker else ''}"
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
        "from ack p50/p99",
        "broker hop alone p50/p99",
        "worker p50/p99 ≤ ms",
        "worker CPU",
        "main thread",
        "lists ranked",
        "broker CPU (alone)",
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
            f"{p.ack_p50:.1f} / {p.ack_p99:.1f}",
            f"{p.floor_p50:.1f} / {p.floor_p99:.1f}",
            f"{p.worker_p50:.0f} / {p.worker_p99:.0f}",
            f"{p.worker_cpu:.0%}",
            f"{p.main_thread:.0%}",
            f"{p.ranked:.0%}",
            f"{p.broker_cpu:.0%} ({p.floor_broker_cpu:.0%})",
            f"{p.machine_cpu:.0%}",
        )
    console.print(t)
    if json_out is not None:
        doc = {"max_rate": max_rate, "worker": worker, "levels": [asdict(p) for p in phases]}
        json_out.write_bytes(orjson.dumps(doc))  # NaN (not measured) -> null
    if phases:
        mid = min(phases, key=lambda p: abs(p.fraction - 0.5))
        console.print(
            f"goal at {mid.fraction:.0%}: p50 <= 20 ms ({mid.p50:.1f}; {mid.ack_p50:.1f} from "
            f"the acknowledgement), p99 <= 100 ms ({mid.p99:.1f}; {mid.ack_p99:.1f}); the broker "
            f"hop alone: p50 {mid.floor_p50:.1f}, p99 {mid.floor_p99:.1f}; worker histogram "
            f"saw {e2e:,.0f} events; median of p50s {statistics.median(p.p50 for p in phases):.1f}"
        )


if __name__ == "__main__":
    typer.run(main)
