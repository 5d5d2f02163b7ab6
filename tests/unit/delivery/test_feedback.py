"""Feedback validation: good feedback becomes canonical events; bad feedback says where."""

from __future__ import annotations

from typing import Any

import pytest

import schemas
from services.delivery.feedback import (
    MAX_BATCH,
    FeedbackError,
    FieldError,
    MalformedBody,
    parse,
    to_records,
)

NOW = 1_760_000_000_000


def records(doc: Any) -> list[dict[str, Any]]:
    ids = iter(range(1000))
    return to_records(doc, "lrn-1", NOW, lambda: f"id{next(ids)}")


def errors(doc: Any) -> list[FieldError]:
    with pytest.raises(FeedbackError) as err:
        records(doc)
    return err.value.errors


@pytest.mark.parametrize(
    ("kind", "extra", "verb", "object_id", "object_type"),
    [
        ("impression", {"content_id": "sql-101"}, "impression", "sql-101", ""),
        ("click", {"content_id": "sql-101"}, "clicked", "sql-101", ""),
        ("dismiss", {"content_id": "sql-101"}, "dismissed", "sql-101", ""),
        ("rating", {"content_id": "sql-101", "rating": 0.75}, "rated", "sql-101", ""),
        ("nudge_opened", {"nudge_id": "n-1"}, "nudge_opened", "n-1", "nudge"),
        ("nudge_dismissed", {"nudge_id": "n-1"}, "nudge_dismissed", "n-1", "nudge"),
    ],
)
def test_each_kind_becomes_a_canonical_event(
    kind: str, extra: dict[str, Any], verb: str, object_id: str, object_type: str
) -> None:
    (rec,) = records({"type": kind, **extra})
    assert rec["verb"] == verb
    assert rec["object_id"] == object_id
    assert rec["object_type"] == object_type
    assert rec["learner_id"] == "lrn-1"
    assert rec["source"] == "delivery"
    assert rec["source_format"] == "native"
    assert rec["occurred_at_ms"] == rec["received_at_ms"] == NOW
    # What the stream worker will read back: it survives the Avro round trip.
    assert schemas.decode(schemas.ACTIVITY, schemas.encode(schemas.ACTIVITY, rec)) == rec


def test_rating_and_context_are_carried() -> None:
    (rec,) = records(
        {
            "type": "rating",
            "content_id": "c",
            "rating": 1,
            "position": 2,
            "surface": "web",
            "session_id": "s-9",
            "model_version": "rules-1",
            "reco_generated_at_ms": NOW - 5,
            "occurred_at_ms": NOW - 1000,
        }
    )
    assert rec["result"]["rating"] == 1.0
    assert rec["context"]["platform"] == "web"
    assert rec["context"]["session_id"] == "s-9"
    assert rec["extensions"] == {
        "position": "2",
        "model_version": "rules-1",
        "reco_generated_at_ms": str(NOW - 5),
    }
    assert rec["occurred_at_ms"] == NOW - 1000


def test_client_event_id_makes_retries_idempotent() -> None:
    a = records({"type": "click", "content_id": "c", "event_id": "7f3c-1"})
    b = records({"type": "click", "content_id": "c", "event_id": "7f3c-1"})
    assert a[0]["event_id"] == b[0]["event_id"] == "delivery:7f3c-1"
    c, d = records([{"type": "click", "content_id": "c"}, {"type": "click", "content_id": "c"}])
    assert c["event_id"] != d["event_id"]


def test_batches_keep_their_order() -> None:
    out = records([{"type": "impression", "content_id": f"c{i}", "position": i} for i in range(5)])
    assert [r["object_id"] for r in out] == [f"c{i}" for i in range(5)]


def test_every_error_has_a_json_pointer_path() -> None:
    errs = errors(
        [
            {"type": "click", "content_id": "ok"},
            {"type": "rating", "content_id": "c", "rating": 7},
            {"type": "teleport", "content_id": "c"},
            {"type": "nudge_opened"},
            {"type": "click"},
            {"type": "click", "content_id": "c", "learner_id": "someone-else"},
            "not an object",
            {"type": "click", "content_id": "c", "position": -1},
            {"type": "dismiss", "content_id": "c", "rating": 0.5},
        ]
    )
    assert {"path": "/1/rating", "error": "must be a number in [0, 1]"} in errs
    paths = {e["path"] for e in errs}
    assert {
        "/1/rating",
        "/2/type",
        "/3/nudge_id",
        "/4/content_id",
        "/5/learner_id",
        "/6",
        "/7/position",
        "/8/rating",
    } == paths


def test_a_learner_cannot_be_named_in_the_body() -> None:
    assert errors({"type": "click", "content_id": "c", "learner_id": "x"}) == [
        {"path": "/learner_id", "error": "unknown field"}
    ]


@pytest.mark.parametrize("rating", [True, "0.5", -0.1, 1.01, None])
def test_bad_ratings(rating: Any) -> None:
    assert errors({"type": "rating", "content_id": "c", "rating": rating})[0]["path"] == "/rating"


def test_times_far_from_now_are_refused() -> None:
    assert (
        errors({"type": "click", "content_id": "c", "occurred_at_ms": NOW + 3_600_000})[0]["path"]
        == "/occurred_at_ms"
    )
    assert (
        errors({"type": "click", "content_id": "c", "occurred_at_ms": NOW - 30 * 86_400_000})[0][
            "path"
        ]
        == "/occurred_at_ms"
    )


def test_ids_are_bounded_and_plain() -> None:
    assert errors({"type": "click", "content_id": "x" * 129})[0]["path"] == "/content_id"
    assert errors({"type": "click", "content_id": "a b"})[0]["path"] == "/content_id"
    assert errors({"type": "click", "content_id": ""})[0]["path"] == "/content_id"


def test_batch_size_limits() -> None:
    assert errors([])[0]["path"] == ""
    too_many = [{"type": "impression", "content_id": "c"}] * (MAX_BATCH + 1)
    assert errors(too_many)[0]["path"] == ""


def test_non_json_is_malformed() -> None:
    with pytest.raises(MalformedBody):
        parse(b"{not json")
    assert parse(b'{"type":"click"}') == {"type": "click"}
