"""Typed errors of the ingest normalisers.

``InvalidEvent`` carries every problem found, each with a JSON-pointer-ish
path into the submitted document (``/0/actor/mbox``), so a producer can fix
all of them in one go. ``DecodeError`` is for bytes that are not a document at
all (not JSON, not Avro).
"""

from __future__ import annotations

from typing import TypedDict

import schemas


class FieldError(TypedDict):
    path: str
    error: str


class InvalidEvent(ValueError):  # noqa: N818 - the name the rest of the system uses
    """A well-formed document that is not a valid event; ``errors`` say where and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        first = errors[0] if errors else {"path": "", "error": "invalid"}
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first['path'] or '/'}: {first['error']}{more}")

    @classmethod
    def one(cls, path: str, error: str) -> InvalidEvent:
        return cls([{"path": path, "error": error}])


class DecodeError(schemas.DecodeError):
    """Bytes that cannot be parsed at all (not JSON, not Avro, wrong framing)."""
