"""Activity records written with the current schema, decoded without fastavro's generic path.

``fastavro.schemaless_reader`` spends ~7 µs on a 160-byte activity record,
mostly in per-call set-up; this reader, compiled (learnpulse/native.py), reads
the same bytes into the same dict in a fraction of that. It knows one schema
only: ``learning.activity.recorded.v1`` as it is now. :data:`SCHEMA_FIELDS` is
checked against the current ``.avsc`` when the worker starts
(:func:`matches`) and by ``tests/unit/test_avro_read.py``; if they differ, the
worker decodes with fastavro as before.

It is an optimisation only: the caller falls back to fastavro on any error
here, so malformed data gets fastavro's error message and nothing this reader
accepts is read differently (the test compares both on generated, random and
corrupted records).
"""

from __future__ import annotations

import struct
from typing import Any, Final

_DOUBLE: Final = struct.Struct("<d")
SOURCE_FORMATS: Final[tuple[str, ...]] = ("native", "xapi", "caliper", "openedx", "unknown")
# (field, Avro type as this reader reads it): compared with the .avsc by matches()
SCHEMA_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "string"),
    ("learner_id", "string"),
    ("occurred_at_ms", "long"),
    ("received_at_ms", "long"),
    ("source", "string"),
    ("source_format", "enum:native,xapi,caliper,openedx,unknown"),
    ("verb", "string"),
    ("object_id", "string"),
    ("object_type", "string"),
    (
        "result",
        "union:null,record:score_scaled=union:null,double;success=union:null,boolean;"
        "completion=union:null,boolean;progress=union:null,double;"
        "duration_s=union:null,double;rating=union:null,double",
    ),
    (
        "context",
        "union:null,record:course_id=union:null,string;session_id=union:null,string;"
        "platform=union:null,string;skill_ids=array:string",
    ),
    ("extensions", "map:string"),
)


class MalformedRecord(ValueError):
    """The bytes are not a record of the schema this reader knows (caller falls back)."""


class _Reader:
    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf)

    def long(self) -> int:
        buf = self.buf
        pos = self.pos
        if pos >= self.end:
            raise MalformedRecord("truncated")
        b = buf[pos]
        pos += 1
        if b < 0x80:  # one byte: lengths, union branches, small counts
            self.pos = pos
            return (b >> 1) ^ -(b & 1)
        n = b & 0x7F
        shift = 7
        while b & 0x80:
            if pos >= self.end or shift > 63:
                raise MalformedRecord("bad varint")
            b = buf[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
        self.pos = pos
        if shift > 56:  # only a 9- or 10-byte varint can pass 63 bits (compiled, the
            # mask is a boxed integer operation: not on the common path)
            n &= 0xFFFFFFFFFFFFFFFF  # a 10-byte varint wraps at 64 bits, as in fastavro
        return (n >> 1) ^ -(n & 1)

    def string(self) -> str:
        n = self.long()
        start = self.pos
        stop = start + n
        if n < 0 or stop > self.end:
            raise MalformedRecord("bad string length")
        self.pos = stop
        return self.buf[start:stop].decode("utf-8")

    def double(self) -> float:
        pos = self.pos
        if pos + 8 > self.end:
            raise MalformedRecord("truncated")
        self.pos = pos + 8
        return float(_DOUBLE.unpack_from(self.buf, pos)[0])

    def boolean(self) -> bool:
        pos = self.pos
        if pos >= self.end:
            raise MalformedRecord("truncated")
        b = self.buf[pos]
        if b > 1:
            raise MalformedRecord("bad boolean")
        self.pos = pos + 1
        return b == 1

    def branch(self) -> bool:
        """A ["null", T] union: False for null, True for T."""
        i = self.long()
        if i == 0:
            return False
        if i == 1:
            return True
        raise MalformedRecord("bad union branch")

    def opt_double(self) -> float | None:
        return self.double() if self.branch() else None

    def opt_boolean(self) -> bool | None:
        return self.boolean() if self.branch() else None

    def opt_string(self) -> str | None:
        return self.string() if self.branch() else None

    def block_count(self) -> int:
        n = self.long()
        if n < 0:
            self.long()  # the block's size in bytes, for skipping: not needed here
            n = -n
        return n


def activity(buf: bytes, pos: int) -> dict[str, Any]:
    """The activity record starting at ``buf[pos]`` (after the wire-format header)."""
    r = _Reader(buf, pos)
    rec: dict[str, Any] = {
        "event_id": r.string(),
        "learner_id": r.string(),
        "occurred_at_ms": r.long(),
        "received_at_ms": r.long(),
        "source": r.string(),
    }
    i = r.long()
    if i < 0 or i >= len(SOURCE_FORMATS):
        raise MalformedRecord("bad enum index")
    rec["source_format"] = SOURCE_FORMATS[i]
    rec["verb"] = r.string()
    rec["object_id"] = r.string()
    rec["object_type"] = r.string()
    if r.branch():
        rec["result"] = {
            "score_scaled": r.opt_double(),
            "success": r.opt_boolean(),
            "completion": r.opt_boolean(),
            "progress": r.opt_double(),
            "duration_s": r.opt_double(),
            "rating": r.opt_double(),
        }
    else:
        rec["result"] = None
    if r.branch():
        ctx: dict[str, Any] = {
            "course_id": r.opt_string(),
            "session_id": r.opt_string(),
            "platform": r.opt_string(),
        }
        skills: list[str] = []
        n = r.block_count()
        while n:
            for _ in range(n):
                skills.append(r.string())
            n = r.block_count()
        ctx["skill_ids"] = skills
        rec["context"] = ctx
    else:
        rec["context"] = None
    ext: dict[str, str] = {}
    n = r.block_count()
    while n:
        for _ in range(n):
            k = r.string()
            ext[k] = r.string()
        n = r.block_count()
    rec["extensions"] = ext
    return rec


def _describe(t: Any) -> str:
    """An Avro type in SCHEMA_FIELDS' notation (named types by their structure)."""
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        return "union:" + ",".join(_describe(x) for x in t)
    kind = t["type"]
    if kind == "enum":
        return "enum:" + ",".join(t["symbols"])
    if kind == "record":
        return "record:" + ";".join(f"{f['name']}={_describe(f['type'])}" for f in t["fields"])
    if kind == "array":
        return "array:" + _describe(t["items"])
    if kind == "map":
        return "map:" + _describe(t["values"])
    return str(kind)


def describe_fields(schema: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """A record schema's fields in :data:`SCHEMA_FIELDS`' notation."""
    return tuple((f["name"], _describe(f["type"])) for f in schema.get("fields", []))


def matches(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` (the current activity ``.avsc``) is the one this reader reads."""
    return describe_fields(schema) == SCHEMA_FIELDS
