"""IMS Caliper 1.1 / 1.2 envelopes and events -> canonical learning events (pure).

An envelope (``sensor``, ``sendTime``, ``dataVersion``, ``data[]``) is checked
first (:class:`MalformedEnvelope`, :class:`UnsupportedVersion`); then every
datum must be an *Event* (a ``type`` ending in ``Event`` plus ``action``,
``actor``, ``object``, ``eventTime``), otherwise the whole envelope is
rejected with the datum's path and a reason such as
``entity of type Person is not an event``.

The learner is the actor when the actor is a person; when a system acts on a
learner's behalf (an autograder grading an Attempt, a platform timing out a
Session) the learner is the person the object belongs to.
"""

from __future__ import annotations

from typing import Any

from services.ingest import canonical, learners, vocab
from services.ingest.errors import InvalidEvent
from services.ingest.fields import (
    Errors,
    extensions_to_strings,
    is_iri,
    is_number,
    is_uuid,
    parse_duration_s,
    parse_time_ms,
    ptr,
)

CONTEXT_PREFIX = "http://purl.imsglobal.org/ctx/caliper/"
SUPPORTED_DATA_VERSIONS = {
    "http://purl.imsglobal.org/ctx/caliper/v1p1": "1.1",
    "http://purl.imsglobal.org/ctx/caliper/v1p2": "1.2",
}
# Events whose actor is a system rather than the learner.
_PERSON_TYPES = frozenset({"Person"})


class MalformedEnvelope(InvalidEvent):
    """The envelope itself is broken (HTTP 400)."""


class UnsupportedVersion(InvalidEvent):
    """``dataVersion`` is not Caliper 1.1 or 1.2 (HTTP 422)."""


def check_envelope(env: Any) -> tuple[str, list[Any]]:
    """Validate an envelope; return (Caliper version, data items)."""
    errs = Errors()
    if not isinstance(env, dict):
        raise MalformedEnvelope.one(
            "", "must be a Caliper envelope object with sensor, sendTime, dataVersion and data"
        )
    if not isinstance(env.get("sensor"), str) or not env.get("sensor"):
        errs.add("/sensor", "required, must be the sensor id (a string)")
    if "sendTime" not in env:
        errs.add("/sendTime", "required")
    else:
        try:
            parse_time_ms(env["sendTime"])
        except ValueError as exc:
            errs.add("/sendTime", str(exc))
    data = env.get("data")
    if not isinstance(data, list) or not data:
        errs.add("/data", "required, must be a non-empty array")
    dv = env.get("dataVersion")
    if not isinstance(dv, str):
        errs.add("/dataVersion", "required, must be a string")
    if errs:
        raise MalformedEnvelope(errs.items)
    if dv not in SUPPORTED_DATA_VERSIONS:
        raise UnsupportedVersion.one(
            "/dataVersion",
            f"unsupported dataVersion {dv!r}; supported: {sorted(SUPPORTED_DATA_VERSIONS)}",
        )
    assert isinstance(data, list)
    return SUPPORTED_DATA_VERSIONS[str(dv)], data


def normalize_envelope(env: Any, *, source: str, received_at_ms: int) -> list[dict[str, Any]]:
    """Validate an envelope and normalise every event in it (all or nothing)."""
    _, data = check_envelope(env)
    return normalize_events(data, source=source, received_at_ms=received_at_ms, base="/data")


def normalize_events(
    items: list[Any], *, source: str, received_at_ms: int, base: str = ""
) -> list[dict[str, Any]]:
    errs = Errors()
    out: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(items):
        path = ptr(base, i)
        rec = _event(item, path, errs, source, received_at_ms)
        if rec is None:
            continue
        if rec["event_id"] in seen:
            errs.add(
                ptr(path, "id"),
                f"duplicate event id in this envelope (also at {seen[rec['event_id']]})",
            )
        seen[rec["event_id"]] = ptr(path, "id")
        out.append(rec)
    errs.check()
    return out


def normalize_event(item: Any, *, source: str, received_at_ms: int) -> dict[str, Any]:
    """One bare Caliper event (not in an envelope); paths are relative to the event."""
    errs = Errors()
    rec = _event(item, "", errs, source, received_at_ms)
    errs.check()
    assert rec is not None
    return rec


