"""Stream throughput per worker process: faust floor, real worker, plain loop, in one run.

    .venv/bin/python -m loadtests.throughput [--events 100000] [--learners 10000] [--repeats 3]

Starts its own Tansu and Redis on free loopback ports and stops them (and every
worker) at the end, on failure and on Ctrl-C. Each repeat starts a fresh broker
and runs each variant, one process at a time, on its own topics and consumer
group: the synthetic organisation's reference data and profiles are published,
the worker is started and waited for until it holds every profile, and only
then are the ``--events`` activity events produced (clock ``shift``: realistic
gaps, no silence timer due) as one backlog:

* ``noop``  the faust floor (``loadtests.noop_worker``): same app, settings and
  fetch-wait patch, ``take_events`` batches, only counts;
* ``real``  the stream worker, ``python -m streams``, full processing (decode,
  dedupe, state, models, ranking, Redis pipeline, audit records, changelog,
  commits);
* ``plain`` the same ``LearnBatch`` and sinks driven by a confluent-kafka
  ``consume(500)`` loop (``loadtests.plain_worker``): the Python ceiling.

More variants: ``--variant NAME=KIND+patch+patch`` (KIND is noop, real or
plain; patches from ``loadtests.patches``), e.g. ``--variant real-uv=real+uvloop``.

The window of a run is from the first to the last processed event, read from
the worker's ``learnpulse_stream_events_processed_total`` every 0.1 s (group
join, recovery and start-up are excluded); CPU is the worker process's user +
system time over that window (psutil), so CPU µs/event and events/s per core
hold even when the machine is shared. Variants rotate order between repeats;
medians are printed. Nothing here asserts a timing.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from learnpulse.stack.procs import free_port
from learnpulse.topics import Topics
from loadtests import harness
from loadtests.generate import Clock, Counts, KafkaSink, Workload, encode

console = Console(width=150)
KINDS = {"noop": "loadtests.noop_worker", "real": "streams", "plain": "loadtests.plain_worker"}


@dataclass
class Variant:
    name: str
    kind: str
    patches: tuple[str, ...] = ()

    @staticmethod
    def parse(spec: str) -> Variant:
        name, _, rest = spec.partition("=")
        kind, *patches = (rest or name).split("+")
        if kind not in KINDS:
            raise typer.BadParameter(f"unknown kind {kind!r} in {spec!r} (noop, real, plain)")
        from loadtests.patches import PATCHES

        for p in patches:
            if p not in PATCHES:
                raise typer.BadParameter(f"unknown patch {p!r}; known: {', '.join(PATCHES)}")
        return Variant(name, kind, tuple(patches))

    def argv(self) -> list[str]:
        module = KINDS[self.kind]
        if self.kind == "real" and self.patches:
            module = "loadtests.real_worker"
        return harness.python_module(module)


@dataclass
class Run:
    variant: str
    repeat: int
    rate: float
    cpu_us: float
    per_core: float
    util: float
    broker_us: float
    redis_us: float
    rss_mb: float
    mean_batch: float = float("nan")


@dataclass
class Results:
    events: int
    learners: int
    runs: list[Run] = field(default_factory=list)

    def median(self, variant: str, attr: str) -> float:
        vals = [getattr(r, attr) for r in self.runs if r.variant == variant]
        return statistics.median(vals) if vals else float("nan")


def pre_encode(learners: int, events: int, seed: int) -> tuple[Workload, list[tuple[bytes, bytes]]]:
    w = Workload.create(learners, seed=seed, clock=Clock.shift)
    stream = w.events()
    return w, [encode(next(stream)) for _ in range(events)]


def load_reference(stack: harness.BenchStack, topics: Topics, w: Workload) -> None:
    """Topics, catalog, paths, role skills and every learner's profile."""
    stack.create_topics(topics)
    KafkaSink(stack.kafka_bootstrap, topics, Counts(), linger_ms=20).reference(
        w.reference_records()
    )


def load_activity(
    stack: harness.BenchStack, topics: Topics, records: list[tuple[bytes, bytes]]
) -> float:
    """Produce the activity backlog; returns the seconds it took."""
    t0 = time.perf_counter()
    sink = KafkaSink(stack.kafka_bootstrap, topics, Counts(), linger_ms=20)
    for i, (key, value) in enumerate(records):
        sink.send(key, value)
        if i % 2000 == 0:
            sink.poll()
    if sink.flush(120) or sink.counts.errors:
        raise RuntimeError(f"pre-produce failed: {sink.counts.last_error}")
    return time.perf_counter() - t0


