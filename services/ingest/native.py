"""Native canonical JSON events -> canonical records, validated field by field (pure).

A native event is the canonical record in JSON, minus what the gateway fills
in (``received_at_ms``, ``source_format``, and ``source`` unless the
credential allows several). Time is ``occurred_at_ms`` (epoch ms) or
``occurred_at`` (ISO 8601). ``event_id`` is optional; without one the
gateway assigns a UUID and retries cannot be deduplicated, so producers
should send their own.

>>> rec = normalize_one({"learner_id": "u-1", "verb": "completed", "object_id": "c-9",
...                      "occurred_at": "2024-05-01T10:00:00Z", "event_id": "e-1"},
...                     source="lms", received_at_ms=1)
>>> rec["occurred_at_ms"], rec["verb"], rec["source_format"]
(1714557600000, 'completed', 'native')
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from services.ingest import canonical, learners
from services.ingest.fields import Errors, is_number, parse_time_ms, ptr

EVENT_KEYS = frozenset(
    {
        "event_id",
        "learner_id",
        "occurred_at_ms",
        "occurred_at",
        "source",
        "verb",
        "object_id",
        "object_type",
        "result",
        "context",
        "extensions",
    }
)
CONTEXT_KEYS = frozenset({"course_id", "session_id", "platform", "skill_ids"})
_VERB = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ID = 512
# Result fields and their allowed ranges (None: any non-negative number / boolean).
_RANGES: dict[str, tuple[float, float] | None] = {
    "score_scaled": (-1.0, 1.0),
    "progress": (0.0, 1.0),
    "rating": (0.0, 1.0),
    "duration_s": (0.0, float("inf")),
}


def normalize(
    body: Any, *, source: str, received_at_ms: int, max_batch: int | None = None
) -> list[dict[str, Any]]:
    """Validate a JSON array of native events; all or nothing."""
    errs = Errors()
    if not isinstance(body, list):
        errs.add("", "must be a JSON array of events")
    elif not body:
        errs.add("", "no events: the array is empty")
    elif max_batch is not None and len(body) > max_batch:
        errs.add("", f"{len(body)} events is more than the batch limit {max_batch}")
    errs.check()
    out: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(body):
        rec = _event(item, f"/{i}", errs, source, received_at_ms)
        if rec is None:
            continue
        if rec["event_id"] in seen:
            errs.add(
                f"/{i}/event_id",
                f"duplicate event_id in this batch (also at {seen[rec['event_id']]})",
            )
        seen[rec["event_id"]] = f"/{i}/event_id"
        out.append(rec)
    errs.check()
    return out


def normalize_one(item: Any, *, source: str, received_at_ms: int) -> dict[str, Any]:
    errs = Errors()
    rec = _event(item, "", errs, source, received_at_ms)
    errs.check()
    assert rec is not None
    return rec


def _str(
    item: dict[str, Any], key: str, path: str, errs: Errors, required: bool, max_len: int = MAX_ID
) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            errs.add(ptr(path, key), "required")
        return None
    if not isinstance(value, str) or (required and not value) or len(value) > max_len:
        errs.add(
            ptr(path, key),
            f"must be a {'non-empty ' if required else ''}string of at most {max_len} characters",
        )
        return None
    return value


def _event(
    item: Any, path: str, errs: Errors, source: str, received_at_ms: int
) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        errs.add(path, "must be an event object")
        return None
    before = len(errs.items)
    for key in item:
        if key not in EVENT_KEYS:
            errs.add(ptr(path, key), "unknown property")
    learner = _str(item, "learner_id", path, errs, required=True)
    if learner is not None and (
        learners.looks_like_email(learner) or learner.lower().startswith("mailto:")
    ):
        errs.add(ptr(path, "learner_id"), "must be a pseudonymous id, never an email address")
    verb = _str(item, "verb", path, errs, required=True)
    if verb is not None and not _VERB.match(verb):
        errs.add(ptr(path, "verb"), "must be snake_case (a-z, 0-9, _), e.g. completed")
    event_id = _str(item, "event_id", path, errs, required=False)
    if "event_id" in item and event_id == "":
        errs.add(ptr(path, "event_id"), "must not be empty")
    object_id = _str(item, "object_id", path, errs, required=False) or ""
    object_type = _str(item, "object_type", path, errs, required=False, max_len=64) or ""
    own_source = _str(item, "source", path, errs, required=False, max_len=64)
    occurred = _occurred(item, path, errs)
    result = _result(item["result"], ptr(path, "result"), errs) if item.get("result") else None
    context = _context(item["context"], ptr(path, "context"), errs) if item.get("context") else None
    exts = item.get("extensions") or {}
    if not isinstance(exts, dict):
        errs.add(ptr(path, "extensions"), "must be an object of string values")
    else:
        for k, v in exts.items():
            if not isinstance(v, str):
                errs.add(ptr(path, "extensions", k), "must be a string")
    if len(errs.items) > before or learner is None or verb is None or occurred is None:
        return None
    return canonical.record(
        event_id=event_id or str(uuid.uuid4()),
        learner_id=learner,
        occurred_at_ms=occurred,
        received_at_ms=received_at_ms,
        source=own_source or source,
        source_format="native",
        verb=verb,
        object_id=object_id,
        object_type=object_type,
        result=result,
        context=context,
        extensions=exts,
    )


def _occurred(item: dict[str, Any], path: str, errs: Errors) -> int | None:
    has_ms, has_iso = "occurred_at_ms" in item, "occurred_at" in item
    if has_ms == has_iso:
        errs.add(
            ptr(path, "occurred_at_ms"),
            "exactly one of occurred_at_ms (epoch ms) or occurred_at (ISO 8601) is required",
        )
        return None
    if has_ms:
        value = item["occurred_at_ms"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            errs.add(ptr(path, "occurred_at_ms"), "must be a non-negative integer (epoch ms)")
            return None
        return value
    try:
        return parse_time_ms(item["occurred_at"])
    except ValueError as exc:
        errs.add(ptr(path, "occurred_at"), str(exc))
        return None


def _result(value: Any, path: str, errs: Errors) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        errs.add(path, "must be an object")
        return None
    before = len(errs.items)
    out: dict[str, Any] = {}
    for key, v in value.items():
        at = ptr(path, key)
        if key in ("success", "completion"):
            if v is not None and not isinstance(v, bool):
                errs.add(at, "must be true, false or null")
            out[key] = v
        elif key in _RANGES:
            lo, hi = _RANGES[key] or (0.0, float("inf"))
            if v is not None and not (is_number(v) and lo <= v <= hi):
                errs.add(at, f"must be a number in [{lo}, {hi}]")
            out[key] = v
        else:
            errs.add(at, "unknown property")
    return canonical.result(**out) if len(errs.items) == before else None


def _context(value: Any, path: str, errs: Errors) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        errs.add(path, "must be an object")
        return None
    for key in value:
        if key not in CONTEXT_KEYS:
            errs.add(ptr(path, key), "unknown property")
    strs = {
        k: _str(value, k, path, errs, required=False)
        for k in ("course_id", "session_id", "platform")
    }
    skills = value.get("skill_ids", [])
    if not isinstance(skills, list) or not all(isinstance(s, str) and s for s in skills):
        errs.add(ptr(path, "skill_ids"), "must be an array of non-empty strings")
        skills = []
    return canonical.context(skill_ids=skills, **strs)
