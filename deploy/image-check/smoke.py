"""The image-like tree's stream worker on a real Tansu and Redis: does it process, compiled?

    .venv/bin/python deploy/image-check/smoke.py WORKDIR    # called by run.sh

Starts Tansu and Redis on free loopback ports (the benchmarks' harness), sends
the reference data and 5,000 events of 2,000 learners, and runs
``WORKDIR/venv/bin/python -m streams`` from ``WORKDIR/app``. Exits non-zero
unless the worker processed them all with the compiled models.
"""

from __future__ import annotations

import sys
import time

from learnpulse.stack.procs import free_port
from learnpulse.topics import Topics
from loadtests import harness
from loadtests.generate import Clock, Counts, KafkaSink, Workload
from loadtests.latency import run_generator, wait_exit

EVENTS, LEARNERS = 5_000, 2_000


def main(work: str) -> int:
    with harness.bench_stack(None) as stack:
        topics = Topics(prefix="img.", partitions=4)
        stack.create_topics(topics)
        workload = Workload.create(LEARNERS, clock=Clock.live)
        KafkaSink(stack.kafka_bootstrap, topics, Counts()).reference(workload.reference_records())
        port = free_port()
        env = stack.worker_env(topics, f"img-{int(time.time())}", port)
        argv = ["sh", "-c", f"cd {work}/app && exec {work}/venv/bin/python -m streams"]
        worker = stack.spawn("worker", argv, env)
        assert worker.pid is not None
        gen = run_generator(stack, topics, LEARNERS, 1000, None, EVENTS, "img", None)
        wait_exit(stack, gen, 120)
        harness.watch(worker.pid, port, EVENTS, 180)
        processed = harness.scrape(port) or 0.0
        compiled = harness.scrape(port, "learnpulse_compiled_models")
        print(f"image-like worker: {processed:,.0f} events processed, compiled models: {compiled}")
        return 0 if processed >= EVENTS and compiled == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