def wait_profiles(port: int, learners: int, timeout: float) -> None:
    """Until the worker holds every learner's profile (``learnpulse_learners_in_state``).

    Profiles and activity are different topics, and which one a new consumer reads
    first is the fetcher's choice: when activity came first, every learner was
    ranked once without a profile and again when it arrived, and runs of the same
    variant differed by up to 70%. A deployed worker has the profiles long before
    the activity, so the backlog is produced only once they are applied.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (harness.scrape(port, "learnpulse_learners_in_state") or 0) >= learners:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the worker did not apply {learners:,} profiles in {timeout:.0f} s")


def run_variant(
    stack: harness.BenchStack,
    v: Variant,
    topics: Topics,
    repeat: int,
    w: Workload,
    records: list[tuple[bytes, bytes]],
    timeout: float,
    profile_dir: Path | None = None,
) -> Run:
    """One worker on its own topics: profiles first, then the activity backlog."""
    stack.admin().flushall()
    load_reference(stack, topics, w)
    if v.kind == "noop":  # reads activity only: the backlog is there before it starts
        load_activity(stack, topics, records)
    port = free_port()
    env = stack.worker_env(topics, f"bench-{v.name}-{repeat}-{int(time.time())}", port)
    env["LP_BENCH_PATCHES"] = ",".join(v.patches)
    proc = stack.spawn(f"{v.name}-{repeat}", v.argv(), env)
    spy: list[harness.Proc] = []
    events = len(records)
    try:
        assert proc.pid is not None and stack.tansu and stack.redis_proc
        pid = proc.pid
        if v.kind != "noop":
            wait_profiles(port, len(w.org.learner_ids), timeout)
            load_activity(stack, topics, records)
        others = [stack.tansu.pid or 0, stack.redis_proc.pid or 0]

        def attach() -> None:
            # profile the processing only: attach when the first event is processed
            if profile_dir is not None:
                spy.append(start_spy(stack, pid, profile_dir / f"{v.name}.txt"))

        win = harness.watch(pid, port, events, timeout, others, on_first=attach)
        n = harness.scrape(port, "learnpulse_stream_batch_size_count")
        total = harness.scrape(port, "learnpulse_stream_batch_size_sum")
        mean_batch = total / n if n and total is not None else float("nan")
    finally:
        stack.stop_proc(proc)
        for sp in spy:
            # py-spy writes its file when the process it samples exits.
            with contextlib.suppress(Exception):
                sp.popen.wait(30)  # type: ignore[union-attr]
            stack.stop_proc(sp)
    return Run(
        v.name,
        repeat,
        win.rate,
        win.cpu_us,
        win.per_core,
        win.cpu_s / win.seconds,
        win.others_cpu_s[0] / win.events * 1e6,
        win.others_cpu_s[1] / win.events * 1e6,
        win.rss_mb,
        mean_batch,
    )


def start_spy(
    stack: harness.BenchStack, pid: int, out: Path, duration_s: float | None = None
) -> harness.Proc:
    import shutil
    import sys

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    return stack.spawn(
        f"py-spy-{out.stem}",
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            # LP_SPY_NATIVE=1: C frames too (compiled models, librdkafka); py-spy then
            # pauses the worker per sample, so its figures are not comparable.
            *(["--native"] if os.environ.get("LP_SPY_NATIVE") else ["--nonblocking"]),
            *(["--threads", "--duration", str(max(1, round(duration_s)))] if duration_s else []),
        ],
        {},
    )


def print_results(res: Results, variants: list[Variant]) -> None:
    t = Table(
        title=f"Stream throughput, one worker process, {res.events:,} events from "
        f"{res.learners:,} learners (medians of {len({r.repeat for r in res.runs})})"
    )
    for col in (
        "variant",
        "events/s",
        "CPU µs/event",
        "events/s per core",
        "worker CPU",
        "Tansu µs/ev",
        "Redis µs/ev",
        "RSS MB",
        "mean batch",
        "runs (events/s)",
    ):
        t.add_column(col, justify="left" if col in ("variant", "runs (events/s)") else "right")
    for v in variants:
        runs = [r for r in res.runs if r.variant == v.name]
        if not runs:
            continue
        m = res.median
        t.add_row(
            v.name,
            f"{m(v.name, 'rate'):,.0f}",
            f"{m(v.name, 'cpu_us'):.1f}",
            f"{m(v.name, 'per_core'):,.0f}",
            f"{m(v.name, 'util'):.0%}",
            f"{m(v.name, 'broker_us'):.1f}",
            f"{m(v.name, 'redis_us'):.1f}",
            f"{m(v.name, 'rss_mb'):.0f}",
            f"{m(v.name, 'mean_batch'):.0f}",
            " ".join(f"{r.rate:,.0f}" for r in runs),
        )
    console.print(t)
    names = [v.name for v in variants]
    for a, b in (("real", "plain"), ("real", "noop"), ("plain", "noop")):
        if a in names and b in names:
            console.print(
                f"{a}/{b}: events/s {res.median(a, 'rate') / res.median(b, 'rate'):.2f}"
                f", per core {res.median(a, 'per_core') / res.median(b, 'per_core'):.2f}"
            )
    for v in variants:
        if v.patches:
            base = v.kind if v.kind in names else None
            if base:
                rate = res.median(v.name, "rate") / res.median(base, "rate")
                core = res.median(v.name, "per_core") / res.median(base, "per_core")
                console.print(f"{v.name}/{base}: events/s {rate:.2f}, per core {core:.2f}")


def main(
    events: Annotated[int, typer.Option(help="activity events pre-produced per repeat")] = 100_000,
    learners: Annotated[int, typer.Option(help="learners in the organisation")] = 10_000,
    repeats: Annotated[int, typer.Option(help="repeats; medians are printed")] = 3,
    partitions: Annotated[int, typer.Option(help="partitions of the learner topics")] = 4,
    variant: Annotated[
        list[str] | None,
        typer.Option(help="NAME or NAME=KIND+patch..., repeatable (default: noop, real, plain)"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="max seconds per variant run")] = 240.0,
    keep_logs: Annotated[
        Path | None,
        typer.Option(help="keep the stack's working directory (worker logs) here"),
    ] = None,
    seed: Annotated[int, typer.Option(help="organisation seed")] = 7,
    profile: Annotated[
        Path | None,
        typer.Option(
            help="after the repeats, one more run per variant under py-spy; raw stacks here"
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write all runs here")] = None,
) -> None:
    """Measure and print; see the module docstring."""
    variants = [Variant.parse(s) for s in (variant or ["noop", "real", "plain"])]
    m = harness.machine()
    console.print(harness.machine_line(m))
    t0 = time.perf_counter()
    w, records = pre_encode(learners, events, seed)
    console.print(
        f"{events:,} events from {learners:,} learners encoded in {time.perf_counter() - t0:.1f} s"
    )
    res = Results(events, learners)
    with harness.bench_stack(keep_logs) as stack, Progress(console=console, transient=True) as prog:
        passes = repeats + (1 if profile else 0)
        task = prog.add_task("runs", total=passes * len(variants))
        for rep in range(passes):
            if rep:
                stack.restart_broker()
            order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
            for i, v in enumerate(order):
                prog.update(task, description=f"repeat {rep + 1}: {v.name}")
                spy_dir = profile if rep == repeats else None
                topics = Topics(prefix=f"r{rep}v{i}.", partitions=partitions)
                run = run_variant(stack, v, topics, rep, w, records, timeout, spy_dir)
                if spy_dir is None:
                    res.runs.append(run)
                    prog.console.print(
                        f"  repeat {rep + 1} {v.name:>10}: {run.rate:8,.0f} "
                        f"events/s, {run.cpu_us:6.1f} CPU µs/event"
                    )
                prog.advance(task)
    print_results(res, variants)
    if json_out:
        json_out.write_text(
            json.dumps(
                {
                    "machine": m,
                    "events": events,
                    "learners": learners,
                    "runs": [asdict(r) for r in res.runs],
                },
                indent=1,
            )
        )
    if profile:
        from loadtests.profile_summary import summarise

        for v in variants:
            path = profile / f"{v.name}.txt"
            if path.exists():
                console.print(summarise(path, title=f"py-spy: {v.name}"))


if __name__ == "__main__":
    typer.run(main)
