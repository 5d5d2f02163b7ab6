"""Memory per learner: stream state, Redis values, and process RSS after 100,000 learners.

    .venv/bin/python -m loadtests.memory [--learners 100000] [--events 500000] [--heavy 2000]

Drives the worker's own ``LearnBatch`` in this process with a ``DictStore`` (the
faust table of the worker keeps the same bytes per learner in a dict), in
batches of 500: every learner's profile, then ``--events`` activity events of
the synthetic organisation (Avro wire format, as on the topic). Reports:

* stream state: bytes of each learner's orjson state in the store (mean and
  percentiles, and by events applied to the learner);
* a long history: ``--heavy`` learners run through the organisation's whole
  60-day window, to show where the state size settles (sections are bounded);
* Redis: the last values of every learner written to a private redis-server
  (stopped at the end) with the worker's TTL, ``MEMORY USAGE`` averaged over a
  sample of keys, and ``used_memory`` per learner;
* RSS of this process before and after (Python + River + reference data + the
  states), i.e. what one worker holding these learners needs.

Goal: at most 4 KB of stream state per learner. Prints; never asserts.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import tempfile
import time
import zlib
from pathlib import Path
from typing import Annotated, Any

import psutil
import typer
from rich.console import Console
from rich.table import Table

import schemas
from learnpulse.synth import Organisation
from learnpulse.topics import Topics
from loadtests.generate import Clock, Workload
from streams.models.state import unpack

console = Console(width=150)


def mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB"


def build_batch(org: Organisation, topics: Topics) -> Any:
    from streams.batch import DictStore, LearnBatch
    from streams.reference import ReferenceData

    ref = ReferenceData()
    recs = org.reference_records()
    for item in recs["catalog"]:
        ref.apply("catalog", item["content_id"], item)
    for item in recs["paths"]:
        ref.apply("paths", item["path_id"], item)
    for item in recs["role_skills"]:
        ref.apply("role_skills", item["role"], item)
    from streams.settings import StreamsSettings

    # As the worker reads it (the no-decoded-states patch sets it to 0).
    decoded = os.environ.get("LEARNPULSE_STREAMS_DECODED_STATES")
    if decoded is None:
        decoded = StreamsSettings.model_fields["decoded_states"].default
    return LearnBatch(topics, DictStore(), ref, decoded_states=int(decoded))


def encoded_workload(
    learners: int, events: int, prefix: str
) -> tuple[Any, list[Any], list[Any], int]:
    """A ``LearnBatch`` for a synthetic organisation, its profiles and ``events``
    activity events as the worker receives them (Avro, keyed, partitioned), and
    the last event's time. For benchmarks that call ``handle`` directly."""
    from streams.batch import Msg

    topics = Topics(prefix=prefix)
    org = Organisation.generate(learners, seed=7)
    batch = build_batch(org, topics)
    offsets = [0] * topics.partitions

    def msg(topic: str, learner: str, value: bytes, ts: int) -> Msg:
        p = zlib.crc32(learner.encode()) % topics.partitions
        offsets[p] += 1
        return Msg(topic, p, offsets[p], learner.encode(), value, ts)

    profiles = [
        msg(
            topics.profiles, p["learner_id"], schemas.encode(schemas.PROFILE, p), p["updated_at_ms"]
        )
        for p in org.profiles()
    ]
    stream = Workload(org, Clock.shift).events()
    acts, last_ms = [], 0
    for _ in range(events):
        ev = next(stream)
        last_ms = ev["received_at_ms"]
        value = schemas.encode(schemas.ACTIVITY, ev)
        acts.append(msg(topics.activity, ev["learner_id"], value, last_ms))
    return batch, profiles, acts, last_ms


