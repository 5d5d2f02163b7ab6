"""The audit-record writer (streams/avro_write.py) writes exactly fastavro's bytes."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

import schemas
from learnpulse.testing import random_text
from streams import avro_write
from tests.unit.test_list_cache import TOPICS, Harness  # a LearnBatch over a small catalog

HEADER = schemas.current_header(schemas.RECOMMENDATION)


def _fastavro(rec: dict[str, Any]) -> bytes:
    return schemas.encode(schemas.RECOMMENDATION, rec)


def _random_text(rng: random.Random) -> str:
    return random_text(rng, 70)  # past 63 bytes: a two-byte length


def _random_record(rng: random.Random) -> dict[str, Any]:
    return {
        "learner_id": _random_text(rng),
        "generated_at_ms": rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randrange(2**41)]),
        "model_version": _random_text(rng),
        "trigger_event_id": rng.choice([None, _random_text(rng)]),
        "items": [
            {
                "content_id": _random_text(rng),
                "title": _random_text(rng),
                "score": rng.choice([0.0, -0.0, 1e-300, -3.5, rng.random(), float("inf")]),
                "source": _random_text(rng),
                "reasons": [_random_text(rng) for _ in range(rng.randrange(0, 4))],
            }
            for _ in range(rng.randrange(0, 70))  # past 63: a two-byte count
        ],
    }


def test_it_writes_the_current_recommendation_schema() -> None:
    assert HEADER is not None
    assert avro_write.matches(schemas.load_schema(schemas.RECOMMENDATION))
    changed = copy.deepcopy(schemas.load_schema(schemas.RECOMMENDATION))
    changed["fields"][4]["type"]["items"]["fields"][2]["type"] = "float"
    assert not avro_write.matches(changed)


def test_random_records_are_byte_identical() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        rec = _random_record(rng)
        assert HEADER is not None
        assert HEADER + avro_write.recommendation(rec) == _fastavro(rec)


def test_defaults_are_written_as_fastavro_writes_them() -> None:
    rec: dict[str, Any] = {"learner_id": "l1", "generated_at_ms": 5, "model_version": "m"}
    rec["items"] = [{"content_id": "c", "score": 0.5, "source": "gap"}]  # no title, reasons
    assert HEADER is not None
    assert HEADER + avro_write.recommendation(rec) == _fastavro(rec)


@pytest.mark.parametrize(
    "change",
    [
        {"generated_at_ms": 5.0},
        {"generated_at_ms": True},
        {"generated_at_ms": 2**63},
        {"learner_id": None},
        {"items": ({"content_id": "c", "score": 1.0, "source": "s"},)},
    ],
)
def test_other_types_are_left_to_fastavro(change: dict[str, Any]) -> None:
    rec = _random_record(random.Random(1)) | change
    with pytest.raises(avro_write.Unsupported):
        avro_write.recommendation(rec)


def test_an_integer_score_is_left_to_fastavro() -> None:
    rec = _random_record(random.Random(2))
    rec["items"] = [{"content_id": "c", "title": "", "score": 1, "source": "s", "reasons": []}]
    with pytest.raises(avro_write.Unsupported):
        avro_write.recommendation(rec)


def test_the_worker_audit_records_decode_to_its_lists() -> None:
    h = Harness()
    audits = []
    for verb, obj in [("started", "c-01"), ("completed", "c-01"), ("started", "c-02")]:
        fx = h.act(verb, obj)
        audits += [v for topic, _k, v in fx.records if topic == TOPICS.recommendations]
    assert len(audits) == 3  # each of these events ranks the list again
    for raw in audits:
        rec = schemas.decode(schemas.RECOMMENDATION, raw)
        assert _fastavro(rec) == raw
        assert rec["learner_id"] == "ada" and rec["items"]
