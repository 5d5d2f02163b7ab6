"""xAPI 1.0.3 / 2.0 statements -> canonical learning events (pure, no network).

:func:`normalize` validates one statement or an array strictly (unknown
properties, IFIs, IRIs, UUIDs, scores, durations, timestamps), rejects the
whole batch if any statement is invalid, fills the LRS-assigned fields (``id``,
``stored``, ``authority``, ``version``) and maps each statement to a canonical
record. It also returns a *fingerprint* per statement: the SHA-256 of the
statement as sent, minus the fields the LRS may change, so an identical
re-send can be told apart from a conflicting one.

Learner ids never contain an email: ``mbox`` becomes the SHA-1 of the address
(the xAPI ``mbox_sha1sum`` form), an account becomes ``homePage|name``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from services.ingest import canonical, vocab
from services.ingest import xapi_parts as parts
from services.ingest.fields import (
    Errors,
    extensions_to_strings,
    is_number,
    is_uuid,
    parse_duration_s,
    parse_time_ms,
    ptr,
)

SUPPORTED_VERSIONS = ("1.0.3", "2.0.0")
_V1 = re.compile(r"^1\.0(\.\d+)?$")
_V2 = re.compile(r"^2\.0(\.\d+)?$")
CMI5_PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"
VIDEO_PROGRESS = "https://w3id.org/xapi/video/extensions/progress"

STATEMENT_KEYS = frozenset(
    {
        "id",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "stored",
        "authority",
        "version",
        "attachments",
    }
)
SUBSTATEMENT_KEYS = frozenset(
    {
        "objectType",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "attachments",
    }
)
CONTEXT_KEYS = frozenset(
    {
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
    }
)
CONTEXT_KEYS_V2 = CONTEXT_KEYS | {"contextAgents", "contextGroups"}
RESULT_KEYS = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
# Fields an LRS sets or may change: left out of the fingerprint (xAPI "statement comparison").
_NOT_COMPARED = ("id", "stored", "authority", "version")


def version_of(header: str | None) -> str | None:
    """The xAPI version a request declares (``X-Experience-API-Version``), or None.

    >>> version_of("1.0.1"), version_of("2.0.0"), version_of("0.95"), version_of(None)
    ('1.0.3', '2.0.0', None, None)
    """
    if header is None:
        return None
    value = header.strip()
    if _V1.match(value):
        return "1.0.3"
    if _V2.match(value):
        return "2.0.0"
    return None


@dataclass(frozen=True)
class Statement:
    """One accepted statement: its id, canonical record, stored form and fingerprint."""

    id: str
    record: dict[str, Any]
    statement: dict[str, Any]
    fingerprint: str


def fingerprint(stmt: dict[str, Any]) -> str:
    """SHA-256 (128-bit hex) of the statement without LRS-assigned fields.

    The timestamp is compared as an instant, so ``...Z`` and ``...+00:00`` match.
    """
    body = {k: v for k, v in stmt.items() if k not in _NOT_COMPARED}
    ts = body.get("timestamp")
    if isinstance(ts, str):
        with contextlib.suppress(ValueError):
            body["timestamp"] = parse_time_ms(ts)
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def content_id(fp: str) -> str:
    """A deterministic statement id from a fingerprint (raw topics: redelivery-safe)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:learnpulse:xapi:{fp}"))


def random_id(_fp: str) -> str:
    return str(uuid.uuid4())


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def normalize(
    body: Any,
    *,
    source: str,
    received_at_ms: int,
    version: str = "1.0.3",
    authority: dict[str, Any] | None = None,
    id_factory: Callable[[str], str] = random_id,
    statement_id: str | None = None,
) -> list[Statement]:
    """Validate and normalise a statement (object) or statements (array).

    Paths in errors are ``/actor/mbox`` for a single statement and
    ``/0/actor/mbox`` for an array. ``statement_id`` is the id given out of band
    (``PUT ?statementId=``): the statement must not carry a different one.
    Raises :class:`~services.ingest.errors.InvalidEvent`.
    """
    errs = Errors()
    if isinstance(body, dict):
        items, paths = [body], [""]
    elif isinstance(body, list):
        items, paths = body, [f"/{i}" for i in range(len(body))]
        if not body:
            errs.add("", "no statements: the array is empty")
    else:
        errs.add("", "must be a statement object or an array of statements")
        items, paths = [], []
    errs.check()
    out: list[Statement] = []
    seen: dict[str, str] = {}
    for stmt, path in zip(items, paths, strict=True):
        one = _statement(
            stmt, path, errs, source, received_at_ms, version, authority, id_factory, statement_id
        )
        if one is None:
            continue
        if one.id in seen:
            errs.add(
                ptr(path, "id"),
                f"duplicate statement id in this batch (also at {seen[one.id] or '/'})",
            )
        seen[one.id] = ptr(path, "id")
        out.append(one)
    errs.check()
    return out


