"""Native canonical JSON events: accepted as sent, rejected with field paths."""

from __future__ import annotations

from typing import Any

import pytest

import schemas
from services.ingest import native
from services.ingest.errors import InvalidEvent


def ev(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e-1",
        "learner_id": "u-1",
        "verb": "completed",
        "object_id": "c-1",
        "object_type": "course",
        "occurred_at_ms": 1_714_557_600_000,
    }
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        else:
            base[k] = v
    return base


def paths_of(body: Any) -> list[str]:
    with pytest.raises(InvalidEvent) as info:
        native.normalize(body, source="lms", received_at_ms=5)
    return [e["path"] for e in info.value.errors]


def test_full_event_round_trips_through_the_schema() -> None:
    e = ev(
        result={"score_scaled": 0.5, "success": True, "progress": 1, "duration_s": 60},
        context={"course_id": "c-1", "skill_ids": ["s-1", "s-2"]},
        extensions={"k": "v"},
    )
    [rec] = native.normalize([e], source="lms", received_at_ms=5)
    assert rec["received_at_ms"] == 5 and rec["source"] == "lms"
    assert rec["result"]["progress"] == 1.0 and rec["result"]["rating"] is None
    assert rec["context"]["skill_ids"] == ["s-1", "s-2"]
    assert schemas.decode(schemas.ACTIVITY, schemas.encode(schemas.ACTIVITY, rec)) == rec


def test_iso_time_and_assigned_event_id() -> None:
    [rec] = native.normalize(
        [ev(event_id=None, occurred_at_ms=None, occurred_at="2024-05-01T12:00:00+02:00")],
        source="lms",
        received_at_ms=5,
    )
    assert rec["occurred_at_ms"] == 1_714_557_600_000
    assert len(rec["event_id"]) == 36


def test_own_source_is_kept_for_the_gateway_to_authorise() -> None:
    [rec] = native.normalize([ev(source="video")], source="lms", received_at_ms=5)
    assert rec["source"] == "video"


@pytest.mark.parametrize(
    ("over", "path"),
    [
        ({"learner_id": None}, "/1/learner_id"),
        ({"learner_id": ""}, "/1/learner_id"),
        ({"learner_id": "ada@example.org"}, "/1/learner_id"),
        ({"verb": None}, "/1/verb"),
        ({"verb": "Completed!"}, "/1/verb"),
        ({"occurred_at_ms": None}, "/1/occurred_at_ms"),
        ({"occurred_at": "2024-05-01T10:00:00Z"}, "/1/occurred_at_ms"),
        ({"occurred_at_ms": "yesterday"}, "/1/occurred_at_ms"),
        ({"occurred_at_ms": None, "occurred_at": "May 1st"}, "/1/occurred_at"),
        ({"event_id": ""}, "/1/event_id"),
        ({"object_id": 7}, "/1/object_id"),
        ({"colour": "red"}, "/1/colour"),
        ({"result": {"score_scaled": 2}}, "/1/result/score_scaled"),
        ({"result": {"progress": -0.1}}, "/1/result/progress"),
        ({"result": {"success": "yes"}}, "/1/result/success"),
        ({"result": {"grade": "A"}}, "/1/result/grade"),
        ({"context": {"skill_ids": "s-1"}}, "/1/context/skill_ids"),
        ({"context": {"room": "1"}}, "/1/context/room"),
        ({"extensions": {"k": 1}}, "/1/extensions/k"),
    ],
)
def test_rejections_have_field_paths(over: dict[str, Any], path: str) -> None:
    assert path in paths_of([ev(event_id="e-0"), ev(**over)])


def test_duplicate_event_ids_in_one_batch() -> None:
    assert paths_of([ev(), ev()]) == ["/1/event_id"]


@pytest.mark.parametrize("body", [{}, [], "x"])
def test_body_must_be_a_non_empty_array(body: Any) -> None:
    assert paths_of(body) == [""]


def test_batch_limit() -> None:
    with pytest.raises(InvalidEvent):
        native.normalize(
            [ev(event_id=str(i)) for i in range(3)], source="lms", received_at_ms=5, max_batch=2
        )
