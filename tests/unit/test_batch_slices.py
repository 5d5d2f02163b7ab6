"""A batch handled in slices of whole learners ends where the whole batch would."""

from __future__ import annotations

import asyncio
import dataclasses
import zlib

import schemas
from learnpulse.synth import Organisation
from learnpulse.topics import Topics
from loadtests.memory import build_batch
from streams.agents.learn import handle_in_slices, merge
from streams.batch import DeadLetter, Effects, Msg
from streams.models.state import unpack

TOPICS = Topics(prefix="slices.")


def stream(org: Organisation, events: int) -> list[Msg]:
    offsets = [0] * TOPICS.partitions

    def msg(topic: str, learner: str, value: bytes, ts: int) -> Msg:
        p = zlib.crc32(learner.encode()) % TOPICS.partitions
        offsets[p] += 1
        return Msg(topic, p, offsets[p], learner.encode(), value, ts)

    out = [
        msg(
            TOPICS.profiles, p["learner_id"], schemas.encode(schemas.PROFILE, p), p["updated_at_ms"]
        )
        for p in org.profiles()
    ]
    for i, ev in enumerate(org.events()):
        if i >= events:
            break
        out.append(
            msg(
                TOPICS.activity,
                ev["learner_id"],
                schemas.encode(schemas.ACTIVITY, ev),
                ev["received_at_ms"],
            )
        )
    return out


def run(msgs: list[Msg], slice_size: int | None) -> tuple[dict[str, dict], set[str], int]:
    org = Organisation.generate(60, seed=3)
    batch = build_batch(org, TOPICS)
    keys: set[str] = set()
    applied = 0
    for start in range(0, len(msgs), 400):
        part = msgs[start : start + 400]
        if slice_size is None:
            fx = batch.handle(part)
        else:
            fx = asyncio.run(handle_in_slices(batch, part, slice_size))
        keys.update(fx.redis_values)
        applied += len(fx.appended_ms)
        batch.save_states(fx)
    states = {k: unpack(v) for k, v in batch.store.data.items()}
    return states, keys, applied


def test_sliced_batches_leave_every_learner_where_whole_batches_do() -> None:
    org = Organisation.generate(60, seed=3)
    msgs = stream(org, 1500)
    whole, whole_keys, whole_applied = run(msgs, None)
    sliced, sliced_keys, sliced_applied = run(msgs, 25)
    assert whole_applied == sliced_applied == 1500
    assert sliced.keys() == whole.keys() and len(whole) == 60
    for learner, st in whole.items():
        got = sliced[learner]
        for name in ("n", "prog", "done", "last_ms"):
            assert got.get(name) == st.get(name), (learner, name)
    # The same recommendation and state keys reach Redis.
    assert sliced_keys == whole_keys


def test_merge_keeps_every_effect_of_both_slices() -> None:
    def one(tag: str) -> Effects:
        fx = Effects()
        for f in dataclasses.fields(Effects):
            value = getattr(fx, f.name)
            if isinstance(value, dict):
                value[tag] = (tag.encode(), 0) if f.name == "states" else tag.encode()
            elif isinstance(value, list):
                item = {
                    "publish": (tag, b"m"),
                    "nudges": (tag, {}),
                    "due": (0, tag, 1),
                    "records": ("t", tag, b"v"),
                    "dead": DeadLetter(Msg("t", 0, 1, None, None, 0), tag, "E", "m"),
                    "appended_ms": 1,
                    "occurred_ms": 2,
                }[f.name]
                value.append(item)
            else:
                setattr(fx, f.name, 3)
        return fx

    both = merge(merge(None, one("a")), one("b"))
    for f in dataclasses.fields(Effects):
        value = getattr(both, f.name)
        if isinstance(value, (dict, list)):
            assert len(value) == 2, f.name
        else:
            assert value == 6, f.name
