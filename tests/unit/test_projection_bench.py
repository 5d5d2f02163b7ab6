"""The projection bench calls the worker's own parts; they must still fit together."""

from __future__ import annotations

from loadtests.projection_bench import build, parts


def test_every_part_runs_on_a_learner_the_batch_has_seen() -> None:
    b, recent, now, handle_us = build(learners=60, events=300, batch_size=70)
    assert recent and handle_us > 0
    lid = recent[0]
    state = b.load(lid)
    out = {name: fn(lid, state) for name, fn in parts(b, now).items()}
    assert out["load the state (unpack)"]["profile"]["learner_id"] == lid
    items = out["recommend (all of it)"]
    assert items and all(it["reasons"] for it in items)
    assert len(out["  + weights and scores"]) >= len(items)  # one score per candidate
    assert lid.encode() in out["audit record (Avro)"]
    assert out["public state value"]["learner_id"] == lid