def drive(
    batch: Any,
    topics: Topics,
    org: Organisation,
    events: int | None,
    clock: Clock = Clock.shift,
    size: int = 500,
) -> tuple[dict[str, bytes], int, float]:
    """Profiles then activity through ``batch``; returns last Redis values, events, seconds."""
    from streams.batch import Msg
    from streams.models.state import exact

    last: dict[str, bytes] = {}
    offsets = [0] * topics.partitions
    n_events = 0
    t0 = time.perf_counter()

    def flush(msgs: list[Msg]) -> None:
        fx = batch.handle(msgs)
        # Exact-size copies: orjson's small outputs sit in 4-8 KB buffers, which
        # a worker frees after the Redis write but this copy would keep.
        last.update((k, exact(v)) for k, v in fx.redis_values.items())
        batch.save_states(fx)
        msgs.clear()

    def msg(topic: str, learner: str, value: bytes, ts: int) -> Msg:
        p = zlib.crc32(learner.encode()) % topics.partitions
        offsets[p] += 1
        return Msg(topic, p, offsets[p], learner.encode(), value, ts)

    pending: list[Msg] = []
    for prof in org.profiles():
        pending.append(
            msg(
                topics.profiles,
                prof["learner_id"],
                schemas.encode(schemas.PROFILE, prof),
                prof["updated_at_ms"],
            )
        )
        if len(pending) >= size:
            flush(pending)
    flush(pending)
    w = Workload(org, clock)
    stream = w.events() if events else org.events()
    for ev in stream:
        pending.append(
            msg(
                topics.activity,
                ev["learner_id"],
                schemas.encode(schemas.ACTIVITY, ev),
                ev["received_at_ms"],
            )
        )
        n_events += 1
        if len(pending) >= size:
            flush(pending)
        if events and n_events >= events:
            break
    flush(pending)
    return last, n_events, time.perf_counter() - t0


def state_table(title: str, data: dict[str, bytes]) -> Table:

    sizes = sorted(len(v) for v in data.values())
    by_n: dict[str, list[int]] = {}
    for v in data.values():
        n = unpack(v).get("n", 0)
        bucket = (
            "0 (profile only)"
            if n == 0
            else "1"
            if n == 1
            else "2-5"
            if n <= 5
            else "6-20"
            if n <= 20
            else "21-100"
            if n <= 100
            else "> 100"
        )
        by_n.setdefault(bucket, []).append(len(v))
    t = Table(title=title)
    for col in ("learners", "events applied", "mean B", "p50 B", "p95 B", "p99 B", "max B"):
        t.add_column(col, justify="right")

    def row(label: str, xs: list[int]) -> None:
        xs = sorted(xs)
        t.add_row(
            f"{len(xs):,}",
            label,
            f"{statistics.fmean(xs):,.0f}",
            f"{xs[len(xs) // 2]:,}",
            f"{xs[int(len(xs) * 0.95)]:,}",
            f"{xs[int(len(xs) * 0.99)]:,}",
            f"{xs[-1]:,}",
        )

    order = ("0 (profile only)", "1", "2-5", "6-20", "21-100", "> 100")
    for label in order:
        if label in by_n:
            row(label, by_n[label])
    row("all", sizes)
    return t


def redis_usage(values: dict[str, bytes], ttl_s: int, sample: int) -> dict[str, float]:
    import redis

    from learnpulse.stack.procs import free_port
    from learnpulse.stack.services import RedisUsers, redis_url, start_redis

    users = RedisUsers.generate()
    with tempfile.TemporaryDirectory(prefix="lp-mem-") as tmp:
        port = free_port()
        proc = start_redis(port, Path(tmp), users)
        try:
            r = redis.Redis.from_url(redis_url(port, "lp-admin", users.admin_password))
            base = int(r.info("memory")["used_memory"])
            items = list(values.items())
            for i in range(0, len(items), 1000):
                pipe = r.pipeline(transaction=False)
                for k, v in items[i : i + 1000]:
                    pipe.set(k, v, ex=ttl_s)
                pipe.execute()
            used = int(r.info("memory")["used_memory"]) - base
            out: dict[str, float] = {"used_memory": used}
            rng = random.Random(1)
            for kind in ("reco", "state"):
                ks = [k for k in values if k.endswith(f":{kind}")]
                pick = rng.sample(ks, min(sample, len(ks)))
                pipe = r.pipeline(transaction=False)
                for k in pick:
                    pipe.memory_usage(k, samples=0)
                usage = [u for u in pipe.execute() if u]
                out[f"{kind}_keys"] = len(ks)
                out[f"{kind}_usage"] = statistics.fmean(usage) if usage else 0.0
                out[f"{kind}_value"] = statistics.fmean(len(values[k]) for k in pick)
            r.close()
        finally:
            proc.stop()
    return out