def _statement(
    stmt: Any,
    path: str,
    errs: Errors,
    source: str,
    received_at_ms: int,
    version: str,
    authority: dict[str, Any] | None,
    id_factory: Callable[[str], str],
    statement_id: str | None,
) -> Statement | None:
    if not parts.is_obj(stmt, path, errs, "a statement object"):
        return None
    before = len(errs.items)
    parts.unknown_keys(stmt, STATEMENT_KEYS, path, errs)
    sid = stmt.get("id")
    if sid is not None and not is_uuid(sid):
        errs.add(ptr(path, "id"), "must be a UUID")
    if statement_id is not None and sid is not None and str(sid).lower() != statement_id.lower():
        errs.add(ptr(path, "id"), f"differs from statementId {statement_id}")
    ver = stmt.get("version")
    if ver is not None and not (isinstance(ver, str) and (_V1.match(ver) or _V2.match(ver))):
        errs.add(ptr(path, "version"), "must be 1.0.x or 2.0.x")
    if "authority" in stmt:
        parts.actor_or_group(stmt["authority"], ptr(path, "authority"), errs)
    if "stored" in stmt:
        _time(stmt["stored"], ptr(path, "stored"), errs)
    core = _core(stmt, path, errs, version, substatement=False)
    if core is None or len(errs.items) > before:
        return None
    fp = fingerprint(stmt)
    if sid is not None:
        sid = str(sid).lower()
    elif statement_id is not None:
        sid = statement_id.lower()
    else:
        sid = id_factory(fp)
    occurred = core.pop("timestamp_ms")
    if occurred is None:
        occurred = received_at_ms
    stored = dict(stmt)
    stored.update(
        {
            "id": sid,
            "timestamp": stmt.get("timestamp") or _iso(occurred),
            "stored": _iso(received_at_ms),
            "version": ver or ("2.0.0" if version.startswith("2") else "1.0.0"),
        }
    )
    if authority is not None:
        stored["authority"] = authority
    rec = canonical.record(
        event_id=sid,
        received_at_ms=received_at_ms,
        source=source,
        source_format="xapi",
        occurred_at_ms=occurred,
        **core,
    )
    return Statement(sid, rec, stored, fp)


def _time(value: Any, path: str, errs: Errors) -> int | None:
    try:
        return parse_time_ms(value)
    except ValueError as exc:
        errs.add(path, str(exc))
        return None


def _core(
    stmt: dict[str, Any], path: str, errs: Errors, version: str, substatement: bool
) -> dict[str, Any] | None:
    """actor, verb, object, result, context, timestamp -> canonical fields (minus ids)."""
    missing = [k for k in ("actor", "verb", "object") if k not in stmt]
    for k in missing:
        errs.add(ptr(path, k), "required")
    learner = parts.learner(stmt["actor"], ptr(path, "actor"), errs) if "actor" in stmt else None
    verb_iri = parts.verb(stmt["verb"], ptr(path, "verb"), errs) if "verb" in stmt else None
    obj = (
        _object(stmt["object"], ptr(path, "object"), errs, version, substatement, verb_iri)
        if "object" in stmt
        else None
    )
    result, implied = None, None
    verb = "unknown"
    if verb_iri is not None:
        verb, implied = vocab.xapi_verb(verb_iri)
    exts: dict[str, str] = {}
    ctx = None
    if "context" in stmt:
        ctx, ctx_exts = _context(
            stmt["context"],
            ptr(path, "context"),
            errs,
            version,
            is_activity=bool(obj and obj["is_activity"]),
        )
        exts.update(ctx_exts)
    if "result" in stmt:
        result, res_exts = _result(stmt["result"], ptr(path, "result"), errs, implied)
        exts.update(res_exts)
    elif implied is not None:
        result = canonical.result(success=implied)
    ts = _time(stmt["timestamp"], ptr(path, "timestamp"), errs) if "timestamp" in stmt else None
    if "attachments" in stmt:
        _attachments(stmt["attachments"], ptr(path, "attachments"), errs)
    if learner is None or obj is None or verb_iri is None:
        return None
    exts.update(obj["extensions"])
    return {
        "learner_id": learner,
        "verb": verb,
        "object_id": obj["id"],
        "object_type": obj["type"],
        "result": result,
        "context": ctx,
        "extensions": exts,
        "timestamp_ms": ts,
    }