def _id(value: Any) -> str | None:
    """The id of an entity given inline (object) or by reference (string IRI)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _type(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return str(value["type"])
    return None


def _event(
    item: Any, path: str, errs: Errors, source: str, received_at_ms: int
) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        errs.add(path, "must be a Caliper event object")
        return None
    etype = item.get("type")
    if not isinstance(etype, str) or not etype:
        errs.add(ptr(path, "type"), "required: a Caliper event type such as NavigationEvent")
        return None
    short = etype.rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    if not short.endswith("Event"):
        errs.add(
            path,
            f"entity of type {short} is not an event (an event has a type ending "
            "in Event, and action, actor, object, eventTime)",
        )
        return None
    before = len(errs.items)
    eid = item.get("id")
    if not (isinstance(eid, str) and eid.lower().startswith("urn:uuid:") and is_uuid(eid[9:])):
        errs.add(ptr(path, "id"), "required, must be a urn:uuid: identifier")
    action = item.get("action")
    if not isinstance(action, str) or not action:
        errs.add(ptr(path, "action"), "required, must be a string")
    for key in ("actor", "object"):
        if key not in item:
            errs.add(ptr(path, key), "required")
        elif _id(item[key]) is None:
            errs.add(ptr(path, key), "must be an entity with an id, or an id string")
        elif not is_iri(_id(item[key])):
            errs.add(
                ptr(path, key, "id") if isinstance(item[key], dict) else ptr(path, key),
                "must be an absolute IRI",
            )
    occurred = None
    if "eventTime" not in item:
        errs.add(ptr(path, "eventTime"), "required")
    else:
        try:
            occurred = parse_time_ms(item["eventTime"])
        except ValueError as exc:
            errs.add(ptr(path, "eventTime"), str(exc))
    if "extensions" in item and not isinstance(item["extensions"], dict):
        errs.add(ptr(path, "extensions"), "must be an object")
    if len(errs.items) > before or occurred is None:
        return None
    assert isinstance(eid, str) and isinstance(action, str)
    verb = vocab.caliper_verb(action)
    obj = item["object"]
    object_id, object_type = _id(obj) or "", vocab.caliper_object_type(_type(obj))
    if _type(obj) == "Attempt" and _id(obj.get("assignable")):
        # A graded Attempt is about the assessment it attempts.
        object_id = _id(obj["assignable"]) or object_id
        object_type = vocab.caliper_object_type(_type(obj["assignable"])) or "quiz"
    exts = extensions_to_strings(item.get("extensions") or {})
    exts["caliper.type"] = short
    if short == "AssessmentItemEvent" and action == "Completed":
        verb = "answered"
    return canonical.record(
        event_id=eid.lower(),
        learner_id=_learner(item),
        occurred_at_ms=occurred,
        received_at_ms=received_at_ms,
        source=source,
        source_format="caliper",
        verb=verb,
        object_id=object_id,
        object_type=object_type,
        result=_result(item, action),
        context=_context(item),
        extensions=exts,
    )


def _learner(item: dict[str, Any]) -> str:
    actor = item["actor"]
    if isinstance(actor, str) or _type(actor) in _PERSON_TYPES:
        return learners.from_iri(_id(actor) or "")
    obj = item["object"] if isinstance(item["object"], dict) else {}
    for candidate in (
        obj.get("assignee"),
        obj.get("user"),
        _member(item),
        (item.get("session") or {}).get("user") if isinstance(item.get("session"), dict) else None,
    ):
        cid = _id(candidate)
        if cid:
            return learners.from_iri(cid)
    return learners.from_iri(_id(actor) or "")


def _member(item: dict[str, Any]) -> Any:
    membership = item.get("membership")
    return membership.get("member") if isinstance(membership, dict) else None


def _result(item: dict[str, Any], action: str) -> dict[str, Any] | None:
    gen = item.get("generated")
    gtype = _type(gen)
    values: dict[str, Any] = {}
    if action in ("Completed", "Submitted"):
        values["completion"] = True
    if isinstance(gen, dict):
        if (
            gtype == "Score"
            and is_number(gen.get("scoreGiven"))
            and is_number(gen.get("maxScore"))
            and gen["maxScore"] > 0
        ):
            values["score_scaled"] = min(max(gen["scoreGiven"] / gen["maxScore"], -1.0), 1.0)
        if (
            gtype == "Result"
            and is_number(gen.get("resultScore"))
            and is_number(gen.get("maxResultScore"))
            and gen["maxResultScore"] > 0
        ):
            values["score_scaled"] = min(max(gen["resultScore"] / gen["maxResultScore"], -1.0), 1.0)
        if gtype in ("Attempt", "Session") or "duration" in gen:
            values["duration_s"] = _duration(gen.get("duration"))
        if gtype == "AggregateMeasureCollection":
            values.update(_measures(gen.get("items")))
        if gtype == "Rating":
            values["rating"] = _rating(gen)
    obj = item.get("object")
    if _type(obj) == "Session" and isinstance(obj, dict):
        values.setdefault("duration_s", _duration(obj.get("duration")))
    target = item.get("target")
    if _type(target) == "MediaLocation" and isinstance(obj, dict) and isinstance(target, dict):
        pos, length = _duration(target.get("currentTime")), _duration(obj.get("duration"))
        if pos is not None and length:
            values["progress"] = min(pos / length, 1.0)
    return canonical.result(**{k: v for k, v in values.items() if v is not None})


def _duration(value: Any) -> float | None:
    try:
        return parse_duration_s(value) if value is not None else None
    except ValueError:
        return None


def _measures(items: Any) -> dict[str, float]:
    """ToolUse aggregate measures: units completed -> progress, minutes -> duration."""
    out: dict[str, float] = {}
    for m in items if isinstance(items, list) else []:
        if not isinstance(m, dict) or not is_number(m.get("metricValue")):
            continue
        value, top = float(m["metricValue"]), m.get("maxMetricValue")
        if m.get("metric") == "MinutesOnTask":
            out["duration_s"] = value * 60
        elif m.get("metric") == "UnitsCompleted" and isinstance(top, int | float) and top > 0:
            out["progress"] = min(value / float(top), 1.0)
    return out


def _rating(gen: dict[str, Any]) -> float | None:
    """Position of the selected value on the rating scale, in [0, 1]."""
    question = gen.get("question")
    question = question if isinstance(question, dict) else {}
    scale = question.get("scale")
    scale = scale if isinstance(scale, dict) else {}
    values, picked = scale.get("itemValues"), gen.get("selections")
    if (
        isinstance(values, list)
        and len(values) > 1
        and isinstance(picked, list)
        and picked
        and picked[0] in values
    ):
        return values.index(picked[0]) / (len(values) - 1)
    return None


def _context(item: dict[str, Any]) -> dict[str, Any] | None:
    group = item.get("group")
    return canonical.context(
        course_id=_id(group), session_id=_id(item.get("session")), platform=_id(item.get("edApp"))
    )