def main(
    learners: Annotated[int, typer.Option(help="learners in the organisation")] = 100_000,
    events: Annotated[int, typer.Option(help="activity events after the profiles")] = 500_000,
    heavy: Annotated[
        int, typer.Option(help="learners run through the whole 60-day window (0 = skip)")
    ] = 2000,
    sample: Annotated[int, typer.Option(help="keys sampled per kind for MEMORY USAGE")] = 2000,
    ttl_s: Annotated[int, typer.Option(help="TTL of the Redis values, as the worker")] = (
        30 * 86400
    ),
    patch: Annotated[
        list[str] | None,
        typer.Option(help="loadtests.patches to apply (same outputs, faster), e.g. paths-index"),
    ] = None,
) -> None:
    """Measure and print; see the module docstring."""
    from loadtests.patches import PATCHES

    for name in patch or ():
        PATCHES[name]()
    me = psutil.Process()
    from loadtests.harness import machine_line

    console.print(machine_line())
    topics = Topics(prefix="mem.")
    gc.collect()
    rss0 = me.memory_info().rss
    org = Organisation.generate(learners, seed=7)
    batch = build_batch(org, topics)
    gc.collect()
    rss_ref = me.memory_info().rss
    with console.status(f"driving {learners:,} profiles and {events:,} events through LearnBatch"):
        last, n, dt = drive(batch, topics, org, events)
    store = batch.store.data
    gc.collect()
    rss1 = me.memory_info().rss
    console.print(
        f"{learners:,} profiles + {n:,} events in {dt:.0f} s "
        f"({(learners + n) / dt:,.0f} records/s in process)"
    )
    console.print(
        state_table(f"Stream state per learner after {n:,} events ({learners:,} learners)", store)
    )
    total_state = sum(len(v) for v in store.values())
    red = redis_usage(last, ttl_s, sample)
    n_learners = len(store)
    console.print(
        f"process RSS: {mb(rss0)} at start, {mb(rss_ref)} with the organisation and "
        f"reference data, {mb(rss1)} after {n_learners:,} learners "
        f"(+{mb(rss1 - rss_ref)}, {(rss1 - rss_ref) / n_learners:,.0f} B per learner; "
        f"state bytes {mb(total_state)}). The benchmark's own organisation and "
        "last-value copy are in this RSS too: an upper bound for a worker."
    )
    t = Table(title="Redis per learner (values as the worker writes them, TTL set)")
    for col in ("key", "keys", "mean value B", "MEMORY USAGE B"):
        t.add_column(col, justify="right")
    for kind in ("reco", "state"):
        t.add_row(
            f"lp:{{id}}:{kind}",
            f"{red[f'{kind}_keys']:,.0f}",
            f"{red[f'{kind}_value']:,.0f}",
            f"{red[f'{kind}_usage']:,.0f}",
        )
    console.print(t)
    per = red["used_memory"] / max(1, red["reco_keys"])
    console.print(
        f"Redis used_memory for {red['reco_keys']:,.0f} learners: "
        f"{mb(red['used_memory'])} = {per:,.0f} B per learner "
        f"(1 M learners: {per * 1e6 / 2**30:,.1f} GiB)"
    )
    if heavy:
        horg = Organisation.generate(heavy, seed=11)
        hbatch = build_batch(horg, topics)
        with console.status(f"{heavy:,} learners through the whole window"):
            _, hn, hdt = drive(hbatch, topics, horg, None)
        console.print(
            state_table(
                f"Long history: {heavy:,} learners, {hn:,} events over "
                f"{horg.horizon_days:.0f} simulated days",
                hbatch.store.data,
            )
        )
    mean_state = total_state / n_learners
    console.print(
        f"goal: <= 4096 B of stream state per learner; mean {mean_state:,.0f} B after {n:,} events"
    )


if __name__ == "__main__":
    typer.run(main)
