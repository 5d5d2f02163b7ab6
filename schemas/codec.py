"""Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body.

Encoding uses the current schema of an event type; decoding reads with the
writer's schema (found by id) and resolves into the current reader schema, so
old data is readable after the schema grew (see docs/decisions/0003).
"""

from __future__ import annotations

import io
import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.types import Schema

HERE = Path(__file__).resolve().parent
MAGIC = 0
_HEADER = struct.Struct(">bI")


class DecodeError(ValueError):
    """Bytes that are not a valid record of a known schema."""


def _ids() -> dict[int, str]:
    raw = json.loads((HERE / "ids.json").read_text())
    return {int(k): v for k, v in raw.items() if not k.startswith("_")}


def _name_of(path: str) -> str:
    return Path(path).name.removesuffix(".avsc")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The current schema of event type ``name`` as a JSON dict."""
    path = HERE / f"{name}.avsc"
    if not path.exists():
        raise KeyError(f"unknown schema {name!r}")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@cache
def parsed_schema(name: str) -> Schema:
    return fastavro.parse_schema(load_schema(name))


@cache
def _writer_by_id(schema_id: int) -> tuple[str, Schema]:
    path = _ids().get(schema_id)
    if path is None:
        raise DecodeError(f"unknown schema id {schema_id}")
    return _name_of(path), fastavro.parse_schema(json.loads((HERE / path).read_text()))


@cache
def _is_current(name: str, schema_id: int) -> bool:
    """The id is the newest released one and its file equals the current schema."""
    return CURRENT_IDS.get(name) == schema_id and _writer_by_id(schema_id)[1] == parsed_schema(name)


def _current_ids() -> dict[str, int]:
    """Event type -> the id of its newest released schema (highest id wins)."""
    out: dict[str, int] = {}
    for schema_id, path in sorted(_ids().items()):
        out[_name_of(path)] = schema_id
    return out


CURRENT_IDS: dict[str, int] = _current_ids()


def current_header(name: str) -> bytes | None:
    """The wire-format header of records written with ``name``'s current schema.

    None if the newest released copy differs from the current file (those
    records need schema resolution): a fast reader of the current schema may
    read only records that start with this header.
    """
    sid = CURRENT_IDS.get(name)
    if sid is None or not _is_current(name, sid):
        return None
    return _HEADER.pack(MAGIC, sid)


def encode(name: str, record: dict[str, Any], schema_id: int | None = None) -> bytes:
    """Encode ``record`` as event type ``name`` in the Confluent wire format."""
    sid = CURRENT_IDS[name] if schema_id is None else schema_id
    buf = io.BytesIO()
    buf.write(_HEADER.pack(MAGIC, sid))
    try:
        fastavro.schemaless_writer(buf, parsed_schema(name), record)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"record does not match {name}: {exc}") from exc
    return buf.getvalue()


def decode(name: str, data: bytes) -> dict[str, Any]:
    """Decode wire-format bytes into a record of the current ``name`` schema."""
    if len(data) < 5:
        raise DecodeError(f"{len(data)} bytes is too short for the wire format")
    magic, sid = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DecodeError(f"magic byte is {magic}, expected 0")
    writer_name, writer = _writer_by_id(sid)
    if writer_name != name:
        raise DecodeError(f"schema id {sid} is {writer_name}, expected {name}")
    # Data written with the current schema needs no schema resolution (~5% of
    # the worker's CPU per event); older writers are resolved into the current one.
    reader = None if _is_current(name, sid) else parsed_schema(name)
    try:
        rec = fastavro.schemaless_reader(io.BytesIO(memoryview(data)[5:]), writer, reader)
    except Exception as exc:  # fastavro raises many types on garbage
        raise DecodeError(f"cannot decode {name}: {exc.__class__.__name__}: {exc}") from exc
    if not isinstance(rec, dict):
        raise DecodeError(f"{name} decoded to {type(rec).__name__}, not a record")
    return rec
