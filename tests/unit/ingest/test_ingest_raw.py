"""Raw-topic records (xAPI, Caliper, Open edX) through ``normalize_raw``."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import orjson
import pytest

import schemas
from services.ingest import openedx_schemas
from services.ingest.errors import DecodeError, InvalidEvent
from services.ingest.raw import normalize_raw

ENROLLED = "org.openedx.learning.course.enrollment.created.v1"
USER = {
    "id": 42,
    "is_active": True,
    "pii": {"username": "ada", "email": "ada@example.org", "name": "Ada L"},
}
COURSE = {
    "course_key": "course-v1:edX+DemoX+2024",
    "display_name": "Demo",
    "start": None,
    "end": None,
}
ENROLLMENT = {
    "enrollment": {
        "user": USER,
        "course": COURSE,
        "mode": "audit",
        "is_active": True,
        "creation_date": "2024-05-01T10:00:00Z",
        "created_by": None,
    }
}


def ce_headers(ce_type: str = ENROLLED, **over: Any) -> dict[str, bytes]:
    h = {
        "ce_id": b"6f1e0b9e-6c1f-11ef-a1b0-0242ac120002",
        "ce_type": ce_type.encode(),
        "ce_source": b"openedx/lms/web",
        "ce_specversion": b"1.0",
        "ce_time": b"2024-05-01T10:00:00.123456+00:00",
    }
    for k, v in over.items():
        if v is None:
            h.pop(k)
        else:
            h[k] = v
    return h


def avro(ce_type: str, data: dict[str, Any], framed: bool = True) -> bytes:
    buf = io.BytesIO()
    if framed:
        buf.write(b"\x00\x00\x00\x00\x2a")  # Confluent magic + a registry id we never look up
    schema = openedx_schemas.parsed(ce_type)
    assert schema is not None
    fastavro.schemaless_writer(buf, schema, data)
    return buf.getvalue()


@pytest.mark.parametrize("framed", [True, False])
def test_openedx_avro_enrollment(framed: bool) -> None:
    [rec] = normalize_raw(
        "openedx", avro(ENROLLED, ENROLLMENT, framed), ce_headers(), received_at_ms=7
    )
    assert rec["event_id"] == "6f1e0b9e-6c1f-11ef-a1b0-0242ac120002"
    assert rec["learner_id"] == "openedx:user:42"
    assert rec["verb"] == "enrolled" and rec["object_type"] == "course"
    assert rec["object_id"] == "course-v1:edX+DemoX+2024"
    assert rec["occurred_at_ms"] == 1_714_557_600_123
    assert "ada" not in orjson.dumps(rec).decode().lower()  # no username, name or email
    schemas.encode(schemas.ACTIVITY, rec)


def test_openedx_json_body_and_every_known_type_has_a_schema() -> None:
    [rec] = normalize_raw("openedx", json.dumps(ENROLLMENT).encode(), ce_headers())
    assert rec["verb"] == "enrolled"
    for ce_type in openedx_schemas.known_types():
        assert openedx_schemas.parsed(ce_type) is not None


def test_openedx_grade_and_passing() -> None:
    grade_t = "org.openedx.learning.course.persistent_grade_summary.changed.v1"
    grade = {
        "grade": {
            "user_id": 7,
            "course": COURSE,
            "course_edited_timestamp": "t",
            "course_version": "v",
            "grading_policy_hash": "h",
            "percent_grade": 0.85,
            "letter_grade": "B",
            "passed_timestamp": "2024-05-01T10:00:00Z",
        }
    }
    [rec] = normalize_raw("openedx", avro(grade_t, grade), ce_headers(grade_t))
    assert rec["verb"] == "graded" and rec["result"]["score_scaled"] == 0.85
    assert rec["learner_id"] == "openedx:user:7"
    pass_t = "org.openedx.learning.course.passing.status.updated.v1"
    passing = {"course_passing_status": {"is_passing": True, "course": COURSE, "user": USER}}
    [rec] = normalize_raw("openedx", avro(pass_t, passing), ce_headers(pass_t))
    assert rec["result"]["success"] is True


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        (ce_headers(ce_id=None), "/headers/ce_id"),
        (ce_headers(ce_time=None), "/headers/ce_time"),
        (ce_headers(ce_time=b"noon"), "/headers/ce_time"),
        (ce_headers("org.openedx.learning.some.thing.v9"), "/headers/ce_type"),
    ],
)
def test_openedx_header_rules(headers: dict[str, bytes], path: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        normalize_raw("openedx", avro(ENROLLED, ENROLLMENT), headers)
    assert path in [e["path"] for e in info.value.errors]


def test_openedx_json_missing_fields_is_invalid() -> None:
    with pytest.raises(InvalidEvent):
        normalize_raw("openedx", b'{"enrollment": {"course": {}}}', ce_headers())


@pytest.mark.parametrize("fmt", ["xapi", "caliper", "openedx", "native"])
@pytest.mark.parametrize("value", [b"\x00\x01\x02garbage", b"", b"{not json", b"\xff\xfe"])
def test_garbage_bytes_are_decode_errors(fmt: str, value: bytes) -> None:
    with pytest.raises(DecodeError):
        normalize_raw(fmt, value, ce_headers())


def test_avro_with_trailing_bytes_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        normalize_raw("openedx", avro(ENROLLED, ENROLLMENT) + b"\x00\x00", ce_headers())


XAPI = {
    "actor": {"account": {"homePage": "https://lms.example.com", "name": "7"}},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "https://lms.example.com/c/1"},
}


def test_xapi_without_id_gets_the_same_id_on_redelivery() -> None:
    value = json.dumps([XAPI]).encode()
    a = normalize_raw("xapi", value, {"source": b"lrs-forwarder"})
    b = normalize_raw("xapi", value, {"source": b"lrs-forwarder"})
    assert a[0]["event_id"] == b[0]["event_id"]
    assert a[0]["source"] == "lrs-forwarder"


def test_xapi_invalid_statement() -> None:
    with pytest.raises(InvalidEvent) as info:
        normalize_raw("xapi", json.dumps({**XAPI, "verb": {}}).encode(), {})
    assert info.value.errors[0]["path"] == "/verb/id"


CALIPER = {
    "id": "urn:uuid:3a648e68-f00d-4c08-aa59-8738e1884f2c",
    "type": "ViewEvent",
    "actor": "https://example.edu/users/1",
    "action": "Viewed",
    "object": "https://example.edu/docs/1",
    "eventTime": "2024-05-01T10:00:00Z",
}


@pytest.mark.parametrize(
    "body",
    [
        CALIPER,
        [CALIPER],
        {
            "sensor": "s",
            "sendTime": "2024-05-01T10:00:01Z",
            "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1",
            "data": [CALIPER],
        },
    ],
)
def test_caliper_event_array_or_envelope(body: Any) -> None:
    [rec] = normalize_raw("caliper", json.dumps(body).encode(), {})
    assert rec["verb"] == "viewed" and rec["source"] == "raw.caliper"


def test_caliper_entity_on_raw_topic_is_invalid() -> None:
    with pytest.raises(InvalidEvent, match="not an event"):
        normalize_raw("caliper", b'{"id": "https://example.edu/u/1", "type": "Person"}', {})


def test_unknown_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown raw format"):
        normalize_raw("csv", b"a,b", {})