def _object(
    value: Any, path: str, errs: Errors, version: str, substatement: bool, verb_iri: str | None
) -> dict[str, Any] | None:
    if not parts.is_obj(value, path, errs):
        return None
    otype = value.get("objectType", "Activity")
    ext: dict[str, str] = {}
    if verb_iri == "http://adlnet.gov/expapi/verbs/voided" and otype != "StatementRef":
        errs.add(ptr(path, "objectType"), "a voiding statement's object must be a StatementRef")
    if otype == "Activity":
        aid, atype = parts.activity(value, path, errs)
        return (
            {
                "id": aid,
                "type": vocab.xapi_object_type(atype),
                "is_activity": True,
                "extensions": ext,
            }
            if aid
            else None
        )
    if otype in ("Agent", "Group"):
        oid = parts.actor_or_group(value, path, errs)
        return {"id": oid or "", "type": otype.lower(), "is_activity": False, "extensions": ext}
    if otype == "StatementRef":
        ref = parts.statement_ref(value, path, errs)
        return (
            {"id": ref, "type": "statement", "is_activity": False, "extensions": ext}
            if ref
            else None
        )
    if otype == "SubStatement":
        if substatement:
            errs.add(ptr(path, "objectType"), "a SubStatement cannot contain a SubStatement")
            return None
        parts.unknown_keys(value, SUBSTATEMENT_KEYS, path, errs)
        inner = _core(value, path, errs, version, substatement=True)
        if inner is None:
            return None
        # The event is about the inner object ("planned to complete X" is about X).
        ext = {
            "lp.xapi.substatement.verb": inner["verb"],
            "lp.xapi.substatement.actor": inner["learner_id"],
        }
        return {
            "id": inner["object_id"],
            "type": inner["object_type"],
            "is_activity": False,
            "extensions": ext,
        }
    errs.add(
        ptr(path, "objectType"), "must be Activity, Agent, Group, SubStatement or StatementRef"
    )
    return None


def _result(
    value: Any, path: str, errs: Errors, implied: bool | None
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    if not parts.is_obj(value, path, errs):
        return None, {}
    parts.unknown_keys(value, RESULT_KEYS, path, errs)
    scaled = _score(value["score"], ptr(path, "score"), errs) if "score" in value else None
    flags: dict[str, bool | None] = {}
    for key in ("success", "completion"):
        v = value.get(key)
        if v is not None and not isinstance(v, bool):
            errs.add(ptr(path, key), "must be true or false")
            v = None
        flags[key] = v
    if "response" in value and not isinstance(value["response"], str):
        errs.add(ptr(path, "response"), "must be a string")
    duration = None
    if "duration" in value:
        try:
            duration = parse_duration_s(value["duration"])
        except ValueError as exc:
            errs.add(ptr(path, "duration"), str(exc))
    exts: dict[str, Any] = {}
    if "extensions" in value:
        exts = parts.extensions(value["extensions"], ptr(path, "extensions"), errs)
    progress = _progress(exts, ptr(path, "extensions"), errs)
    success = flags["success"] if flags["success"] is not None else implied
    res = canonical.result(
        score_scaled=scaled,
        success=success,
        completion=flags["completion"],
        progress=progress,
        duration_s=duration,
    )
    return res, extensions_to_strings(exts)


def _score(value: Any, path: str, errs: Errors) -> float | None:
    if not parts.is_obj(value, path, errs):
        return None
    parts.unknown_keys(value, frozenset({"scaled", "raw", "min", "max"}), path, errs)
    for key in ("scaled", "raw", "min", "max"):
        if key in value and not is_number(value[key]):
            errs.add(ptr(path, key), "must be a number")
            return None
    scaled, raw, lo, hi = (value.get(k) for k in ("scaled", "raw", "min", "max"))
    if scaled is not None and not -1 <= scaled <= 1:
        errs.add(ptr(path, "scaled"), "must be between -1 and 1")
    if lo is not None and hi is not None and lo >= hi:
        errs.add(ptr(path, "max"), "must be greater than min")
    if raw is not None and lo is not None and raw < lo:
        errs.add(ptr(path, "raw"), "must not be below min")
    if raw is not None and hi is not None and raw > hi:
        errs.add(ptr(path, "raw"), "must not be above max")
    if scaled is not None:
        return float(scaled)
    if raw is not None and lo is not None and hi is not None and hi > lo and lo <= raw <= hi:
        return (raw - lo) / (hi - lo)
    return None


def _progress(exts: dict[str, Any], path: str, errs: Errors) -> float | None:
    if CMI5_PROGRESS in exts:
        v = exts[CMI5_PROGRESS]
        if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 100):
            errs.add(ptr(path, CMI5_PROGRESS), "cmi5 progress must be an integer 0..100")
            return None
        return v / 100
    if VIDEO_PROGRESS in exts:
        v = exts[VIDEO_PROGRESS]
        if not (is_number(v) and 0 <= v <= 1):
            errs.add(ptr(path, VIDEO_PROGRESS), "video progress must be a number 0..1")
            return None
        return float(v)
    return None


