"""Candidate optimisations of the stream worker, applied as monkeypatches in benchmarks only.

``streams/`` is owned by others; these patches let the benchmarks measure a
proposed change on a private copy before anyone applies it. Select them with
``LP_BENCH_PATCHES=name,name`` (the benchmark sets it for a worker process).
Each patch's docstring is the change proposed for ``streams/``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

PATCHES: dict[str, Callable[[], None]] = {}


def patch(fn: Callable[[], None]) -> Callable[[], None]:
    PATCHES[fn.__name__.replace("_", "-")] = fn
    return fn


def apply_from_env() -> list[str]:
    names = [n for n in os.environ.get("LP_BENCH_PATCHES", "").split(",") if n]
    for name in names:
        PATCHES[name]()
    return names


@patch
def uvloop() -> None:
    """Run faust on uvloop: ``asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())``
    in ``streams/__main__.py`` before ``build`` (faust uses the policy's loop)."""
    import asyncio

    import uvloop as _uvloop

    asyncio.set_event_loop_policy(_uvloop.EventLoopPolicy())


@patch
def fast_decode() -> None:
    """``schemas.codec.decode``: when the writer's schema id is the current one and the
    writer schema equals the current schema, read with the writer schema alone
    (``fastavro.schemaless_reader(buf, writer, None)``): no schema resolution."""
    import io

    import fastavro

    import schemas
    from schemas import codec

    original = codec.decode
    same: dict[str, bool] = {}

    def decode(name: str, data: bytes) -> dict[str, object]:
        if len(data) >= 5 and data[0] == 0:
            sid = int.from_bytes(data[1:5], "big")
            if sid == codec.CURRENT_IDS.get(name):
                if name not in same:
                    same[name] = codec._writer_by_id(sid)[1] == codec.parsed_schema(name)
                if same[name]:
                    try:
                        rec = fastavro.schemaless_reader(
                            io.BytesIO(data[5:]), codec.parsed_schema(name), None
                        )
                    except Exception as exc:
                        raise codec.DecodeError(f"cannot decode {name}: {exc}") from exc
                    if isinstance(rec, dict):
                        return rec
        return original(name, data)

    codec.decode = decode  # type: ignore[assignment]
    schemas.decode = decode  # type: ignore[assignment]


@patch
def paths_index() -> None:
    """``ReferenceData.paths_for``: look paths up in learner -> paths and team -> paths
    dicts rebuilt when ``version`` changes, instead of scanning every path per learner."""
    from typing import Any

    from streams.reference import ReferenceData

    def paths_for(self: Any, learner_id: str, team_id: str) -> list[dict[str, Any]]:
        idx = getattr(self, "_lp_paths_idx", None)
        if idx is None or idx[0] != self.version:
            version = self.version
            by_learner: dict[str, list[tuple[int, dict[str, Any]]]] = {}
            by_team: dict[str, list[tuple[int, dict[str, Any]]]] = {}
            for i, p in enumerate(list(self.paths.values())):
                if not p.get("active", True):
                    continue
                for lid in p["learner_ids"]:
                    by_learner.setdefault(lid, []).append((i, p))
                for tid in p["team_ids"]:
                    by_team.setdefault(tid, []).append((i, p))
            idx = self._lp_paths_idx = (version, by_learner, by_team)
        mine = idx[1].get(learner_id, [])
        team = idx[2].get(team_id, []) if team_id else []
        if not team:
            return [p for _, p in mine]
        if not mine:
            return [p for _, p in team]
        merged = dict(mine + team)
        return [merged[i] for i in sorted(merged)]

    ReferenceData.paths_for = paths_for  # type: ignore[method-assign]


@patch
def gather_sinks() -> None:
    """``streams.agents.learn.process``: write Redis and the audit records concurrently,
    ``await asyncio.gather(w.redis_sink.write(fx), w.record_sink.write(fx))``, so a
    batch waits for the slower of the two round trips, not their sum."""
    import asyncio
    import logging
    import os
    from typing import Any

    from streams.agents import learn

    async def process(w: Any, msgs: list[Any]) -> None:
        fx = w.batch.handle(msgs)
        try:
            await asyncio.gather(w.redis_sink.write(fx), w.record_sink.write(fx))
        except Exception:
            learn.log.critical("effects of a batch could not be written; exiting", exc_info=True)
            logging.shutdown()
            os._exit(70)
        w.batch.save_states(fx)

    learn.process = process  # type: ignore[assignment]


def _settings_patch(update: dict[str, object], drop: tuple[str, ...] = ()) -> None:
    from typing import Any

    from streams import app

    original = app.faust_settings

    def faust_settings(s: Any) -> dict[str, Any]:
        conf = original(s)
        for k in drop:
            conf.pop(k, None)
        conf.update(update)
        return conf

    app.faust_settings = faust_settings  # type: ignore[assignment]


@patch
def changelog_batched() -> None:
    """Drop ``producer_max_batch_size=1`` and the learner changelog's end markers
    (decision 0018): changelog records batch like on a real Kafka. NOT safe on
    Tansu (recovery stops early); measures what the workaround costs."""
    _settings_patch({}, drop=("producer_max_batch_size",))
    from streams import store

    init = store.ChangelogProducer.__init__

    def batched(self: object, bootstrap: str, topic: str, end_markers: bool, **kw: object) -> None:
        init(self, bootstrap, topic, False, **kw)  # type: ignore[arg-type]

    store.ChangelogProducer.__init__ = batched  # type: ignore[method-assign,assignment]


@patch
def changelog_one_record() -> None:
    """The learner changelog as before decision 0018: every record its own batch
    (``batch.num.messages=1``), no end markers."""
    from streams import store

    init = store.ChangelogProducer.__init__

    def single(self: object, bootstrap: str, topic: str, end_markers: bool, **kw: object) -> None:
        extra = dict(kw.pop("extra", None) or {})  # type: ignore[call-overload]
        extra["batch.num.messages"] = 1
        extra["compression.type"] = "none"
        init(self, bootstrap, topic, False, extra=extra, **kw)  # type: ignore[arg-type]

    store.ChangelogProducer.__init__ = single  # type: ignore[method-assign,assignment]


@patch
def bigger_polls() -> None:
    """faust settings ``broker_max_poll_records=2000``, ``stream_buffer_maxsize=16384``."""
    _settings_patch({"broker_max_poll_records": 2000, "stream_buffer_maxsize": 16384})


STOCK_STREAM = False


@patch
def stock_stream() -> None:
    """The no-op worker consumes through faust's own agent stream (``take_events``)
    instead of ``streams.intake.BulkIntake``, with faust's own drain loop: the
    floor before decision 0012."""
    global STOCK_STREAM
    STOCK_STREAM = True
    os.environ["LEARNPULSE_STREAMS_LEAN_DRAIN"] = "false"


@patch
def no_faust_metrics() -> None:
    """``LEARNPULSE_STREAMS_FAUST_METRICS=false``: no faust sensor on every record."""
    os.environ["LEARNPULSE_STREAMS_FAUST_METRICS"] = "false"


@patch
def slow_timers() -> None:
    """Housekeeping and silence timers 60x rarer: what they cost per event."""
    os.environ.update(
        {
            "LEARNPULSE_STREAMS_SILENCE_TICK_S": "60",
            "LEARNPULSE_STREAMS_LAG_SAMPLE_S": "900",
            "LEARNPULSE_STREAMS_CHECKPOINT_EVERY_S": "1800",
            "LEARNPULSE_STREAMS_CLUSTER_PUBLISH_EVERY_S": "300",
        }
    )


@patch
def gc_default() -> None:
    """Python's own collector thresholds, nothing frozen (the workers' behaviour
    before decision 0017)."""
    os.environ["LEARNPULSE_STREAMS_GC_THRESHOLD"] = "0"


@patch
def per_value_metrics() -> None:
    """Before the fifth round: one ``Histogram.observe`` per event (two per event
    and one per learner state) and faust's gauge update per consumed record."""
    from faust.sensors.prometheus import PrometheusMonitor

    import streams.batch
    import streams.monitor
    import streams.sink

    def observe_many(hist: object, values: object) -> None:
        for v in values:  # type: ignore[attr-defined]
            hist.observe(v)  # type: ignore[attr-defined]

    # The modules that call it (they bound the name at import).
    for mod in (streams.batch, streams.sink):
        mod.observe_many = observe_many  # type: ignore[attr-defined]
    streams.monitor.LeanPrometheusMonitor.track_tp_end_offset = (  # type: ignore[method-assign]
        PrometheusMonitor.track_tp_end_offset
    )


@patch
def settle_ms() -> None:
    """Experiment: a batch closes once its queue has not grown for
    ``LP_SETTLE_MS`` (default 3) milliseconds of wall time, instead of for
    ``SETTLE_TURNS`` event-loop turns, so the fetch issued when the previous
    batch's records were taken can land in this batch."""
    import asyncio
    from collections.abc import AsyncIterator
    from typing import Any

    from streams.intake import BulkIntake

    quiet_s = float(os.environ.get("LP_SETTLE_MS", "3")) / 1000

    async def batches(self: Any) -> AsyncIterator[list[Any]]:
        queue = self.channel.queue
        loop = asyncio.get_running_loop()
        max_batch = self.max_batch
        while True:
            batch = [await queue.get()]
            now = loop.time()
            deadline = now + self.linger_s
            size, grew_at = queue.qsize(), now
            while size < max_batch - 1 and now < deadline and now - grew_at < quiet_s:
                # Short sleeps, not bare turns: the wait must not spin the GIL
                # away from the consumer thread that is fetching.
                await asyncio.sleep(0.0005)
                now = loop.time()
                grown = queue.qsize()
                if grown != size:
                    size, grew_at = grown, now
            get = queue.get_nowait
            while len(batch) < max_batch and not queue.empty():
                batch.append(get())
            yield batch

    BulkIntake.batches = batches  # type: ignore[method-assign]


@patch
def batch_trace() -> None:
    """Measurement only: one stderr line per batch of the learn loop: the gap since
    the previous batch was computed (waiting for records, intake, waiting for the
    previous batch's writes), its size, the age of its oldest and newest record
    when computing starts (Kafka append time), and how long computing took, in wall
    time and in the main thread's CPU time (the difference: other threads holding
    the GIL, or the CPU taken away). Shows where live latency accrues."""
    import sys
    import time
    from typing import Any

    import streams.agents.learn as learn_mod

    original = learn_mod.compute
    last_end = [time.time()]

    def compute(w: Any, msgs: Any) -> Any:
        start = time.time()
        cpu0 = time.thread_time()
        stamps = [m.timestamp_ms for m in msgs]
        fx = original(w, msgs)
        end = time.time()
        cpu = time.thread_time() - cpu0
        print(
            f"batch-trace: gap {1000 * (start - last_end[0]):.1f} ms, n {len(msgs)}, "
            f"oldest {start * 1000 - min(stamps):.1f} ms, newest {start * 1000 - max(stamps):.1f} "
            f"ms, process {1000 * (end - start):.1f} ms, cpu {1000 * cpu:.1f} ms",
            file=sys.stderr,
            flush=True,
        )
        last_end[0] = end
        return fx

    learn_mod.compute = compute  # type: ignore[assignment]


@patch
def serial_writes() -> None:
    """The learn loop before decision 0020, for A/B: Redis and the audit records are
    written together, and the states logged, before the next batch is computed."""
    import asyncio
    from collections.abc import Coroutine
    from typing import Any

    import streams.agents.learn as learn_mod
    from streams.writebehind import WriteBehind

    async def write_redis(w: Any, fx: Any) -> None:
        await asyncio.gather(w.redis_sink.write(fx), w.record_sink.write(fx))

    async def make_durable(w: Any, fx: Any, batch: Any, acker: Any) -> None:
        w.store.log(fx.states)
        acker.add(batch)

    async def start(self: WriteBehind, writes: Coroutine[Any, Any, None]) -> None:
        await self.drain()
        await writes

    learn_mod.write_redis = write_redis  # type: ignore[assignment]
    learn_mod.make_durable = make_durable  # type: ignore[assignment]
    WriteBehind.start = start  # type: ignore[method-assign]


@patch
def pipelined_redis() -> None:
    """The sink before decision 0019, for A/B: a batch's Redis writes as one
    pipeline of single commands (SET per value, XADD + EXPIRE per nudge, ZADD
    per partition, PUBLISH per message, four stats commands)."""
    import time
    from typing import Any

    import orjson

    from learnpulse import keys
    from streams import sink
    from streams.metrics import E2E_FROM_APPEND, E2E_FROM_EVENT, observe_many

    async def write(self: Any, fx: Any) -> None:
        if not (fx.redis_values or fx.publish or fx.nudges or fx.due):
            return

        async def once() -> None:
            pipe = self.client.pipeline(transaction=False)
            for key, value in fx.redis_values.items():
                pipe.set(key, value, ex=self.ttl_s)
            for learner_id, nudge in fx.nudges:
                pipe.xadd(
                    keys.nudges(learner_id),
                    {"v": str(keys.VALUE_VERSION), "nudge": orjson.dumps(nudge)},
                    maxlen=self.nudge_maxlen,
                    approximate=True,
                )
                pipe.expire(keys.nudges(learner_id), self.ttl_s)
            by_partition: dict[int, dict[str, int]] = {}
            for partition, learner_id, due_ms in fx.due:
                by_partition.setdefault(partition, {})[learner_id] = due_ms
            for partition, mapping in by_partition.items():
                pipe.zadd(keys.due_index(partition), mapping)
            for channel, message in fx.publish:
                pipe.publish(channel, message)
            recos = sum(1 for k in fx.redis_values if k.endswith(":reco"))
            pipe.hincrby(keys.STATS, "events_total", len(fx.appended_ms))
            pipe.hincrby(keys.STATS, "recos_total", recos)
            pipe.hincrby(keys.STATS, "nudges_total", len(fx.nudges))
            pipe.hset(keys.STATS, "updated_at_ms", int(time.time() * 1000))
            await pipe.execute()

        t0 = time.perf_counter()
        await sink.retry("redis write", once)
        now = time.time()
        sink.REDIS_WRITE_SECONDS.observe(time.perf_counter() - t0)
        sink.RECOMMENDATIONS_WRITTEN.inc(sum(1 for k in fx.redis_values if k.endswith(":reco")))
        observe_many(E2E_FROM_APPEND, [max(0.0, now - ms / 1000) for ms in fx.appended_ms])
        observe_many(E2E_FROM_EVENT, [max(0.0, now - ms / 1000) for ms in fx.occurred_ms])

    sink.RedisSink.write = write  # type: ignore[method-assign]


@patch
def switch_1ms() -> None:
    """``sys.setswitchinterval(0.001)`` in the worker (Python's default: 5 ms). While
    the main thread computes a batch, faust's consumer thread (aiokafka) waits up
    to the switch interval each time it needs the GIL, so fetched records reach
    the intake queue late."""
    import sys

    sys.setswitchinterval(0.001)


@patch
def phase_trace() -> None:
    """Measurement only: one stderr line per batch of the learn loop with the wall
    time of each phase: computing it (``handle``), the Redis write the loop waits
    for, and, in the batch's durable-write task, how long after the Redis write
    it started (behind the previous batch's) and its audit/dead-letter write (a
    Kafka flush). Shows a batch's fixed costs."""
    import sys
    import time
    from typing import Any

    import streams.agents.learn as learn_mod

    compute, write_redis, make_durable = (
        learn_mod.compute,
        learn_mod.write_redis,
        learn_mod.make_durable,
    )
    # Effects is compiled (no attributes of our own): traces by object id.
    traces: dict[int, tuple[int, float, float, float]] = {}

    def timed_compute(w: Any, msgs: Any) -> Any:
        t0 = time.perf_counter()
        fx = compute(w, msgs)
        traces[id(fx)] = (len(msgs), time.perf_counter() - t0, 0.0, 0.0)
        return fx

    async def timed_write_redis(w: Any, fx: Any) -> None:
        t0 = time.perf_counter()
        await write_redis(w, fx)
        n, handle_s, _, _ = traces[id(fx)]
        traces[id(fx)] = (n, handle_s, time.perf_counter() - t0, time.perf_counter())

    async def timed_make_durable(w: Any, fx: Any, batch: Any, acker: Any) -> None:
        n, handle_s, redis_s, redis_done = traces.pop(id(fx))
        t0 = time.perf_counter()
        await make_durable(w, fx, batch, acker)
        print(
            f"phase-trace: n {n}, handle {1000 * handle_s:.1f} ms, redis {1000 * redis_s:.1f} "
            f"ms; durable task started {1000 * (t0 - redis_done):.1f} ms later, ran "
            f"{1000 * (time.perf_counter() - t0):.1f} ms ({len(fx.records)} records)",
            file=sys.stderr,
            flush=True,
        )

    learn_mod.compute = timed_compute  # type: ignore[assignment]
    learn_mod.write_redis = timed_write_redis  # type: ignore[assignment]
    learn_mod.make_durable = timed_make_durable  # type: ignore[assignment]


@patch
def time_handle() -> None:
    """Measurement only: thread CPU spent in ``LearnBatch.handle`` and in the main
    thread overall, written to stderr every 20,000 events (A/B real vs plain)."""
    import sys
    import time
    from typing import Any

    import streams.worker
    from streams.batch import LearnBatch

    acc = {"cpu": 0.0, "n": 0, "changed": 0, "batches": 0, "next": 20_000}
    acc["t0"] = time.thread_time()

    def handle(original: Any, msgs: Any) -> Any:
        t = time.thread_time()
        fx = original(msgs)
        acc["cpu"] += time.thread_time() - t
        acc["n"] += len(msgs)
        acc["changed"] += fx.changed
        acc["batches"] += 1
        if acc["batches"] % 5 == 0 and os.environ.get("LP_TIME_HANDLE_SHAPE"):
            span: dict[tuple[str, int], list[int]] = {}
            for m in msgs:
                r = span.setdefault((m.topic[-8:], m.partition), [0, m.offset, m.offset])
                r[0] += 1
                r[1], r[2] = min(r[1], m.offset), max(r[2], m.offset)
            print(f"time-handle: batch {acc['batches']} {sorted(span.items())}", file=sys.stderr)
        if acc["n"] >= acc["next"]:
            acc["next"] += 20_000
            main = time.thread_time() - acc["t0"]
            print(
                f"time-handle: {acc['n']} events, handle {acc['cpu'] / acc['n'] * 1e6:.1f} "
                f"µs/ev, main thread since start {main / acc['n'] * 1e6:.1f} µs/ev, "
                f"{acc['n'] / max(1, acc['changed']):.2f} events per changed learner, "
                f"{acc['n'] / acc['batches']:.0f} events per batch",
                file=sys.stderr,
                flush=True,
            )
        return fx

    class Timed:
        """The worker's batch with ``handle`` timed. A wrapper, because the compiled
        ``LearnBatch`` (decision 0016) takes no monkeypatched methods."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._batch = LearnBatch(*args, **kwargs)

        def handle(self, msgs: Any) -> Any:
            return handle(self._batch.handle, msgs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._batch, name)

    streams.worker.LearnBatch = Timed  # type: ignore[misc,assignment]


@patch
def batch_2000() -> None:
    """``LEARNPULSE_STREAMS_BATCH_SIZE=2000`` with faust polls of up to 2,000 records:
    more of one learner's events share a batch's ranking when catching up."""
    os.environ["LEARNPULSE_STREAMS_BATCH_SIZE"] = "2000"
    _settings_patch({"broker_max_poll_records": 2000, "stream_buffer_maxsize": 16384})


@patch
def no_list_cache() -> None:
    """``LEARNPULSE_STREAMS_RECO_CACHE_LEARNERS=0``: rank every changed learner's list in
    every batch, as before decision 0015."""
    os.environ["LEARNPULSE_STREAMS_RECO_CACHE_LEARNERS"] = "0"


@patch
def no_decoded_states() -> None:
    """``LEARNPULSE_STREAMS_DECODED_STATES=0``: decode every changed learner's state in
    every batch, as before decision 0024 (the worker, and ``handle_bench``)."""
    os.environ["LEARNPULSE_STREAMS_DECODED_STATES"] = "0"


@patch
def batch_500() -> None:
    """``LEARNPULSE_STREAMS_BATCH_SIZE=500``: the batch cap before decision 0015."""
    os.environ["LEARNPULSE_STREAMS_BATCH_SIZE"] = "500"


@patch
def pure_python() -> None:
    """``LEARNPULSE_NATIVE=0``: the models run as plain Python, not the mypyc-compiled
    modules (decision 0016). Must come before any patch that imports ``streams``."""
    if "streams" in sys.modules:
        raise RuntimeError("pure-python must be the first patch: streams is already imported")
    os.environ["LEARNPULSE_NATIVE"] = "0"


@patch
def why_rank() -> None:
    """Measurement only (needs ``pure-python`` first): every 5 s, one stderr line
    counting why lists were ranked rather than patched: a ranking input changed
    (``rerank``), or the cached list could not serve (no entry, another ``rk``,
    a changed input by position, too old, progress on an item off the list)."""
    if os.environ.get("LEARNPULSE_NATIVE") != "0":
        # Compiled classes refuse new methods with a bare TypeError; say why instead.
        raise RuntimeError("why-rank wraps the models: put pure-python before it")
    import threading
    import time
    from collections import Counter

    from streams import listcache
    from streams.batch import LearnBatch

    why: Counter[str] = Counter()
    usable = listcache.ListCache.usable
    project = LearnBatch._project

    def counted_usable(self, learner_id, rk, inputs, touched, now_ms):  # type: ignore[no-untyped-def]
        entry = self._data.get(learner_id)
        if entry is None:
            why["no entry"] += 1
        elif rk is None or entry.rk != rk:
            why["rk"] += 1
        elif entry.inputs != inputs:
            for i, (a, b) in enumerate(zip(entry.inputs, inputs, strict=True)):
                if a != b:
                    why[f"input {i}"] += 1
        elif not 0 <= now_ms - entry.ranked_ms < self.max_age_ms:
            why["age"] += 1
        elif not touched <= entry.cont.keys():
            why["touched off the list"] += 1
        else:
            why["patched"] += 1
        return usable(self, learner_id, rk, inputs, touched, now_ms)

    def counted_project(self, learner_id, state, trigger, now_ms, fx, paths, rank=True, *more):  # type: ignore[no-untyped-def]  # noqa: E501
        if rank:
            why["rerank"] += 1
        return project(self, learner_id, state, trigger, now_ms, fx, paths, rank, *more)

    listcache.ListCache.usable = counted_usable  # type: ignore[method-assign]
    LearnBatch._project = counted_project  # type: ignore[method-assign]

    def report() -> None:
        while True:
            time.sleep(5)
            print(f"why-rank {dict(why)}", file=sys.stderr, flush=True)

    threading.Thread(target=report, daemon=True).start()


@patch
def aiokafka_prefetch() -> None:
    """Experiment: aiokafka goes on fetching while fetched records wait to be taken.

    aiokafka (0.14) sends no fetch for a partition whose fetched records are not
    yet taken (``Fetcher._get_actions_per_node``), and faust takes them only when
    the worker's loop is free, so live there is one fetch per batch cycle. Here,
    after each fetch response, the records move from the fetcher's ``_records``
    to ready lists of its own (positions advance as if consumed), so the next
    fetch goes out at once; ``fetched_records`` hands out the ready lists first.
    Measures what the one-fetch-per-cycle pipeline costs. Not for production as
    written: records of a partition revoked in a rebalance may still be handed
    out, and the ready lists are unbounded (no backpressure). Result (RESULTS.md,
    ninth round): far worse, continuous or paced (LP_PREFETCH_PAUSE_MS); the
    newest record of a batch was no younger."""
    import asyncio
    import time
    from typing import Any

    from aiokafka.consumer import fetcher as aiofetcher

    fetcher_cls: Any = aiofetcher.Fetcher
    original_proc = fetcher_cls._proc_fetch_request
    original_fetched = fetcher_cls.fetched_records

    # LP_PREFETCH_PAUSE_MS: hold the node's next fetch this long after a response
    # (the fetch stays in flight), so fetching is paced instead of continuous.
    pause_s = float(os.environ.get("LP_PREFETCH_PAUSE_MS", "0")) / 1000

    async def proc(self: Any, assignment: Any, node_id: Any, request: Any) -> Any:
        result = await original_proc(self, assignment, node_id, request)
        ready: dict[Any, list[Any]] = self.__dict__.setdefault("_lp_ready", {})
        for tp in list(self._records):
            res = self._records[tp]
            if type(res) is aiofetcher.FetchResult:
                msgs = res.getall()
                if not res.has_more():
                    del self._records[tp]
                if msgs:
                    ready.setdefault(tp, []).extend(msgs)
        if pause_s and result:
            for waiter in list(self._fetch_waiters):  # hand the records over first
                self._notify(waiter)
            await asyncio.sleep(pause_s)
        return result

    def take(self: Any, partitions: Any, max_records: int | None) -> dict[Any, list[Any]]:
        ready: dict[Any, list[Any]] = self.__dict__.get("_lp_ready") or {}
        out: dict[Any, list[Any]] = {}
        n = 0
        for tp in list(ready):
            if partitions and tp not in partitions:
                continue
            msgs = ready.pop(tp)
            room = len(msgs) if max_records is None else max_records - n
            out[tp] = msgs[:room]
            n += len(out[tp])
            if msgs[room:]:
                ready[tp] = msgs[room:]
            if max_records is not None and n >= max_records:
                break
        return out

    async def fetched(
        self: Any, partitions: Any, timeout: float = 0, max_records: int | None = None
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            out = take(self, partitions, max_records)
            if out:
                return out
            out = await original_fetched(self, partitions, 0, max_records)  # errors, leftovers
            if out:
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                return {}
            waiter = self._create_fetch_waiter()
            done, _pending = await asyncio.wait([waiter], timeout=remaining)
            if not done:
                waiter.cancel()
                return {}

    fetcher_cls._proc_fetch_request = proc
    fetcher_cls.fetched_records = fetched


@patch
def gc_trace() -> None:
    """Measurement only: the cyclic collector's time per generation, one stderr line
    every 5 s, after a collection (per generation: collections, total and longest
    pause; objects tracked and frozen). Shows what the collector costs a live worker."""
    import gc
    import sys
    import time

    start: list[float] = [0.0]
    # generation -> [collections, seconds, longest]
    acc = {g: [0, 0.0, 0.0] for g in range(3)}
    last_print = [time.monotonic()]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            start[0] = time.perf_counter()
            return
        took = time.perf_counter() - start[0]
        a = acc[info["generation"]]
        a[0] += 1
        a[1] += took
        a[2] = max(a[2], took)
        now = time.monotonic()
        if now - last_print[0] >= 5.0:
            last_print[0] = now
            parts = ", ".join(
                f"gen{g} {c} x {1000 * s:.1f} ms (max {1000 * m:.1f})"
                for g, (c, s, m) in acc.items()
            )
            tracked, frozen = len(gc.get_objects()), gc.get_freeze_count()
            print(
                f"gc-trace: {parts}; tracked {tracked}, frozen {frozen}",
                file=sys.stderr,
                flush=True,
            )

    gc.callbacks.append(callback)


@patch
def switch_50ms() -> None:
    """``sys.setswitchinterval(0.05)``: a thread waiting for the GIL (faust's
    consumer thread, the clusterer) takes it from a batch being computed after
    50 ms instead of Python's 5 ms."""
    import sys

    sys.setswitchinterval(0.05)


@patch
def audit_every_report() -> None:
    """The audit sink before the fifteenth round, for A/B: librdkafka reports every
    delivered record (a Message and a Python call each, served inside flush), not
    only failures."""
    from typing import Any

    import streams.sink as sink_mod

    original = sink_mod.RecordSink.__init__

    def init(self: Any, bootstrap: str, deadletter_topic: str, extra: Any = None) -> None:
        every = {**(extra or {}), "delivery.report.only.error": False}
        original(self, bootstrap, deadletter_topic, every)

    sink_mod.RecordSink.__init__ = init  # type: ignore[method-assign]


@patch
def idle_gc() -> None:
    """Young garbage collected while the learn loop waits for records: before waiting,
    when the young generation has 2,000 or more net allocations. The collector's
    pauses then fall between batches rather than inside them (fifteenth round:
    20-40 ms young collections once the caches churn)."""
    import gc
    from collections.abc import AsyncIterator
    from typing import Any

    from streams.intake import BulkIntake

    original = BulkIntake.batches

    async def batches(self: Any) -> AsyncIterator[list[Any]]:
        queue = self.channel.queue
        get = queue.get

        async def get_after_gc() -> Any:
            # The loop awaits get() only for a batch's first record.
            if queue.empty() and gc.get_count()[0] >= 2_000:
                gc.collect(0)
            return await get()

        queue.get = get_after_gc
        async for batch in original(self):
            yield batch

    BulkIntake.batches = batches  # type: ignore[method-assign]


@patch
def settle_inline() -> None:
    """The changelog's delivery reports served on the event loop (``poll(0)`` between
    short sleeps) instead of by an executor thread polling until the flush is settled:
    no thread taking the GIL from the batch being computed for each report."""
    import asyncio
    from typing import Any

    from streams.store import ChangelogProducer

    async def _wait(self: Any, target: dict[int, int], timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._errors:
            self.producer.poll(0)
            if not self.unsettled(target) or loop.time() > deadline:
                break
            await asyncio.sleep(0.002)
        self._check(target, timeout_s)

    ChangelogProducer._wait = _wait  # type: ignore[method-assign]


@patch
def gc_50k() -> None:
    """A young-generation threshold of 50,000 instead of 10,000 (decision 0017)."""
    import os

    os.environ["LEARNPULSE_STREAMS_GC_THRESHOLD"] = "50000"


@patch
def gc_100k() -> None:
    """A young-generation threshold of 100,000 instead of 10,000 (decision 0017)."""
    import os

    os.environ["LEARNPULSE_STREAMS_GC_THRESHOLD"] = "100000"
