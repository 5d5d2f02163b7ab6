"""Small validation helpers shared by the normalisers: paths, times, durations, IRIs.

Every check reports into an :class:`Errors` collector with a JSON-pointer-ish
path instead of raising at the first problem, so a rejected batch lists all
of its problems at once.

>>> parse_time_ms("2016-11-15T10:15:00.000Z")
1479204900000
>>> parse_duration_s("PT1H2M3.5S")
3723.5
>>> snake("NavigatedTo")
'navigated_to'
>>> ptr("/0", "context", "extensions", "http://x/a~b")
'/0/context/extensions/http:~1~1x~1a~0b'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.ingest.errors import FieldError, InvalidEvent

JsonObj = dict[str, Any]


class Errors:
    """Collects field errors; :meth:`check` raises one :class:`InvalidEvent` for all."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: str, error: str) -> None:
        self.items.append({"path": path, "error": error})

    def __bool__(self) -> bool:
        return bool(self.items)

    def check(self) -> None:
        if self.items:
            raise InvalidEvent(self.items)


def ptr(base: str, *parts: str | int) -> str:
    """Extend JSON pointer ``base`` with ``parts`` (escaping ``~`` and ``/``)."""
    out = base
    for p in parts:
        s = p if isinstance(p, str) else str(p)
        if "~" in s or "/" in s:  # rare (IRI extension keys); paths are built on every field
            s = s.replace("~", "~0").replace("/", "~1")
        out += "/" + s
    return out


_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")


def is_iri(value: Any) -> bool:
    """An absolute IRI: a scheme, a colon, no whitespace (what xAPI and Caliper require)."""
    return isinstance(value, str) and bool(_IRI.match(value))


_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")


def is_uuid(value: Any) -> bool:
    """A UUID in its canonical 8-4-4-4-12 text form (any case)."""
    return isinstance(value, str) and bool(_UUID.match(value))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def parse_time_ms(value: Any) -> int:
    """ISO 8601 / RFC 3339 date-time -> epoch ms UTC; naive times are taken as UTC.

    Raises ``ValueError`` for anything that is not a date *and* a time.
    """
    if not isinstance(value, str) or "T" not in value.upper():
        raise ValueError("expected an ISO 8601 date-time like 2024-05-01T10:15:00Z")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 date-time: {exc}") from exc
    if dt.tzinfo is None:
        # xAPI 1.0.x only says SHOULD include a zone; UTC is the documented reading.
        dt = dt.replace(tzinfo=UTC)
    # Integer arithmetic: float timestamps can land one millisecond short.
    return (dt - _EPOCH) // _MS


_DURATION = re.compile(
    r"^P(?!$)(?:(?P<y>\d+(?:\.\d+)?)Y)?(?:(?P<mo>\d+(?:\.\d+)?)M)?(?:(?P<w>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?=\d)(?:(?P<h>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<mi>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
# Years and months have no fixed length; these are the usual approximations.
_UNIT_S = {
    "y": 365 * 86400,
    "mo": 30 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "mi": 60,
    "s": 1,
}


def parse_duration_s(value: Any) -> float:
    """ISO 8601 duration (``PT10M30S``, ``P1DT2H``) -> seconds. Raises ``ValueError``."""
    m = _DURATION.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError("expected an ISO 8601 duration like PT1H30M or PT45.5S")
    return float(sum(float(v) * _UNIT_S[k] for k, v in m.groupdict().items() if v is not None))


def ext_value(value: Any) -> str:
    """Extension value as a string: strings unchanged, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def extensions_to_strings(exts: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    return {f"{prefix}{k}": ext_value(v) for k, v in exts.items()}


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def snake(name: str) -> str:
    """``NavigatedTo`` -> ``navigated_to``; ``logged-in`` -> ``logged_in``."""
    return _NON_WORD.sub("_", _CAMEL.sub("_", name).lower()).strip("_")


def last_segment(iri: str) -> str:
    """The last path or fragment segment of an IRI (``.../verbs/completed`` -> ``completed``)."""
    tail = iri.rstrip("/#")
    for sep in ("#", "/", ":"):
        if sep in tail:
            tail = tail.rsplit(sep, 1)[1]
    return tail


def now_ms() -> int:
    return (datetime.now(tz=UTC) - _EPOCH) // _MS


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
