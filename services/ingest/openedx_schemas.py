"""Avro writer schemas of the Open edX event-bus events LearnPulse maps.

The Open edX event bus serialises each signal's data class to Avro (Confluent
wire format, schema registry ids). LearnPulse decodes without a registry by
knowing the writer schema per ``ce_type``: the schemas below describe the
public Open edX data classes (``UserData``, ``CourseData``, ...) field by field
in their published order. :func:`register` adds or replaces one, for event
types or versions not listed here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import fastavro
from fastavro.types import Schema

_OPT_STR: list[Any] = ["null", "string"]


def _rec(name: str, fields: list[tuple[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "record",
        "fields": [
            {"name": n, "type": t, "default": None}
            if t == _OPT_STR or (isinstance(t, list) and t[0] == "null")
            else {"name": n, "type": t}
            for n, t in fields
        ],
    }


def _user() -> dict[str, Any]:
    pii = _rec(
        "UserPersonalData", [("username", "string"), ("email", "string"), ("name", "string")]
    )
    return _rec("UserData", [("id", "long"), ("is_active", "boolean"), ("pii", pii)])


def _course() -> dict[str, Any]:
    return _rec(
        "CourseData",
        [
            ("course_key", "string"),
            ("display_name", "string"),
            ("start", _OPT_STR),
            ("end", _OPT_STR),
        ],
    )


def _enrollment() -> dict[str, Any]:
    return _rec(
        "CourseEnrollmentData",
        [
            ("user", _user()),
            ("course", _course()),
            ("mode", "string"),
            ("is_active", "boolean"),
            ("creation_date", "string"),
            ("created_by", ["null", "UserData"]),
        ],
    )


def _certificate() -> dict[str, Any]:
    return _rec(
        "CertificateData",
        [
            ("user", _user()),
            ("course", _course()),
            ("mode", "string"),
            ("grade", "string"),
            ("download_url", "string"),
            ("name", "string"),
            ("current_status", "string"),
            ("previous_status", "string"),
        ],
    )


def _passing() -> dict[str, Any]:
    return _rec(
        "CoursePassingStatusData",
        [("is_passing", "boolean"), ("course", _course()), ("user", _user())],
    )


def _grade_summary() -> dict[str, Any]:
    return _rec(
        "PersistentCourseGradeData",
        [
            ("user_id", "long"),
            ("course", _course()),
            ("course_edited_timestamp", "string"),
            ("course_version", "string"),
            ("grading_policy_hash", "string"),
            ("percent_grade", "double"),
            ("letter_grade", "string"),
            ("passed_timestamp", "string"),
        ],
    )


def _cloud_event(ce_type: str, field: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "CloudEvent",
        "type": "record",
        "namespace": ce_type,
        "fields": [{"name": field, "type": body}],
    }


_P = "org.openedx.learning."
_BUILDERS: dict[str, tuple[str, Any]] = {
    _P + "course.enrollment.created.v1": ("enrollment", _enrollment),
    _P + "course.enrollment.changed.v1": ("enrollment", _enrollment),
    _P + "course.unenrollment.completed.v1": ("enrollment", _enrollment),
    _P + "certificate.created.v1": ("certificate", _certificate),
    _P + "certificate.changed.v1": ("certificate", _certificate),
    _P + "course.passing.status.updated.v1": ("course_passing_status", _passing),
    _P + "course.persistent_grade_summary.changed.v1": ("grade", _grade_summary),
    _P + "auth.session.login.completed.v1": ("user", _user),
    _P + "student.registration.completed.v1": ("user", _user),
}
_EXTRA: dict[str, dict[str, Any]] = {}


def register(ce_type: str, schema: dict[str, Any]) -> None:
    """Use ``schema`` as the writer schema of ``ce_type`` from now on."""
    _EXTRA[ce_type] = schema
    parsed.cache_clear()


def schema_of(ce_type: str) -> dict[str, Any] | None:
    if ce_type in _EXTRA:
        return _EXTRA[ce_type]
    built = _BUILDERS.get(ce_type)
    if built is None:
        return None
    field, make = built
    return _cloud_event(ce_type, field, make())


@cache
def parsed(ce_type: str) -> Schema | None:
    schema = schema_of(ce_type)
    return fastavro.parse_schema(schema) if schema is not None else None


def known_types() -> list[str]:
    return sorted(set(_BUILDERS) | set(_EXTRA))
