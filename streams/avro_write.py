"""Recommendation audit records encoded without fastavro's generic path.

Every ranking writes one ``recommendation.list.generated.v1`` record;
``fastavro.schemaless_writer`` spent about 6% of the worker's CPU on them in
live traffic. This writer, compiled (learnpulse/native.py), produces the same
bytes for the schema as it is now (:data:`SCHEMA_FIELDS`, checked against the
``.avsc`` at start-up by :func:`matches` and by
``tests/unit/test_avro_write.py``, which compares its bytes with fastavro's).

It accepts only values of exactly the types the schema names. Anything else
raises :class:`Unsupported`, and the caller encodes that record with fastavro,
which either converts it the way it always did or refuses it with its message.
"""

from __future__ import annotations

import struct
from typing import Any, Final

from streams.avro_read import describe_fields

_DOUBLE: Final = struct.Struct("<d")
SCHEMA_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("learner_id", "string"),
    ("generated_at_ms", "long"),
    ("model_version", "string"),
    ("trigger_event_id", "union:null,string"),
    (
        "items",
        "array:record:content_id=string;title=string;score=double;source=string;"
        "reasons=array:string",
    ),
)
_LONG_MIN: Final = -9223372036854775808  # -(2**63)
_LONG_MAX: Final = 9223372036854775807  # 2**63 - 1


class Unsupported(ValueError):
    """A value this writer does not encode itself (the caller uses fastavro)."""


def _long(out: bytearray, v: Any) -> None:
    if type(v) is not int:
        raise Unsupported("long")
    if 0 <= v < 64:  # one byte: lengths and counts (and no 64-bit bounds, boxed when compiled)
        out.append(v << 1)
        return
    if not _LONG_MIN <= v <= _LONG_MAX:
        raise Unsupported("long")
    n = (v << 1) ^ (v >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _string(out: bytearray, v: Any) -> None:
    if type(v) is not str:
        raise Unsupported("string")
    b = v.encode("utf-8")
    _long(out, len(b))
    out += b


# Item strings already encoded (length prefix + UTF-8): an audit record repeats
# the catalog's ids and titles, the sources and the memoised reason sentences.
# Not for the learner id and the trigger event id, which rarely repeat.
_ENCODED: Final[dict[str, bytes]] = {}
_ENCODED_MAX: Final = 50_000


def _item_string(out: bytearray, v: Any) -> None:
    if type(v) is not str:
        raise Unsupported("string")
    hit = _ENCODED.get(v)
    if hit is None:
        head = bytearray()
        _string(head, v)
        hit = bytes(head)
        if len(_ENCODED) >= _ENCODED_MAX:
            _ENCODED.clear()
        _ENCODED[v] = hit
    out += hit


def _strings(out: bytearray, v: Any) -> None:
    if type(v) is not list:
        raise Unsupported("array")
    if v:
        _long(out, len(v))
        for s in v:
            _item_string(out, s)
    out.append(0)


def recommendation(rec: dict[str, Any]) -> bytes:
    """The Avro body (no wire-format header) of one audit record."""
    out = bytearray()
    _string(out, rec["learner_id"])
    _long(out, rec["generated_at_ms"])
    _string(out, rec["model_version"])
    trigger = rec.get("trigger_event_id")
    if trigger is None:
        out.append(0)
    else:
        out.append(2)  # union branch 1, zigzag-encoded
        _string(out, trigger)
    items = rec["items"]
    if type(items) is not list:
        raise Unsupported("items")
    if items:
        _long(out, len(items))
        for it in items:
            if type(it) is not dict:
                raise Unsupported("item")
            _item_string(out, it["content_id"])
            _item_string(out, it.get("title", ""))
            score = it["score"]
            if type(score) is not float:
                raise Unsupported("score")
            out += _DOUBLE.pack(score)
            _item_string(out, it["source"])
            _strings(out, it.get("reasons", []))
    out.append(0)
    return bytes(out)


def matches(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` (the current recommendation ``.avsc``) is the one written here."""
    return describe_fields(schema) == SCHEMA_FIELDS
