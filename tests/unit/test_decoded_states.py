"""Learners of recent batches keep their state decoded: same outputs, never a stale state.

``LearnBatch`` keeps the dict each state was packed from, next to the bytes it
was packed into, and reuses it when the store still holds those very bytes.
That is only right if a dict that went through ``pack`` is exactly what
``unpack`` would give back, and if anything else stored in between wins.
"""

from __future__ import annotations

from typing import Any

import pytest

from loadtests.memory import encoded_workload
from streams.models.state import new_state, pack, unpack

NOW_S = 1_780_000_000.0


def strictly_equal(a: Any, b: Any, path: str = "$") -> str | None:
    """None if equal in value, type and key order (floats by repr); else where not."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} against {type(b).__name__}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} against {list(b)}"
        for k in a:
            if (diff := strictly_equal(a[k], b[k], f"{path}.{k}")) is not None:
                return diff
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items against {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if (diff := strictly_equal(x, y, f"{path}[{i}]")) is not None:
                return diff
        return None
    if isinstance(a, float):
        return None if repr(a) == repr(b) else f"{path}: {a!r} against {b!r}"
    return None if a == b else f"{path}: {a!r} against {b!r}"


@pytest.fixture(scope="module")
def workload() -> tuple[list[Any], list[Any]]:
    _batch, profiles, acts, _last = encoded_workload(600, 4000, "ds.")
    return profiles, acts


def run(batch: Any, profiles: list[Any], acts: list[Any], size: int = 40) -> list[Any]:
    batch.clock = lambda: NOW_S
    out = []
    for chunk, n in ((profiles, 200), (acts, size)):
        for i in range(0, len(chunk), n):
            fx = batch.handle(chunk[i : i + n])
            out.append(fx)
            batch.save_states(fx)
    return out


def test_a_kept_state_is_exactly_what_decoding_gives(workload: Any) -> None:
    profiles, acts = workload
    batch, *_ = encoded_workload(600, 0, "ds.")
    batch.clock = lambda: NOW_S
    checked = 0
    for chunk, n in ((profiles, 200), (acts, 40)):
        for i in range(0, len(chunk), n):
            fx = batch.handle(chunk[i : i + n])
            for learner_id, (raw, _partition) in fx.states.items():
                kept_raw, state = batch.decoded[learner_id]
                assert kept_raw is raw
                assert strictly_equal(state, unpack(raw)) is None, learner_id
                checked += 1
            batch.save_states(fx)
    assert checked > len(profiles) + len(acts) // 5  # every state of every batch


def test_the_same_lists_states_and_records_with_and_without_it(workload: Any) -> None:
    profiles, acts = workload
    on, *_ = encoded_workload(600, 0, "ds.")
    off, *_ = encoded_workload(600, 0, "ds.")
    off.decoded_max = 0
    runs_on, runs_off = run(on, profiles, acts), run(off, profiles, acts)
    assert not off.decoded
    assert len(on.decoded) == min(on.decoded_max, 600)
    for a, b in zip(runs_on, runs_off, strict=True):
        assert a.redis_values == b.redis_values
        assert a.records == b.records
        assert a.states == b.states
        assert a.publish == b.publish and a.nudges == b.nudges and a.due == b.due


def test_bytes_stored_by_anyone_else_win(workload: Any) -> None:
    profiles, acts = workload
    batch, *_ = encoded_workload(600, 0, "ds.")
    run(batch, profiles, acts[:400])
    learner_id = next(iter(batch.decoded))
    # Another writer (the silence timer, a recovery) stores an equal-looking state.
    other = unpack(batch.store.get(learner_id))
    other["n"] = 12_345
    batch.store.put(learner_id, pack(other), 0)
    assert batch.load(learner_id)["n"] == 12_345
    assert learner_id not in batch.decoded  # taken out by load()


def test_a_batch_whose_effects_were_not_saved_leaves_no_trace(workload: Any) -> None:
    profiles, acts = workload
    batch, *_ = encoded_workload(600, 0, "ds.")
    run(batch, profiles, acts[:400])
    before = {lid: batch.store.get(lid) for lid in batch.store.data}
    fx = batch.handle(acts[400:440])  # computed, but its Redis write failed: not saved
    assert fx.changed > 0
    for learner_id in fx.states:
        raw = before.get(learner_id)
        expected = new_state() if raw is None else unpack(raw)
        assert strictly_equal(batch.load(learner_id), expected) is None, learner_id
