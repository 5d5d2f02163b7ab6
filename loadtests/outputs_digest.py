"""One SHA-256 over everything ``LearnBatch.handle`` produces for a workload.

    .venv/bin/python -m loadtests.outputs_digest [--learners 1000] [--events 8000] [--batch 40]
    PYTHONPATH=/work/base .venv/bin/python -m loadtests.outputs_digest   # another tree

The companion of ``handle_bench --tree``: a change meant to save CPU without
changing any output is checked by running this in both trees and comparing
the two lines. It hashes, batch by batch, the Redis values (sorted by key),
the records for Kafka (audit, changelog, shared-model updates), the published
messages, nudges, silence timers, dead letters and the packed learner states.

The wall clock is made deterministic before anything reads it (the workload's
time shift and the batch's clock both do; :func:`fix_clock`), and string hashing
must be fixed too, so set
``PYTHONHASHSEED=0``: the same tree then prints the same digest on every run.
Prints the path of the ``streams`` package it ran, so a wrong PYTHONPATH shows.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
import time
from typing import Annotated

import typer

FIXED_NOW = 1_790_000_000.0  # 2026-09-21 UTC: any fixed instant will do


def fix_clock(step_s: float = 0.025) -> None:
    """Make ``time.time`` deterministic: FIXED_NOW, advancing ``step_s`` per reading.

    Call before the workload and the batch are imported (they bind it). The batch
    reads it once per ``handle()``, so what is memoised per "now" lasts one batch,
    as in a worker.
    """
    readings = itertools.count()
    time.time = lambda: FIXED_NOW + step_s * next(readings)


def digest(learners: int, events: int, size: int) -> tuple[str, int]:
    """(hex digest, batches) of every output over profiles then ``events`` activity events."""
    from loadtests.memory import encoded_workload

    batch, profiles, acts, _last_ms = encoded_workload(learners, events, "hb.")
    h = hashlib.sha256()
    chunks = [profiles[i : i + size] for i in range(0, len(profiles), size)]
    chunks += [acts[i : i + size] for i in range(0, len(acts), size)]
    for msgs in chunks:
        fx = batch.handle(msgs)
        for key in sorted(fx.redis_values):
            h.update(key.encode())
            h.update(fx.redis_values[key])
        for part in (fx.records, fx.publish, fx.nudges, fx.due, fx.dead):
            h.update(repr(part).encode())
        for learner in sorted(fx.states):
            h.update(learner.encode())
            h.update(fx.states[learner][0])
        batch.save_states(fx)
    return h.hexdigest(), len(chunks)


def main(
    learners: Annotated[int, typer.Option(help="learners in the organisation")] = 1_000,
    events: Annotated[int, typer.Option(help="activity events after the profiles")] = 8_000,
    batch: Annotated[int, typer.Option(help="records per handle() call")] = 40,
) -> None:
    """Print the digest; see the module docstring."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        raise typer.BadParameter("set PYTHONHASHSEED=0: set and dict orders must repeat")
    fix_clock()
    hexdigest, batches = digest(learners, events, batch)
    import streams.batch

    print(f"{hexdigest}  {batches} batches, {streams.batch.__file__}")
    sys.stdout.flush()


if __name__ == "__main__":
    typer.run(main)
