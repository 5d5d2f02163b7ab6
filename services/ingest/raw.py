"""Raw-topic records -> canonical records: the pure part of the ``normalize`` agent.

Tools that produce straight to Kafka write raw xAPI JSON, Caliper JSON or Open
edX event-bus messages to the raw topics. :func:`normalize_raw` turns one such
record into canonical records, or raises :class:`DecodeError` (not JSON/Avro)
or :class:`InvalidEvent` (a document, but not a valid event); the caller
dead-letters the record with the error and goes on.

The output is a function of the record alone: an xAPI statement without an
``id`` gets a UUID derived from its content, so a redelivered record yields
the same ``event_id`` and is deduplicated downstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from services.ingest import caliper, native, openedx, xapi
from services.ingest.errors import DecodeError, InvalidEvent
from services.ingest.fields import now_ms

FORMATS = ("xapi", "caliper", "openedx", "native")
SOURCE_HEADER = "source"


def _header(headers: Mapping[str, bytes | str | None], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _json(value: bytes | None, fmt: str) -> Any:
    if not value:
        raise DecodeError(f"empty {fmt} record")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"{fmt} record is not valid JSON: {exc}") from exc


def normalize_raw(
    fmt: str,
    value: bytes | None,
    headers: Mapping[str, bytes | str | None],
    *,
    received_at_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Normalise one raw-topic record of format ``fmt`` (xapi, caliper, openedx, native).

    ``headers`` are the Kafka record headers as a dict. The optional ``source``
    header names the producing tool (default ``raw.<fmt>``); an xAPI record may
    carry ``X-Experience-API-Version``. Pass the record's Kafka timestamp as
    ``received_at_ms`` for a fully deterministic result (default: now).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown raw format {fmt!r}; expected one of {FORMATS}")
    received = now_ms() if received_at_ms is None else received_at_ms
    source = _header(headers, SOURCE_HEADER) or f"raw.{fmt}"
    if fmt == "openedx":
        return [openedx.normalize(value or b"", headers, source=source, received_at_ms=received)]
    body = _json(value, fmt)
    if fmt == "xapi":
        version = xapi.version_of(
            _header(headers, "X-Experience-API-Version")
            or _header(headers, "x-experience-api-version")
        ) or _statement_version(body)
        return [
            s.record
            for s in xapi.normalize(
                body,
                source=source,
                received_at_ms=received,
                version=version,
                id_factory=xapi.content_id,
            )
        ]
    if fmt == "native":
        items = body if isinstance(body, list) else [body]
        return native.normalize(items, source=source, received_at_ms=received)
    if isinstance(body, dict) and "data" in body and ("dataVersion" in body or "sensor" in body):
        return caliper.normalize_envelope(body, source=source, received_at_ms=received)
    if isinstance(body, list):
        if not body:
            raise InvalidEvent.one("", "no events: the array is empty")
        return caliper.normalize_events(body, source=source, received_at_ms=received)
    return [caliper.normalize_event(body, source=source, received_at_ms=received)]


def _statement_version(body: Any) -> str:
    first = body[0] if isinstance(body, list) and body else body
    ver = first.get("version") if isinstance(first, dict) else None
    return "2.0.0" if isinstance(ver, str) and ver.startswith("2.") else "1.0.3"
