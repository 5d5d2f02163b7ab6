"""Contract tests: schemas only grow, and data crosses versions both ways."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import fastavro
import pytest

import schemas
from schemas.codec import _ids

SCHEMA_DIR = Path(schemas.__file__).parent
NAMES = [p.name.removesuffix(".avsc") for p in sorted(SCHEMA_DIR.glob("*.avsc"))]

SAMPLE_ACTIVITY = {
    "event_id": "e-1",
    "learner_id": "l-1",
    "occurred_at_ms": 1,
    "received_at_ms": 2,
    "source": "lms",
    "verb": "completed",
    "object_id": "c-1",
    "result": {
        "score_scaled": 0.5,
        "success": True,
        "completion": True,
        "progress": 1.0,
        "duration_s": 60.0,
        "rating": None,
    },
}


def grown(schema: dict) -> dict:
    """The schema with one new optional field, as the next release would add it."""
    new = copy.deepcopy(schema)
    new["fields"].append({"name": "added_later", "type": ["null", "string"], "default": None})
    return new


def roundtrip(record: dict, writer: dict, reader: dict) -> dict:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(writer), record)
    buf.seek(0)
    return fastavro.schemaless_reader(
        buf, fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    )


def test_old_data_is_read_with_a_grown_schema() -> None:
    old = schemas.load_schema(schemas.ACTIVITY)
    out = roundtrip(SAMPLE_ACTIVITY, old, grown(old))
    assert out["added_later"] is None
    assert out["result"]["score_scaled"] == 0.5


def test_new_data_is_read_by_old_consumers() -> None:
    old = schemas.load_schema(schemas.ACTIVITY)
    new = grown(old)
    out = roundtrip({**SAMPLE_ACTIVITY, "added_later": "x"}, new, old)
    assert "added_later" not in out
    assert out["verb"] == "completed"


@pytest.mark.parametrize("name", NAMES)
def test_current_schema_only_grew_from_released(name: str) -> None:
    released = [p for p in _ids().values() if Path(p).name == f"{name}.avsc"]
    assert released, f"{name} has no released copy in schemas/released/"
    new_fields = {f["name"]: f for f in schemas.load_schema(name)["fields"]}
    for path in released:
        old = json.loads((SCHEMA_DIR / path).read_text())
        old_fields = {f["name"]: f for f in old["fields"]}
        assert set(old_fields) <= set(new_fields), "a released field was removed or renamed"
        for added in set(new_fields) - set(old_fields):
            assert "default" in new_fields[added], f"new field {added} needs a default"
        for field_name, f in old_fields.items():
            assert new_fields[field_name]["type"] == f["type"], f"{field_name} was retyped"


def test_wire_format_header_and_bad_bytes() -> None:
    data = schemas.encode(schemas.ACTIVITY, SAMPLE_ACTIVITY)
    assert data[0] == 0
    assert int.from_bytes(data[1:5], "big") == schemas.CURRENT_IDS[schemas.ACTIVITY]
    assert schemas.decode(schemas.ACTIVITY, data)["event_id"] == "e-1"
    for bad in (b"", b"\x01\x00\x00\x00\x01xx", b"\x00\x00\x00\x03\xe7", data[:8]):
        with pytest.raises(schemas.DecodeError):
            schemas.decode(schemas.ACTIVITY, bad)
    with pytest.raises(schemas.DecodeError):  # a profile id where an activity is expected
        schemas.decode(
            schemas.ACTIVITY,
            schemas.encode(
                schemas.ROLE_SKILLS, {"role": "r", "updated_at_ms": 1, "required_skills": {}}
            ),
        )


def test_encode_rejects_records_that_do_not_match() -> None:
    with pytest.raises(ValueError):
        schemas.encode(schemas.ACTIVITY, {"event_id": "x"})
