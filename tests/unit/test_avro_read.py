"""The activity fast reader (streams/avro_read.py) reads exactly what fastavro reads."""

from __future__ import annotations

import copy
import io
import random
from typing import Any

import fastavro
import pytest

import schemas
from learnpulse.synth import Organisation
from learnpulse.testing import random_text
from loadtests.generate import Clock, Workload
from schemas import codec
from streams import avro_read

SID = codec.CURRENT_IDS[schemas.ACTIVITY]
WRITER = codec._writer_by_id(SID)[1]


def _fastavro(data: bytes) -> dict[str, Any]:
    rec = fastavro.schemaless_reader(io.BytesIO(data[5:]), WRITER, None)
    assert isinstance(rec, dict)
    return rec


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal, with the same key order and the same value types (bool is not int)."""
    if a != b or list(a) != list(b):
        return False
    for k in a:
        if type(a[k]) is not type(b[k]):
            return False
        if isinstance(a[k], dict) and not _same(a[k], b[k]):
            return False
    return True


def _random_record(rng: random.Random) -> dict[str, Any]:
    def text() -> str:
        return random_text(rng, 12)

    def opt(f: Any) -> Any:
        return f() if rng.random() < 0.5 else None

    return {
        "event_id": text(),
        "learner_id": text(),
        "occurred_at_ms": rng.randrange(-(2**63), 2**63),
        "received_at_ms": rng.choice([0, -1, 2**62, rng.randrange(-(10**6), 10**6)]),
        "source": text(),
        "source_format": rng.choice(avro_read.SOURCE_FORMATS),
        "verb": text(),
        "object_id": text(),
        "object_type": text(),
        "result": opt(
            lambda: {
                "score_scaled": opt(rng.random),
                "success": opt(lambda: rng.random() < 0.5),
                "completion": opt(lambda: rng.random() < 0.5),
                "progress": opt(lambda: rng.uniform(-1e300, 1e300)),
                "duration_s": opt(rng.random),
                "rating": opt(rng.random),
            }
        ),
        "context": opt(
            lambda: {
                "course_id": opt(text),
                "session_id": opt(text),
                "platform": opt(text),
                "skill_ids": [text() for _ in range(rng.randrange(0, 5))],
            }
        ),
        "extensions": {text(): text() for _ in range(rng.randrange(0, 4))},
    }


def test_it_reads_the_current_activity_schema() -> None:
    assert avro_read.matches(schemas.load_schema(schemas.ACTIVITY))


def test_a_changed_schema_is_not_read_fast() -> None:
    changed = copy.deepcopy(schemas.load_schema(schemas.ACTIVITY))
    changed["fields"].append({"name": "team_id", "type": "string", "default": ""})
    assert not avro_read.matches(changed)
    renamed = copy.deepcopy(schemas.load_schema(schemas.ACTIVITY))
    renamed["fields"][5]["type"]["symbols"] = ["native", "xapi"]
    assert not avro_read.matches(renamed)


def test_generated_workload_reads_as_fastavro_reads_it() -> None:
    stream = Workload(Organisation.generate(300, seed=3), Clock.shift).events()
    for _ in range(5000):
        data = schemas.encode(schemas.ACTIVITY, next(stream))
        assert _same(avro_read.activity(data, 5), _fastavro(data))


def test_random_records_read_as_fastavro_reads_them() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        data = schemas.encode(schemas.ACTIVITY, _random_record(rng))
        assert _same(avro_read.activity(data, 5), _fastavro(data))


def test_negative_block_counts_are_read() -> None:
    # Writers may give a block's byte size (negative count); fastavro's writer never does.
    rec = _random_record(random.Random(2)) | {"extensions": {"a": "b"}}
    rec["context"] = {"course_id": None, "session_id": None, "platform": None, "skill_ids": []}
    data = schemas.encode(schemas.ACTIVITY, rec)
    plain_ext = b"\x02\x02a\x02b\x00"  # 1 entry: "a" -> "b", end
    assert data.endswith(b"\x00" + plain_ext)  # empty skill_ids, then the map
    blocked = data[: -len(plain_ext)] + b"\x01\x08\x02a\x02b\x00"  # count -1, 4 bytes
    assert (
        avro_read.activity(blocked, 5)["extensions"]
        == {"a": "b"}
        == _fastavro(blocked)["extensions"]
    )


@pytest.mark.parametrize("seed", range(3))
def test_what_it_accepts_of_corrupted_bytes_fastavro_reads_the_same(seed: int) -> None:
    rng = random.Random(seed)
    refused = 0
    for _ in range(1500):
        good = bytearray(schemas.encode(schemas.ACTIVITY, _random_record(rng)))
        op = rng.randrange(3)
        if op == 0:
            bad = bytes(good[: rng.randrange(5, len(good))])
        elif op == 1:
            good[rng.randrange(5, len(good))] = rng.randrange(256)
            bad = bytes(good)
        else:
            bad = bytes(good) + bytes([rng.randrange(256)])
        try:
            fast = avro_read.activity(bad, 5)
        except (avro_read.MalformedRecord, UnicodeDecodeError):
            refused += 1  # the worker then decodes with fastavro, for its error message
            continue
        assert _same(fast, _fastavro(bad))
    assert refused > 100  # the corruptions did reach the refusal paths
