"""Stored learner states: LZ4-packed when large, plain JSON when small; both load."""

from __future__ import annotations

import orjson

from streams.models.state import PACK_FROM, new_state, pack, unpack


def busy_state() -> dict:
    st = new_state()
    st["done"] = {f"video-javascript-{i:04d}": 1736198786353 + i * 86_400_000 for i in range(40)}
    st["ranker"] = {"w": {f"t:topic-{i}": 0.1234 * i for i in range(30)}, "n": 243}
    st["interest"] = {"w": {f"s:skill-{i}": 19.87 + i for i in range(25)}}
    return st


def test_large_states_are_packed_smaller_and_read_back_exactly() -> None:
    st = busy_state()
    plain = orjson.dumps(st)
    assert len(plain) >= PACK_FROM
    raw = pack(st)
    assert len(raw) < 0.7 * len(plain)
    assert unpack(raw) == st


def test_small_states_stay_plain_json_and_old_plain_values_still_load() -> None:
    st = new_state()
    assert pack(st) == orjson.dumps(st)
    # What workers before packing wrote to the changelog: plain JSON, any size.
    assert unpack(orjson.dumps(busy_state())) == busy_state()


def test_kept_states_hold_about_their_own_size_in_memory() -> None:
    # orjson hands out small outputs in a 4-8 KB buffer; the table keeps one
    # state per learner, so each must own only its bytes.
    import tracemalloc

    st = new_state() | {"profile": {"role": "engineer", "team_id": "team-0007"}}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [pack(st) for _ in range(2000)]
        per_state = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert len(kept[0]) < PACK_FROM
    assert per_state < len(kept[0]) + 200
