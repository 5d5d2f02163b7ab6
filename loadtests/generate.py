"""Load generator: the synthetic organisation's events, at a target rate, to Kafka or HTTP.

    .venv/bin/python -m loadtests.generate --learners 10000 --rate 5000 --duration 30 \\
        --to kafka --bootstrap 127.0.0.1:9092
    .venv/bin/python -m loadtests.generate --learners 10000 --rate 0 --count 200000 --to kafka ...
    .venv/bin/python -m loadtests.generate --learners 1000 --rate 500 --duration 20 \\
        --to http --url http://127.0.0.1:8080 --token "$TOKEN"

Events come from :class:`learnpulse.synth.Organisation` (seeded, so two runs send
the same stream), scaled to ``--learners``; when the simulated window is used
up the stream starts over with fresh event ids, so any duration works.

``--clock`` says what the events' times mean:

* ``live`` (default): each event is restamped when it is sent, as if it happened
  now (keeping its original occurred-to-received lag). What a live company sends.
* ``shift``: all times move by one offset so the first event happens now; the
  simulated gaps between a learner's events are kept (at high rates the stream
  runs ahead of the wall clock). Models see realistic rhythms; no silence timer
  falls due during a run.
* ``history``: the simulated window ends now, times are kept: a replay of the
  last ``--days`` (silence timers of learners who stopped fall due at once).

Kafka: Avro in the Confluent wire format, key = learner id, on
``<prefix>learning.activity.recorded.v1``; with ``--reference`` (default) the
catalog, paths, role skills and profiles are published first. HTTP: ``POST
/v1/events`` JSON arrays of ``--batch`` native events with a bearer token; the
key must allow the sources the synthetic tools use (lms, lxp, quiz, video), e.g.
``learnpulse keys create loadgen -s lms -s lxp -s quiz -s video --rate 100000
--burst 200000``. Rate 0 means as fast as possible.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import schemas
from learnpulse.synth import Organisation
from learnpulse.synth.catalog import DAY_MS
from learnpulse.topics import Topics

# Fields the gateway fills in itself; a native HTTP event must not carry them.
_GATEWAY_FIELDS = ("received_at_ms", "source_format")


class Clock(StrEnum):
    live = "live"
    shift = "shift"
    history = "history"


class Target(StrEnum):
    kafka = "kafka"
    http = "http"


@dataclass
class Workload:
    """An organisation and an endless, restamped stream of its activity events."""

    org: Organisation
    clock: Clock
    wall: Callable[[], float] = time.time
    tag: str = ""  # appended to event ids, so two runs over one org never collide

    @staticmethod
    def create(
        learners: int, seed: int = 7, clock: Clock = Clock.live, days: float = 60.0, tag: str = ""
    ) -> Workload:
        start = None
        if clock is Clock.history:
            start = int(time.time() * 1000) - int(days * DAY_MS)
        kwargs: dict[str, Any] = {"horizon_days": days}
        if start is not None:
            kwargs["start_ms"] = start
        return Workload(Organisation.generate(learners, seed=seed, **kwargs), clock, tag=tag)

    def reference_records(self) -> dict[str, list[dict[str, Any]]]:
        return self.org.reference_records()

    def events(self) -> Iterator[dict[str, Any]]:
        """Activity events forever; cycle k > 0 replays the window with new ids, later."""
        span = int(self.org.horizon_days * DAY_MS)
        offset: int | None = None
        cycle = 0
        while True:
            n = 0
            for ev in self.org.events():
                n += 1
                if cycle or self.tag:
                    ev["event_id"] = f"{ev['event_id']}-{self.tag}c{cycle}"
                if self.clock is Clock.live:
                    now = int(self.wall() * 1000)
                    lag = max(0, ev["received_at_ms"] - ev["occurred_at_ms"])
                    ev["occurred_at_ms"], ev["received_at_ms"] = now - lag, now
                else:
                    if offset is None:
                        offset = (
                            int(self.wall() * 1000) - ev["occurred_at_ms"]
                            if self.clock is Clock.shift
                            else 0
                        )
                    shift = offset + cycle * span
                    ev["occurred_at_ms"] += shift
                    ev["received_at_ms"] += shift
                yield ev
            if n == 0:
                return
            cycle += 1


def encode(ev: dict[str, Any]) -> tuple[bytes, bytes]:
    """(key, value) of one event as the streams read it."""
    return ev["learner_id"].encode(), schemas.encode(schemas.ACTIVITY, ev)


def native_json(ev: dict[str, Any]) -> dict[str, Any]:
    """The event as a native ``POST /v1/events`` item."""
    return {k: v for k, v in ev.items() if k not in _GATEWAY_FIELDS}


@dataclass
class Counts:
    sent: int = 0
    acked: int = 0
    errors: int = 0
    retries: int = 0
    last_error: str = ""


class KafkaSink:
    """Idempotent acks=all producer (as publishers use); counts acknowledgements."""

    def __init__(
        self, bootstrap: str, topics: Topics, counts: Counts, linger_ms: int = 5, **extra: Any
    ) -> None:
        from learnpulse.publish import producer

        self.topics = topics
        self.counts = counts
        self.p = producer(bootstrap, **{"linger.ms": linger_ms, **extra})

    def _ack(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.counts.acked += 1
        else:
            self.counts.errors += 1
            self.counts.last_error = str(err)

    def reference(self, records: dict[str, list[dict[str, Any]]]) -> int:
        from learnpulse.publish import publish_reference

        n = publish_reference(self.p, self.topics, records)
        left = self.p.flush(60)
        if left:
            raise RuntimeError(f"{left} reference records not acknowledged")
        return n

    def send(
        self,
        key: bytes,
        value: bytes,
        timestamp_ms: int = 0,
        on_delivery: Callable[[Any, Any], None] | None = None,
    ) -> None:
        while True:
            try:
                self.p.produce(
                    self.topics.activity,
                    value=value,
                    key=key,
                    on_delivery=on_delivery or self._ack,
                    timestamp=timestamp_ms,
                )
                self.counts.sent += 1
                return
            except BufferError:
                self.p.poll(0.05)

    def poll(self) -> None:
        self.p.poll(0)

    def flush(self, timeout: float = 60) -> int:
        return int(self.p.flush(timeout))


class HttpSender:
    """``concurrency`` keep-alive clients POSTing batches; 429/503 wait Retry-After and retry."""

    def __init__(self, url: str, token: str, counts: Counts, concurrency: int = 4) -> None:
        import httpx

        self.url = url.rstrip("/") + "/v1/events"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.counts = counts
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=concurrency * 2)
        self.client = httpx.AsyncClient(
            timeout=30,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.tasks = [asyncio.create_task(self._worker()) for _ in range(concurrency)]

    async def _worker(self) -> None:
        while (body := await self.queue.get()) is not None:
            n = body.count(b'"event_id"')
            while True:
                try:
                    r = await self.client.post(self.url, content=body, headers=self.headers)
                except Exception as exc:  # connection refused, timeouts: count and retry
                    self.counts.retries += 1
                    self.counts.last_error = f"{type(exc).__name__}: {exc}"
                    await asyncio.sleep(1.0)
                    continue
                if r.status_code in (429, 503):
                    self.counts.retries += 1
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                if r.status_code == 200:
                    self.counts.acked += n
                else:
                    self.counts.errors += n
                    self.counts.last_error = f"HTTP {r.status_code}: {r.text[:300]}"
                break

    async def send(self, batch: list[dict[str, Any]]) -> None:
        await self.queue.put(orjson.dumps(batch))
        self.counts.sent += len(batch)

    async def close(self) -> None:
        for _ in self.tasks:
            await self.queue.put(None)
        await asyncio.gather(*self.tasks)
        await self.client.aclose()


def chunk_for(rate: float) -> int:
    """Events sent between two pacing checks: ~5 ms worth, 1..500."""
    return 500 if rate <= 0 else max(1, min(500, int(rate / 200)))


def _progress(console: Console, total: int | None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:>10,.0f}"),
        TextColumn("[cyan]{task.fields[rate]:>8,.0f}/s"),
        TextColumn(
            "acked [green]{task.fields[acked]:,}[/] errors [red]{task.fields[errors]:,}[/] "
            "retries {task.fields[retries]:,}"
        ),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _logged(sink: KafkaSink, sends: Any, ev: dict[str, Any], ts: int) -> Callable[[Any, Any], None]:
    line = f"{ev['event_id']} {ev['learner_id']} {ts}"

    def on_delivery(err: Any, msg: Any) -> None:
        sink._ack(err, msg)
        if err is None:
            sends.write(f"{line} {max(0.0, msg.latency()) * 1e6:.0f}\n")

    return on_delivery


def run_kafka(
    w: Workload,
    sink: KafkaSink,
    rate: float,
    duration: float | None,
    count: int | None,
    console: Console,
    sends: Any = None,
) -> Counts:
    """Produce at ``rate``; with ``sends`` (a text file) log ``event_id learner ts_ms ack_us``
    lines: ``ts_ms`` is the record's Kafka timestamp (taken at ``produce()``), ``ack_us``
    librdkafka's own time from ``produce()`` to the broker's acknowledgement
    (``Message.latency()``). The append happened in between. A line is written when
    its record is acknowledged (per learner, in send order: one partition each)."""
    total = count if count else (int(rate * duration) if rate and duration else None)
    counts = sink.counts
    step = chunk_for(rate)
    with _progress(console, total) as prog:
        task = prog.add_task("kafka", total=total, rate=0.0, acked=0, errors=0, retries=0)
        t0 = time.monotonic()
        last_ui, last_n = t0, 0
        events = w.events()
        while True:
            for _ in range(min(step, count - counts.sent) if count else step):
                ev = next(events)
                key, value = encode(ev)
                if sends is None:
                    sink.send(key, value)
                else:
                    ts = int(time.time() * 1000)
                    sink.send(key, value, ts, _logged(sink, sends, ev, ts))
            sink.poll()
            now = time.monotonic()
            n = counts.sent
            if (count and n >= count) or (duration and now - t0 >= duration):
                break
            if rate > 0 and (wait := t0 + n / rate - now) > 0:
                time.sleep(wait)
            if now - last_ui >= 0.25:
                prog.update(
                    task,
                    completed=n,
                    rate=(n - last_n) / (now - last_ui),
                    acked=counts.acked,
                    errors=counts.errors,
                )
                last_ui, last_n = now, n
        left = sink.flush()
        dt = time.monotonic() - t0
        prog.update(
            task,
            completed=counts.sent,
            rate=counts.sent / dt,
            acked=counts.acked,
            errors=counts.errors + left,
        )
    return counts


async def run_http(
    w: Workload,
    url: str,
    token: str,
    rate: float,
    duration: float | None,
    count: int | None,
    batch: int,
    concurrency: int,
    console: Console,
) -> Counts:
    counts = Counts()
    sender = HttpSender(url, token, counts, concurrency)
    total = count if count else (int(rate * duration) if rate and duration else None)
    events = w.events()
    step = batch if rate <= 0 else max(1, min(batch, int(rate / 50)))
    with _progress(console, total) as prog:
        task = prog.add_task("http", total=total, rate=0.0, acked=0, errors=0, retries=0)
        t0 = time.monotonic()
        last_ui, last_n = t0, 0
        try:
            while True:
                k = min(step, count - counts.sent) if count else step
                await sender.send([native_json(next(events)) for _ in range(k)])
                now = time.monotonic()
                n = counts.sent
                if (count and n >= count) or (duration and now - t0 >= duration):
                    break
                if rate > 0 and (wait := t0 + n / rate - now) > 0:
                    await asyncio.sleep(wait)
                if now - last_ui >= 0.25:
                    prog.update(
                        task,
                        completed=n,
                        rate=(n - last_n) / (now - last_ui),
                        acked=counts.acked,
                        errors=counts.errors,
                        retries=counts.retries,
                    )
                    last_ui, last_n = now, n
        finally:
            await sender.close()
        dt = time.monotonic() - t0
        prog.update(
            task,
            completed=counts.sent,
            rate=counts.sent / dt,
            acked=counts.acked,
            errors=counts.errors,
            retries=counts.retries,
        )
    return counts


app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


@app.command()
def main(
    learners: Annotated[int, typer.Option(help="learners in the synthetic organisation")] = 10_000,
    rate: Annotated[float, typer.Option(help="events/s to aim at; 0 = as fast as possible")] = 5000,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    count: Annotated[int | None, typer.Option(help="stop after this many events")] = None,
    to: Annotated[Target, typer.Option(help="kafka (Avro wire format) or http (gateway)")] = (
        Target.kafka
    ),
    bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers")] = "127.0.0.1:9092",
    topic_prefix: Annotated[str, typer.Option(help="topic prefix")] = "lp.",
    partitions: Annotated[int, typer.Option(help="partitions when creating topics")] = 4,
    create: Annotated[bool, typer.Option(help="create the topics first (Kafka)")] = False,
    reference: Annotated[
        bool, typer.Option(help="publish catalog, paths, role skills, profiles first (Kafka)")
    ] = True,
    url: Annotated[str, typer.Option(help="ingest gateway base URL")] = "http://127.0.0.1:8080",
    token: Annotated[
        str, typer.Option(envvar="LEARNPULSE_LOADGEN_TOKEN", help="ingest API key (Bearer)")
    ] = "",
    batch: Annotated[int, typer.Option(help="events per HTTP request")] = 100,
    concurrency: Annotated[int, typer.Option(help="HTTP requests in flight")] = 4,
    clock: Annotated[Clock, typer.Option(help="live | shift | history (see above)")] = Clock.live,
    days: Annotated[float, typer.Option(help="simulated window of the organisation")] = 60.0,
    seed: Annotated[int, typer.Option(help="seed of the organisation")] = 7,
    tag: Annotated[str, typer.Option(help="suffix for event ids (repeat runs on one org)")] = "",
    sends_log: Annotated[
        Path | None,
        typer.Option(
            help="Kafka: write 'event_id learner_id timestamp_ms ack_us' per acknowledged "
            "event here (ack_us: produce() to the broker's acknowledgement)"
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
    linger_ms: Annotated[
        int, typer.Option(help="Kafka: producer linger.ms (records wait this long to batch)")
    ] = 5,
) -> None:
    """Send the synthetic organisation's events (see the module docstring)."""
    console = Console(stderr=True)
    if duration is None and count is None:
        raise typer.BadParameter("give --duration and/or --count")
    t = time.perf_counter()
    if quiet:
        console = Console(stderr=True, quiet=True)
    w = Workload.create(learners, seed=seed, clock=clock, days=days, tag=tag)
    console.print(
        f"organisation of {learners:,} learners, {len(w.org.catalog.items):,} content "
        f"items in {time.perf_counter() - t:.1f} s; clock {clock.value}"
    )
    if to is Target.kafka:
        topics = Topics(prefix=topic_prefix, partitions=partitions)
        if create:
            from learnpulse.stack.services import create_topics

            create_topics(bootstrap, topics.all(), topics.compacted())
        sink = KafkaSink(bootstrap, topics, Counts(), linger_ms=linger_ms)
        if reference:
            console.print(f"published {sink.reference(w.reference_records()):,} reference records")
        if sends_log is None:
            counts = run_kafka(w, sink, rate, duration, count, console)
        else:
            with sends_log.open("w") as sends:
                counts = run_kafka(w, sink, rate, duration, count, console, sends)
    else:
        if not token:
            raise typer.BadParameter("--to http needs --token (or LEARNPULSE_LOADGEN_TOKEN)")
        counts = asyncio.run(
            run_http(w, url, token, rate, duration, count, batch, concurrency, console)
        )
    if counts.last_error:
        console.print(f"[red]last error:[/] {counts.last_error}")
    console.print(f"sent {counts.sent:,}, acknowledged {counts.acked:,}, errors {counts.errors:,}")
    if counts.errors or counts.acked < counts.sent:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
