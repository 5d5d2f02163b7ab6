"""Build canonical ``learning.activity.recorded.v1`` records (plain dicts).

The dicts returned here are exactly what ``schemas.encode(schemas.ACTIVITY, rec)``
accepts; :func:`record` fills every field so nothing depends on Avro defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SOURCE_FORMATS = ("native", "xapi", "caliper", "openedx", "unknown")
RESULT_FIELDS = ("score_scaled", "success", "completion", "progress", "duration_s", "rating")


def result(**values: Any) -> dict[str, Any] | None:
    """A Result record, or ``None`` when nothing is known (keeps records small)."""
    out: dict[str, Any] = dict.fromkeys(RESULT_FIELDS)
    known = False
    for k, v in values.items():
        if k not in out:
            raise TypeError(f"unknown result field {k!r}")
        if v is not None:
            known = True
            out[k] = v if k in ("success", "completion") else float(v)
    return out if known else None


def context(
    course_id: str | None = None,
    session_id: str | None = None,
    platform: str | None = None,
    skill_ids: Iterable[str] = (),
) -> dict[str, Any] | None:
    skills = list(skill_ids)
    if course_id is None and session_id is None and platform is None and not skills:
        return None
    return {
        "course_id": course_id,
        "session_id": session_id,
        "platform": platform,
        "skill_ids": skills,
    }


def record(
    *,
    event_id: str,
    learner_id: str,
    occurred_at_ms: int,
    received_at_ms: int,
    source: str,
    source_format: str,
    verb: str,
    object_id: str = "",
    object_type: str = "",
    result: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    extensions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    if source_format not in SOURCE_FORMATS:
        raise ValueError(f"unknown source_format {source_format!r}")
    return {
        "event_id": event_id,
        "learner_id": learner_id,
        "occurred_at_ms": int(occurred_at_ms),
        "received_at_ms": int(received_at_ms),
        "source": source,
        "source_format": source_format,
        "verb": verb,
        "object_id": object_id,
        "object_type": object_type,
        "result": result,
        "context": context,
        "extensions": dict(extensions or {}),
    }
