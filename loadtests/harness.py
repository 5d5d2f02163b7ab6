"""What the stream benchmarks share: a private Tansu + Redis, worker processes, sampling.

Every process a benchmark starts is a :class:`learnpulse.stack.procs.Proc` in its
own session, registered with a :class:`BenchStack`, and stopped by its own PID
when the benchmark ends, fails, or gets Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis

from learnpulse import interpreter
from learnpulse.stack.procs import Proc, free_port
from learnpulse.stack.services import (
    RedisUsers,
    create_topics,
    redis_url,
    start_redis,
    start_tansu,
)
from learnpulse.topics import Topics

PROCESSED = "learnpulse_stream_events_processed_total"


@dataclass
class BenchStack:
    """Tansu and Redis on free loopback ports, plus whatever workers get started."""

    workdir: Path
    tansu: Proc | None = None
    redis_proc: Proc | None = None
    kafka_bootstrap: str = ""
    redis_port: int = 0
    users: RedisUsers = field(default_factory=RedisUsers.generate)
    procs: list[Proc] = field(default_factory=list)

    def start(self) -> BenchStack:
        port = free_port()
        self.tansu = start_tansu(port, self.workdir / "tansu")
        self.kafka_bootstrap = f"127.0.0.1:{port}"
        self.redis_port = free_port()
        self.redis_proc = start_redis(self.redis_port, self.workdir / "redis", self.users)
        return self

    def restart_broker(self) -> None:
        """A fresh Tansu (memory storage): each repeat starts from the same empty broker."""
        if self.tansu is not None:
            self.tansu.stop()
        port = free_port()
        self.tansu = start_tansu(port, self.workdir / "tansu")
        self.kafka_bootstrap = f"127.0.0.1:{port}"

    def url(self, user: str = "lp-admin") -> str:
        password = {
            "lp-admin": self.users.admin_password,
            "lp-worker": self.users.worker_password,
            "lp-frontend": self.users.frontend_password,
        }[user]
        return redis_url(self.redis_port, user, password)

    def admin(self) -> redis.Redis:
        return redis.Redis.from_url(self.url())

    def create_topics(self, topics: Topics) -> None:
        create_topics(self.kafka_bootstrap, topics.all(), topics.compacted())

    def worker_env(
        self, topics: Topics, app_id: str, metrics_port: int, **extra: str
    ) -> dict[str, str]:
        env = {
            "LEARNPULSE_STREAMS_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "LEARNPULSE_STREAMS_REDIS_URL": self.url("lp-worker"),
            "LEARNPULSE_STREAMS_TOPIC_PREFIX": topics.prefix,
            "LEARNPULSE_STREAMS_PARTITIONS": str(topics.partitions),
            "LEARNPULSE_STREAMS_APP_ID": app_id,
            "LEARNPULSE_STREAMS_DATA_DIR": str(self.workdir / app_id),
            "LEARNPULSE_STREAMS_SESSION_TIMEOUT_S": "6",
            "LEARNPULSE_STREAMS_METRICS_PORT": str(metrics_port),
            "LEARNPULSE_STREAMS_LOG_LEVEL": "WARNING",
        }
        env.update({f"LEARNPULSE_STREAMS_{k.upper()}": v for k, v in extra.items()})
        return env

    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, list(argv), self.workdir / "logs" / f"{name}.log", env=env).start()
        self.procs.append(proc)
        return proc

    def stop_proc(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        for p in (self.redis_proc, self.tansu):
            if p is not None:
                p.stop()


@contextmanager
def bench_stack(keep: Path | None = None) -> Iterator[BenchStack]:
    """Start Tansu + Redis; stop everything on exit, on Ctrl-C and on SIGTERM."""

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, on_term)
    with tempfile.TemporaryDirectory(prefix="lp-bench-") as tmp:
        stack = BenchStack(keep or Path(tmp))
        try:
            yield stack.start()
        finally:
            stack.stop()
            signal.signal(signal.SIGTERM, old)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def scrape(port: int, name: str = PROCESSED, timeout: float = 1.0) -> float | None:
    """Sum of one Prometheus metric's samples (all labels); None if not served yet.

    Asks for that metric alone (``name[]``): rendering every metric ten times a
    second cost the measured worker ~5% of its CPU, which Prometheus (one scrape
    per 15 s) never would.
    """
    url = f"http://127.0.0.1:{port}/metrics?" + urllib.parse.urlencode({"name[]": name})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            text = r.read().decode()
    except OSError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


@dataclass
class Sample:
    t: float
    count: float
    cpu: float
    others: tuple[float, ...]


@dataclass
class Window:
    """From the first processed event to the last: the steady processing part of a run."""

    events: float
    seconds: float
    cpu_s: float
    others_cpu_s: tuple[float, ...]
    rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.events * 1e6 if self.events else float("nan")

    @property
    def per_core(self) -> float:
        return self.events / self.cpu_s if self.cpu_s > 0 else 0.0


def watch(
    pid: int,
    metrics_port: int,
    target: float,
    timeout: float,
    others: Sequence[int] = (),
    every: float = 0.1,
    on_first: Callable[[], object] | None = None,
) -> Window:
    """Sample a worker's processed-events counter and CPU until it reaches ``target``.

    The window starts at the first sample with a non-zero count (so group joins,
    recovery and start-up are excluded) and ends at the first sample at target.
    Once counting, samples are spaced by :func:`next_wait`: each scrape costs the
    worker CPU that a deployment's one scrape per 15 s never would.
    """
    proc = psutil.Process(pid)
    other = [psutil.Process(p) for p in others]
    first: Sample | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
            raise RuntimeError(f"worker {pid} exited before processing {target:.0f} events")
        count = scrape(metrics_port)
        now = time.monotonic()
        if count:
            s = Sample(now, count, cpu_seconds(proc), tuple(cpu_seconds(o) for o in other))
            if first is None:
                first = s
                if on_first is not None:
                    on_first()
            if count >= target:
                rss = proc.memory_info().rss / 2**20
                return Window(
                    s.count - first.count,
                    s.t - first.t,
                    s.cpu - first.cpu,
                    tuple(b - a for a, b in zip(first.others, s.others, strict=True)),
                    rss,
                )
            time.sleep(next_wait(count - first.count, s.t - first.t, target - count, every))
            continue
        time.sleep(every)
    got = 0.0 if first is None else first.count
    raise TimeoutError(f"worker {pid} processed {got:.0f}+ of {target:.0f} events in {timeout}s")


def next_wait(done: float, elapsed: float, remaining: float, every: float = 0.1) -> float:
    """Seconds to the next progress scrape: half the time the rest should take at the
    rate so far, between ``every`` and 1 s.

    Scraping ten times a second cost the worker 3-4% of its CPU (py-spy, fifteenth
    round: the metrics server's request threads and rendering). Halving the wait as
    the target nears keeps the window's end within ``every`` of the last event.
    """
    if done <= 0 or elapsed <= 0:
        return every
    return max(every, min(1.0, remaining / (done / elapsed) / 2))


def wait_metrics(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scrape(port) is not None:
            return
        time.sleep(0.1)
    raise TimeoutError(f"no metrics on port {port} after {timeout}s")


def pct(values: list[float], q: float) -> float:
    """Quantile q of ``values`` (the value at rank q of the sorted list); NaN if empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def machine_line(m: dict[str, str] | None = None) -> str:
    """The line every benchmark prints first: what it ran on, and at which commit."""
    m = m or machine()
    return (
        f"machine: {m['nproc']} CPUs, {m['cpu']}, {m.get('interpreter') or m['python']}, "
        f"load {m['load']}, reference loop {m['speed']}, commit {m['commit']}"
    )


def _reference_work() -> float:
    # Dict reads and writes and float arithmetic, like the models' inner loops.
    d: dict[int, float] = {}
    acc = 0.0
    for i in range(200_000):
        k = i & 1023
        v = d.get(k, 0.0) * 0.5 + i
        d[k] = v
        acc += v**0.5
    return acc


def reference_speed(runs: int = 5) -> float:
    """CPU ms of a fixed pure-Python loop, best of ``runs``: the same code on the
    same nominal machine took up to 1.8x longer on some days than on others
    (RESULTS.md, eighth round), so figures from different days are compared
    through this."""
    import time

    best = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        _reference_work()
        best = min(best, time.process_time() - t0)
    return best * 1000


def machine() -> dict[str, str]:
    import os
    import platform

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import subprocess

    try:
        root = Path(__file__).resolve().parents[1]
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--",
                "streams",
                "schemas",
                "learnpulse",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit += " + uncommitted changes in streams/schemas/learnpulse" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "commit": commit,
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        # The build matters as much as the version: 8-20% of the worker's CPU per
        # event between pyenv's default and an optimized build (decision 0028).
        "interpreter": str(interpreter.describe()),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "speed": f"{reference_speed():.0f} ms",
    }
