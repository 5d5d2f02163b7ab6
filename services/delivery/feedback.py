"""Front-end feedback -> canonical ``learning.activity.recorded.v1`` records (pure code).

A feedback request body is one object or a JSON array of up to ``MAX_BATCH``
objects (impressions usually come several at a time)::

    {"type": "click", "content_id": "sql-101", "position": 0}
    {"type": "rating", "content_id": "sql-101", "rating": 0.75}
    {"type": "nudge_opened", "nudge_id": "n-8c1f"}

Every problem is reported with a JSON-pointer path (``/2/rating``), the same
shape as the ingest gateway's errors, so a client can fix all of them at once.

>>> recs = to_records({"type": "click", "content_id": "sql-101"}, "l-1", now_ms=5,
...                   new_id=lambda: "e1")
>>> recs[0]["verb"], recs[0]["object_id"], recs[0]["source"], recs[0]["event_id"]
('clicked', 'sql-101', 'delivery', 'delivery:e1')
>>> to_records({"type": "rating", "content_id": "x", "rating": 2}, "l-1", 5, lambda: "e")
Traceback (most recent call last):
...
services.delivery.feedback.FeedbackError: /rating: must be a number in [0, 1]
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypedDict

import orjson

MAX_BATCH = 100
MAX_ID = 128
FUTURE_SKEW_MS = 5 * 60_000  # a browser clock may run a little ahead
MAX_AGE_MS = 7 * 86_400_000  # older feedback is not about what the learner sees now
SOURCE = "delivery"

# type -> (canonical verb, what object_id names)
KINDS: dict[str, tuple[str, str]] = {
    "impression": ("impression", "content"),
    "click": ("clicked", "content"),
    "dismiss": ("dismissed", "content"),
    "rating": ("rated", "content"),
    "nudge_opened": ("nudge_opened", "nudge"),
    "nudge_dismissed": ("nudge_dismissed", "nudge"),
}
FIELDS = frozenset(
    {
        "type",
        "content_id",
        "nudge_id",
        "rating",
        "position",
        "event_id",
        "occurred_at_ms",
        "session_id",
        "surface",
        "model_version",
        "reco_generated_at_ms",
    }
)
_ID = re.compile(r"^[A-Za-z0-9._:@/+-]{1,128}$")


class FieldError(TypedDict):
    path: str
    error: str


class MalformedBody(ValueError):
    """The body is not JSON at all (HTTP 400)."""


class FeedbackError(ValueError):
    """A JSON body that is not valid feedback (HTTP 422); ``errors`` say where and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{errors[0]['path']}: {errors[0]['error']}{more}")


def parse(raw: bytes) -> Any:
    """The JSON document of a request body; :class:`MalformedBody` if it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from exc


def to_records(
    doc: Any, learner_id: str, now_ms: int, new_id: Callable[[], str]
) -> list[dict[str, Any]]:
    """Validate ``doc`` and turn every feedback item into a canonical activity record."""
    if isinstance(doc, list):
        if not 1 <= len(doc) <= MAX_BATCH:
            raise FeedbackError([{"path": "", "error": f"send 1..{MAX_BATCH} items"}])
        items = [(f"/{i}", item) for i, item in enumerate(doc)]
    else:
        items = [("", doc)]
    errors: list[FieldError] = []
    records = [_one(item, base, learner_id, now_ms, new_id, errors) for base, item in items]
    if errors:
        raise FeedbackError(errors)
    return [r for r in records if r is not None]


def _str(
    item: dict[str, Any],
    name: str,
    base: str,
    errors: list[FieldError],
    required: bool = False,
    pattern: re.Pattern[str] | None = None,
) -> str | None:
    value = item.get(name)
    if value is None:
        if required:
            errors.append({"path": f"{base}/{name}", "error": "required"})
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        errors.append(
            {"path": f"{base}/{name}", "error": f"must be a string of 1..{MAX_ID} characters"}
        )
        return None
    if pattern is not None and not pattern.match(value):
        errors.append(
            {
                "path": f"{base}/{name}",
                "error": "may contain only letters, digits and . _ : @ / + -",
            }
        )
        return None
    return value


def _int(
    item: dict[str, Any], name: str, base: str, errors: list[FieldError], lo: int, hi: int
) -> int | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        errors.append({"path": f"{base}/{name}", "error": f"must be an integer in [{lo}, {hi}]"})
        return None
    return value


def _one(
    item: Any,
    base: str,
    learner_id: str,
    now_ms: int,
    new_id: Callable[[], str],
    errors: list[FieldError],
) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        errors.append({"path": base, "error": "must be a JSON object"})
        return None
    n_before = len(errors)
    for name in sorted(set(item) - FIELDS):
        errors.append({"path": f"{base}/{name}", "error": "unknown field"})
    kind = item.get("type")
    if kind is None:
        errors.append({"path": f"{base}/type", "error": "required"})
        return None
    if kind not in KINDS:
        errors.append({"path": f"{base}/type", "error": f"must be one of {', '.join(KINDS)}"})
        return None
    verb, target = KINDS[kind]
    content_id = _str(item, "content_id", base, errors, required=target == "content", pattern=_ID)
    nudge_id = _str(item, "nudge_id", base, errors, required=target == "nudge", pattern=_ID)
    if target == "content" and "nudge_id" in item:
        errors.append(
            {"path": f"{base}/nudge_id", "error": "only for nudge_opened and nudge_dismissed"}
        )
    rating = item.get("rating")
    if kind == "rating":
        if (
            isinstance(rating, bool)
            or not isinstance(rating, int | float)
            or not 0.0 <= rating <= 1.0
        ):
            errors.append({"path": f"{base}/rating", "error": "must be a number in [0, 1]"})
    elif rating is not None:
        errors.append({"path": f"{base}/rating", "error": "only for type rating"})
    position = _int(item, "position", base, errors, 0, 999)
    occurred = _int(
        item, "occurred_at_ms", base, errors, now_ms - MAX_AGE_MS, now_ms + FUTURE_SKEW_MS
    )
    reco_ms = _int(item, "reco_generated_at_ms", base, errors, 0, now_ms + FUTURE_SKEW_MS)
    event_id = _str(item, "event_id", base, errors, pattern=_ID)
    session_id = _str(item, "session_id", base, errors)
    surface = _str(item, "surface", base, errors)
    model_version = _str(item, "model_version", base, errors)
    if len(errors) > n_before:
        return None
    ext: dict[str, str] = {}
    if position is not None:
        ext["position"] = str(position)
    if model_version is not None:
        ext["model_version"] = model_version
    if reco_ms is not None:
        ext["reco_generated_at_ms"] = str(reco_ms)
    if target == "nudge" and content_id is not None:
        ext["content_id"] = content_id
    context: dict[str, Any] | None = None
    if session_id is not None or surface is not None:
        context = {
            "course_id": None,
            "session_id": session_id,
            "platform": surface,
            "skill_ids": [],
        }
    result = None
    if kind == "rating":
        result = {
            "score_scaled": None,
            "success": None,
            "completion": None,
            "progress": None,
            "duration_s": None,
            "rating": float(rating or 0.0),
        }
    return {
        "event_id": f"delivery:{event_id or new_id()}",
        "learner_id": learner_id,
        "occurred_at_ms": now_ms if occurred is None else occurred,
        "received_at_ms": now_ms,
        "source": SOURCE,
        "source_format": "native",
        "verb": verb,
        "object_id": (content_id if target == "content" else nudge_id) or "",
        "object_type": "nudge" if target == "nudge" else "",
        "result": result,
        "context": context,
        "extensions": ext,
    }
