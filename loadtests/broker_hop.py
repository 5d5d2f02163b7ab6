"""The development broker's own hop, producer -> consumer, over time: no LearnPulse code.

    .venv/bin/python -m loadtests.broker_hop [--rate 3000] [--windows 8] [--window-s 6] \\
        [--fetch-wait-ms 10]

Starts its own Tansu (and Redis, unused) on free loopback ports. A paced
producer (idempotent, acks=all, ``linger.ms`` 5: as the load generator) sends
300-byte records to a 4-partition topic; a plain confluent-kafka consumer that
does no work follows the tail with the worker's fetch wait. Per window it
prints the hop latency (record timestamp taken at ``produce()`` -> record in
the consumer's hand) and the broker's CPU. On Tansu 0.6 (memory storage) both
grow as the partitions' logs grow, which is why ``loadtests.latency`` gives
every load level a fresh broker (RESULTS.md, seventh round). Never asserts.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated

import psutil
import typer
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from loadtests import harness
from loadtests.harness import pct

console = Console(width=150)
TOPIC = "hop"


def produce(bootstrap: str, rate: float, linger_ms: int, stop: threading.Event) -> None:
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
        }
    )
    value = b"v" * 300
    t0, i = time.monotonic(), 0
    while not stop.is_set():
        wait = t0 + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        p.produce(TOPIC, value=value, key=b"learner-%d" % (i % 10_000))
        p.poll(0)
        i += 1
    p.flush(10)


def main(
    rate: Annotated[float, typer.Option(help="records/s")] = 3000.0,
    windows: Annotated[int, typer.Option(help="measurement windows")] = 8,
    window_s: Annotated[float, typer.Option(help="seconds per window")] = 6.0,
    fetch_wait_ms: Annotated[int, typer.Option(help="consumer fetch.wait.max.ms")] = 10,
    linger_ms: Annotated[int, typer.Option(help="producer linger.ms")] = 5,
    partitions: Annotated[int, typer.Option(help="partitions of the topic")] = 4,
) -> None:
    """Measure and print; see the module docstring."""
    console.print(harness.machine_line())
    with harness.bench_stack() as stack:
        assert stack.tansu is not None and stack.tansu.pid is not None
        broker = psutil.Process(stack.tansu.pid)
        admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
        for f in admin.create_topics([NewTopic(TOPIC, partitions, 1)]).values():
            f.result()
        consumer = Consumer(
            {
                "bootstrap.servers": stack.kafka_bootstrap,
                "group.id": "hop",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": fetch_wait_ms,
            }
        )
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
        stop = threading.Event()
        producer = threading.Thread(
            target=produce, args=(stack.kafka_bootstrap, rate, linger_ms, stop), daemon=True
        )
        producer.start()
        t = Table(
            title=f"Broker hop alone: {rate:,.0f} records/s, fetch wait {fetch_wait_ms} ms, "
            f"linger {linger_ms} ms, {partitions} partitions"
        )
        for col in (
            "window from s",
            "records in log",
            "consumed/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "broker CPU",
        ):
            t.add_column(col, justify="right")
        total, start = 0, time.monotonic()
        try:
            for w in range(windows):
                lat: list[float] = []
                c0, t0 = harness.cpu_seconds(broker), time.monotonic()
                while time.monotonic() - t0 < window_s:
                    # returns at once when records are there: never holds them back
                    msgs = consumer.consume(500, 0.002)
                    now = time.time() * 1000
                    lat.extend(now - msg.timestamp()[1] for msg in msgs if msg.error() is None)
                dt = time.monotonic() - t0
                total += len(lat)
                cpu = (harness.cpu_seconds(broker) - c0) / dt
                row = (
                    f"{t0 - start:.0f}",
                    f"{total:,}",
                    f"{len(lat) / dt:,.0f}",
                    f"{pct(lat, 0.5):.1f}",
                    f"{pct(lat, 0.99):.1f}",
                    f"{max(lat, default=float('nan')):.1f}",
                    f"{cpu:.0%}",
                )
                t.add_row(*row)
                console.print(f"  window {w + 1}/{windows}: " + ", ".join(row[2:]))
        finally:
            stop.set()
            producer.join(15)
            consumer.close()
    console.print(t)


if __name__ == "__main__":
    typer.run(main)
