"""The producer library builds valid canonical events and refuses bad ones."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

import pytest

import learnpulse.producer as producer_mod
import schemas
from learnpulse.producer import activity, encode
from services.ingest.errors import InvalidEvent


def test_docstring_example_runs() -> None:
    failed, attempted = doctest.testmod(producer_mod)
    assert attempted > 0 and failed == 0


def test_event_round_trips_and_times_are_exact() -> None:
    at = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    ev = activity("u-1", "completed", "c-1", source="lms", occurred_at=at, course_id="k-1")
    assert ev["occurred_at_ms"] == 1_714_557_600_123
    assert len(ev["event_id"]) == 36 and ev["source_format"] == "native"
    assert schemas.decode(schemas.ACTIVITY, encode(ev)) == ev


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"learner_id": "ada@example.org"}, "/learner_id"),
        ({"verb": "Did Stuff"}, "/verb"),
        ({"result": {"score_scaled": 3}}, "/result/score_scaled"),
        ({"occurred_at": datetime(2024, 5, 1)}, "/occurred_at"),
    ],
)
def test_invalid_events_raise_with_paths(kwargs: dict, path: str) -> None:
    args = {"learner_id": "u-1", "verb": "completed", **kwargs}
    with pytest.raises(InvalidEvent) as info:
        activity(args.pop("learner_id"), args.pop("verb"), "c-1", source="lms", **args)
    assert info.value.errors[0]["path"] == path
