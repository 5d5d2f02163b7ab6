"""Open edX event-bus events -> canonical learning events (pure).

An event-bus message is a Kafka record whose headers are CloudEvents
attributes (``ce_id``, ``ce_type`` such as
``org.openedx.learning.course.enrollment.created.v1``, ``ce_source``,
``ce_time``, ``ce_specversion``) and whose value is the signal's data, in Avro
(Confluent wire format, as the Open edX event bus writes it) or JSON.

The learner is the LMS user id (``openedx:user:<id>``); the user's username,
name and email, which Open edX sends along, are never copied.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import fastavro
import orjson

from services.ingest import canonical
from services.ingest import openedx_schemas as avro_schemas
from services.ingest.errors import DecodeError, InvalidEvent
from services.ingest.fields import Errors, parse_time_ms

_P = "org.openedx.learning."
Mapped = tuple[str, str, str, str, dict[str, Any] | None]  # learner, verb, object, type, result


def _header(headers: Mapping[str, bytes | str | None], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def decode_body(ce_type: str, value: bytes) -> dict[str, Any]:
    """JSON or Avro body -> dict. Avro needs a known writer schema for ``ce_type``."""
    if not value:
        raise DecodeError("empty Open edX event body")
    if value[:1] in (b"{", b" ", b"\n"):
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"Open edX body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise DecodeError("Open edX JSON body must be an object")
        return data
    schema = avro_schemas.parsed(ce_type)
    if schema is None:
        raise DecodeError(f"no Avro schema known for Open edX type {ce_type!r}")
    # Confluent framing (magic 0 + 4-byte registry id) when present; plain Avro otherwise.
    body = value[5:] if value[0] == 0 and len(value) > 5 else value
    buf = io.BytesIO(body)
    try:
        out = fastavro.schemaless_reader(buf, schema, None)
    except Exception as exc:  # fastavro raises many types on garbage
        raise DecodeError(
            f"cannot decode Open edX {ce_type} Avro body: {exc.__class__.__name__}: {exc}"
        ) from exc
    if buf.tell() != len(body):
        raise DecodeError(
            f"Open edX {ce_type} Avro body has {len(body) - buf.tell()} bytes "
            "left over: wrong schema version?"
        )
    if not isinstance(out, dict):
        raise DecodeError("Open edX Avro body is not a record")
    return out


def normalize(
    value: bytes, headers: Mapping[str, bytes | str | None], *, source: str, received_at_ms: int
) -> dict[str, Any]:
    """One event-bus message -> one canonical record. Raises DecodeError/InvalidEvent."""
    errs = Errors()
    ce_id, ce_type, ce_time = (_header(headers, h) for h in ("ce_id", "ce_type", "ce_time"))
    if not ce_id:
        errs.add("/headers/ce_id", "required CloudEvents header")
    if not ce_type:
        errs.add("/headers/ce_type", "required CloudEvents header")
    elif ce_type not in MAPPERS:
        errs.add(
            "/headers/ce_type",
            f"unsupported Open edX event type {ce_type!r}; supported: {sorted(MAPPERS)}",
        )
    occurred = None
    if not ce_time:
        errs.add("/headers/ce_time", "required CloudEvents header")
    else:
        try:
            occurred = parse_time_ms(ce_time)
        except ValueError as exc:
            errs.add("/headers/ce_time", str(exc))
    errs.check()
    assert ce_id and ce_type and occurred is not None
    data = decode_body(ce_type, value)
    try:
        learner, verb, object_id, object_type, result = MAPPERS[ce_type](data)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidEvent.one(
            "/data", f"{ce_type} data is missing a field or has a wrong type: {exc!r}"
        ) from exc
    exts = {"openedx.type": ce_type}
    ce_source = _header(headers, "ce_source")
    if ce_source:
        exts["openedx.source"] = ce_source
    course = object_id if object_type == "course" else None
    return canonical.record(
        event_id=ce_id,
        learner_id=learner,
        occurred_at_ms=occurred,
        received_at_ms=received_at_ms,
        source=source,
        source_format="openedx",
        verb=verb,
        object_id=object_id,
        object_type=object_type,
        result=result,
        context=canonical.context(course_id=course, platform=ce_source),
        extensions=exts,
    )


def _user(user: dict[str, Any]) -> str:
    return f"openedx:user:{int(user['id'])}"


def _enrollment(verb: str) -> Callable[[dict[str, Any]], Mapped]:
    def mapper(data: dict[str, Any]) -> Mapped:
        e = data["enrollment"]
        return _user(e["user"]), verb, str(e["course"]["course_key"]), "course", None

    return mapper


def _certificate(data: dict[str, Any]) -> Mapped:
    c = data["certificate"]
    done = c.get("current_status") in ("downloadable", "generating")
    return (
        _user(c["user"]),
        "completed" if done else "certificate_changed",
        str(c["course"]["course_key"]),
        "course",
        canonical.result(completion=True, success=True) if done else None,
    )


def _certificate_changed(data: dict[str, Any]) -> Mapped:
    learner, verb, course, kind, res = _certificate(data)
    return learner, "certificate_changed", course, kind, res


def _passing(data: dict[str, Any]) -> Mapped:
    s = data["course_passing_status"]
    return (
        _user(s["user"]),
        "graded",
        str(s["course"]["course_key"]),
        "course",
        canonical.result(success=bool(s["is_passing"])),
    )


def _grade_summary(data: dict[str, Any]) -> Mapped:
    g = data["grade"]
    pct = float(g["percent_grade"])
    if not 0.0 <= pct <= 1.0:
        raise ValueError(f"percent_grade {pct} outside [0, 1]")
    return (
        f"openedx:user:{int(g['user_id'])}",
        "graded",
        str(g["course"]["course_key"]),
        "course",
        canonical.result(score_scaled=pct),
    )


def _user_only(verb: str) -> Callable[[dict[str, Any]], Mapped]:
    def mapper(data: dict[str, Any]) -> Mapped:
        return _user(data["user"]), verb, "", "", None

    return mapper


MAPPERS: dict[str, Callable[[dict[str, Any]], Mapped]] = {
    _P + "course.enrollment.created.v1": _enrollment("enrolled"),
    _P + "course.enrollment.changed.v1": _enrollment("enrollment_changed"),
    _P + "course.unenrollment.completed.v1": _enrollment("unenrolled"),
    _P + "certificate.created.v1": _certificate,
    _P + "certificate.changed.v1": _certificate_changed,
    _P + "course.passing.status.updated.v1": _passing,
    _P + "course.persistent_grade_summary.changed.v1": _grade_summary,
    _P + "auth.session.login.completed.v1": _user_only("logged_in"),
    _P + "student.registration.completed.v1": _user_only("registered"),
}
