"""Every Caliper 1.1 fixture event normalises; every entity is rejected with a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import schemas
from services.ingest import caliper
from services.ingest.errors import InvalidEvent
from tests.conftest import SHARED_DATA, shared_data

DATA = SHARED_DATA / "caliper-v1p1"


def _data_dir() -> Path:
    return shared_data("caliper-v1p1")  # fails in CI when missing


def _files(pattern: str) -> list[str]:
    return sorted(p.name for p in DATA.glob(pattern)) if DATA.is_dir() else []


def _load(name: str) -> Any:
    return json.loads((_data_dir() / name).read_text())


def _assert_canonical(rec: dict[str, Any], raw: dict[str, Any]) -> None:
    assert rec["learner_id"].startswith("https://example.edu/users/")
    assert rec["verb"] and rec["verb"] == rec["verb"].lower()
    obj = raw["object"]
    if isinstance(obj, dict) and obj.get("type") == "Attempt":  # graded attempt -> assessment
        obj = obj["assignable"]
    assert rec["object_id"] == (obj if isinstance(obj, str) else obj["id"])
    assert rec["event_id"] == raw["id"]
    assert rec["occurred_at_ms"] > 1_400_000_000_000
    assert rec["source_format"] == "caliper" and rec["source"] == "lms"
    # The canonical schema accepts it and round-trips it unchanged.
    assert schemas.decode(schemas.ACTIVITY, schemas.encode(schemas.ACTIVITY, rec)) == rec


def test_fixture_files_are_present() -> None:
    _data_dir()
    assert len(_files("caliperEvent*.json")) >= 50
    assert len(_files("caliperEntity*.json")) >= 60


@pytest.mark.parametrize("name", _files("caliperEvent*.json"))
def test_every_single_event_normalises(name: str) -> None:
    raw = _load(name)
    rec = caliper.normalize_event(raw, source="lms", received_at_ms=1)
    _assert_canonical(rec, raw)


ENVELOPES_OF_EVENTS = [
    n for n in _files("caliperEnvelope*.json") if "Entity" not in n and "Mixed" not in n
]


@pytest.mark.parametrize("name", ENVELOPES_OF_EVENTS)
def test_every_event_inside_envelopes_normalises(name: str) -> None:
    env = _load(name)
    recs = caliper.normalize_envelope(env, source="lms", received_at_ms=1)
    assert len(recs) == len(env["data"])
    for rec, raw in zip(recs, env["data"], strict=True):
        _assert_canonical(rec, raw)


@pytest.mark.parametrize("name", _files("caliperEntity*.json"))
def test_every_entity_is_rejected_with_a_reason(name: str) -> None:
    raw = _load(name)
    with pytest.raises(InvalidEvent) as info:
        caliper.normalize_event(raw, source="lms", received_at_ms=1)
    [err] = info.value.errors
    assert err["path"] == ""
    assert err["error"].startswith(f"entity of type {raw['type']} is not an event")


def test_mixed_envelope_is_rejected_whole_with_the_entity_paths() -> None:
    env = _load("caliperEnvelopeMixedBatch.json")
    with pytest.raises(InvalidEvent) as info:
        caliper.normalize_envelope(env, source="lms", received_at_ms=1)
    paths = [e["path"] for e in info.value.errors]
    assert paths == ["/data/0", "/data/1", "/data/2", "/data/3"]
    assert "entity of type Person is not an event" in info.value.errors[0]["error"]


@pytest.mark.parametrize(
    "name", ["caliperEnvelopeEntityBatch.json", "caliperEnvelopeEntitySingle.json"]
)
def test_entity_envelopes_are_rejected(name: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        caliper.normalize_envelope(_load(name), source="lms", received_at_ms=1)
    assert all("is not an event" in e["error"] for e in info.value.errors)


def test_grade_by_autograder_is_credited_to_the_student_with_a_score() -> None:
    rec = caliper.normalize_event(
        _load("caliperEventGradeGraded.json"), source="lms", received_at_ms=1
    )
    assert rec["learner_id"] == "https://example.edu/users/554433"
    assert rec["verb"] == "graded"
    assert rec["object_id"] == "https://example.edu/terms/201601/courses/7/sections/1/assess/1"
    assert rec["result"]["score_scaled"] == pytest.approx(10 / 15)


def test_mapping_of_common_actions_result_and_context() -> None:
    submitted = caliper.normalize_event(
        _load("caliperEventAssessmentSubmitted.json"), source="lms", received_at_ms=1
    )
    assert submitted["verb"] == "submitted" and submitted["object_type"] == "quiz"
    assert submitted["result"]["completion"] is True
    assert submitted["result"]["duration_s"] == 630.0
    assert (
        submitted["context"]["course_id"] == "https://example.edu/terms/201601/courses/7/sections/1"
    )
    assert submitted["occurred_at_ms"] == 1479205530000  # 2016-11-15T10:25:30Z
    nav = caliper.normalize_event(
        _load("caliperEventNavigationNavigatedToWebPage.json"), source="lms", received_at_ms=1
    )
    assert nav["verb"] == "viewed"
    login = caliper.normalize_event(
        _load("caliperEventSessionLoggedIn.json"), source="lms", received_at_ms=1
    )
    assert login["verb"] == "logged_in"
    paused = caliper.normalize_event(
        _load("caliperEventMediaPausedVideo.json"), source="lms", received_at_ms=1
    )
    assert paused["verb"] == "paused" and paused["object_type"] == "video"
    assert paused["result"]["progress"] == pytest.approx(321 / 1220)


def _event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "id": "urn:uuid:3a648e68-f00d-4c08-aa59-8738e1884f2c",
        "type": "ViewEvent",
        "actor": {"id": "https://example.edu/users/1", "type": "Person"},
        "action": "Viewed",
        "object": "https://example.edu/docs/1",
        "eventTime": "2024-05-01T10:00:00.000Z",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _envelope(*data: Any, version: str = "http://purl.imsglobal.org/ctx/caliper/v1p2") -> Any:
    return {
        "sensor": "https://example.edu/sensors/1",
        "sendTime": "2024-05-01T10:00:01Z",
        "dataVersion": version,
        "data": list(data),
    }


def test_caliper_1p2_envelope_is_accepted() -> None:
    [rec] = caliper.normalize_envelope(_envelope(_event()), source="lms", received_at_ms=1)
    assert rec["verb"] == "viewed" and rec["object_id"] == "https://example.edu/docs/1"


@pytest.mark.parametrize(
    ("over", "path"),
    [
        ({"action": None}, "/data/0/action"),
        ({"actor": None}, "/data/0/actor"),
        ({"object": None}, "/data/0/object"),
        ({"eventTime": None}, "/data/0/eventTime"),
        ({"eventTime": "15 Nov 2016"}, "/data/0/eventTime"),
        ({"id": "3a648e68-f00d-4c08-aa59-8738e1884f2c"}, "/data/0/id"),
        ({"actor": {"type": "Person"}}, "/data/0/actor"),
        ({"object": "not an iri"}, "/data/0/object"),
    ],
)
def test_event_rules_reject_with_field_path(over: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        caliper.normalize_envelope(
            _envelope(_event(), _event(**over)), source="lms", received_at_ms=1
        )
    assert path.replace("/0/", "/1/") in [e["path"] for e in info.value.errors]


def test_duplicate_event_ids_in_one_envelope_are_rejected() -> None:
    with pytest.raises(InvalidEvent) as info:
        caliper.normalize_envelope(_envelope(_event(), _event()), source="lms", received_at_ms=1)
    assert info.value.errors[0]["path"] == "/data/1/id"


@pytest.mark.parametrize(
    ("env", "path"),
    [
        ([], ""),
        ({"sendTime": "2024-05-01T10:00:01Z", "dataVersion": "x", "data": [1]}, "/sensor"),
        ({"sensor": "s", "dataVersion": "x", "data": [1]}, "/sendTime"),
        ({"sensor": "s", "sendTime": "2024-05-01T10:00:01Z", "data": [1]}, "/dataVersion"),
        (
            {"sensor": "s", "sendTime": "2024-05-01T10:00:01Z", "dataVersion": "x", "data": []},
            "/data",
        ),
    ],
)
def test_malformed_envelopes(env: Any, path: str) -> None:
    with pytest.raises(caliper.MalformedEnvelope) as info:
        caliper.check_envelope(env)
    assert path in [e["path"] for e in info.value.errors]


def test_unsupported_data_version() -> None:
    env = _envelope(_event(), version="http://purl.imsglobal.org/ctx/caliper/v1p0")
    with pytest.raises(caliper.UnsupportedVersion) as info:
        caliper.check_envelope(env)
    assert info.value.errors[0]["path"] == "/dataVersion"


def test_mailto_actor_is_pseudonymised() -> None:
    rec = caliper.normalize_event(
        _event(actor="mailto:ada@example.org"), source="lms", received_at_ms=1
    )
    assert "@" not in rec["learner_id"] and rec["learner_id"].startswith("mbox_sha1:")