def _context(
    value: Any, path: str, errs: Errors, version: str, is_activity: bool
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    if not parts.is_obj(value, path, errs):
        return None, {}
    parts.unknown_keys(
        value, CONTEXT_KEYS_V2 if version.startswith("2") else CONTEXT_KEYS, path, errs
    )
    reg = value.get("registration")
    if reg is not None and not is_uuid(reg):
        errs.add(ptr(path, "registration"), "must be a UUID")
    for key in ("revision", "platform", "language"):
        if key in value:
            if not isinstance(value[key], str):
                errs.add(ptr(path, key), "must be a string")
            elif key != "language" and not is_activity:
                errs.add(ptr(path, key), "only allowed when the object is an Activity")
    if "instructor" in value:
        parts.actor_or_group(value["instructor"], ptr(path, "instructor"), errs)
    if "team" in value and parts.is_obj(value["team"], ptr(path, "team"), errs):
        parts.group(value["team"], ptr(path, "team"), errs)
    if "statement" in value and parts.is_obj(value["statement"], ptr(path, "statement"), errs):
        parts.statement_ref(value["statement"], ptr(path, "statement"), errs)
    course = None
    if "contextActivities" in value:
        course = _context_activities(
            value["contextActivities"], ptr(path, "contextActivities"), errs
        )
    exts: dict[str, Any] = {}
    if "extensions" in value:
        exts = parts.extensions(value["extensions"], ptr(path, "extensions"), errs)
    platform = value.get("platform") if isinstance(value.get("platform"), str) else None
    ctx = canonical.context(
        course_id=course, session_id=reg if isinstance(reg, str) else None, platform=platform
    )
    return ctx, extensions_to_strings(exts)


def _context_activities(value: Any, path: str, errs: Errors) -> str | None:
    """Validate parent/grouping/category/other; the course is a course-typed activity, else
    the first parent."""
    if not parts.is_obj(value, path, errs):
        return None
    parts.unknown_keys(value, frozenset({"parent", "grouping", "category", "other"}), path, errs)
    course, first_parent = None, None
    for key in ("parent", "grouping", "category", "other"):
        if key not in value:
            continue
        acts = value[key] if isinstance(value[key], list) else [value[key]]
        for i, act in enumerate(acts):
            at = ptr(path, key, i) if isinstance(value[key], list) else ptr(path, key)
            if not parts.is_obj(act, at, errs):
                continue
            if act.get("objectType", "Activity") != "Activity":
                errs.add(ptr(at, "objectType"), "must be 'Activity'")
                continue
            aid, atype = parts.activity(act, at, errs)
            if aid is None:
                continue
            if key == "parent" and first_parent is None:
                first_parent = aid
            if (
                course is None
                and key in ("parent", "grouping")
                and vocab.xapi_object_type(atype) == "course"
            ):
                course = aid
    return course or first_parent


def _attachments(value: Any, path: str, errs: Errors) -> None:
    if not isinstance(value, list):
        errs.add(path, "must be an array")
        return
    keys = frozenset(
        {"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"}
    )
    for i, att in enumerate(value):
        at = ptr(path, i)
        if not parts.is_obj(att, at, errs):
            continue
        parts.unknown_keys(att, keys, at, errs)
        for key in ("usageType", "contentType", "sha2"):
            if not isinstance(att.get(key), str):
                errs.add(ptr(at, key), "required, must be a string")
        if not isinstance(att.get("length"), int):
            errs.add(ptr(at, "length"), "required, must be an integer")
        if "fileUrl" not in att:
            # The gateway takes application/json only, so the bytes cannot be in the request.
            errs.add(ptr(at, "fileUrl"), "required: multipart attachments are not accepted")
