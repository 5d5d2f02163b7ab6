"""The steps every ingest route shares: authenticate, read, authorise, limit, publish.

Each step raises :class:`Reject` with the HTTP status, a metric reason and,
where it helps, field errors; :func:`endpoint` turns it into the JSON answer
``{"error": reason, "message": ..., "errors": [{"path": ..., "error": ...}]}``
and counts it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from services.ingest import metrics
from services.ingest.auth import Authenticator, AuthError
from services.ingest.errors import FieldError
from services.ingest.identity import StatementIds
from services.ingest.keystore import Credential
from services.ingest.limits import RateLimiter, TooLarge, read_body, retry_after
from services.ingest.publisher import Publisher, PublishFailed, encode
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)
JSON_TYPES = ("application/json", "application/ld+json")


class Reject(Exception):  # noqa: N818 - it is an answer, not a bug
    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.errors = errors or []
        self.headers = headers or {}


@dataclass
class Deps:
    """Everything the routes need, built once per app (see :func:`app.create_app`)."""

    settings: IngestSettings
    publisher: Publisher
    redis: Any
    auth: Authenticator
    limiter: RateLimiter
    statement_ids: StatementIds

    @property
    def activity_topic(self) -> str:
        return self.settings.topics.activity


Handler = Callable[[Request, Deps], Awaitable[Response]]


def endpoint(
    route: str, fmt: str, headers: Callable[[Request], dict[str, str]] | None = None
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: timing, rejections as JSON with counting, 503 on Redis trouble."""

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            started = time.perf_counter()
            extra = headers(request) if headers else {}
            try:
                response = await fn(request, request.app.state.deps)
            except Reject as rej:
                response = rejection(rej, fmt)
            except RedisError as exc:
                log.warning("Redis unavailable during %s: %s", route, exc)
                response = rejection(
                    Reject(
                        503,
                        "unavailable",
                        "statement store (Redis) unavailable, retry later",
                        headers={"Retry-After": str(request.app.state.deps.settings.retry_after_s)},
                    ),
                    fmt,
                )
            response.headers.update(extra)
            metrics.REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
            return response

        return run

    return wrap


def rejection(rej: Reject, fmt: str) -> Response:
    metrics.REJECTED.labels(fmt, rej.reason).inc()
    body: dict[str, Any] = {"error": rej.reason, "message": rej.message}
    if rej.errors:
        body["errors"] = rej.errors
    headers = dict(rej.headers)
    if rej.status == 401:
        headers.setdefault(
            "WWW-Authenticate",
            'Basic realm="learnpulse", charset="UTF-8"'
            if fmt == "xapi"
            else 'Bearer realm="learnpulse"',
        )
    return Response(
        orjson.dumps(body), status_code=rej.status, headers=headers, media_type="application/json"
    )


def ok(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def authorize(request: Request, deps: Deps, fmt: str) -> Credential:
    """401 without a valid credential, 403 when the key may not send this format, 429 when
    the tool's bucket is empty (checked before the body is read)."""
    try:
        cred = await deps.auth.authenticate(request.headers)
    except AuthError as exc:
        raise Reject(401, "unauthenticated", exc.message) from exc
    if not cred.allows_format(fmt):
        raise Reject(
            403,
            "forbidden",
            f"this key may not send {fmt} events (allowed: {', '.join(cred.formats)})",
        )
    wait = deps.limiter.bucket(cred.tool, cred.rate_per_s, cred.burst).empty_for()
    if wait > 0:
        raise Reject(
            429,
            "rate_limited",
            f"rate limit of tool {cred.tool!r} reached",
            headers={"Retry-After": retry_after(wait)},
        )
    return cred


async def read_json(request: Request, deps: Deps) -> Any:
    """415 unless JSON, 413 over the size limit, 400 when it does not parse."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype not in JSON_TYPES and not ctype.endswith("+json"):
        raise Reject(
            415,
            "unsupported_media_type",
            f"content type must be application/json, not {ctype or 'missing'!r}",
        )
    try:
        raw = await read_body(request, deps.settings.max_body_bytes)
    except TooLarge as exc:
        raise Reject(413, "too_large", str(exc)) from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Reject(400, "malformed", f"body is not valid JSON: {exc}") from exc


def check_batch_size(n: int, deps: Deps) -> None:
    if n > deps.settings.max_batch:
        raise Reject(
            413, "too_large", f"{n} events is more than the batch limit {deps.settings.max_batch}"
        )


def check_scope(
    cred: Credential, recs: list[dict[str, Any]], paths: list[str], verb_field: str, fmt: str
) -> None:
    """403 listing every event whose verb or source this key may not send."""
    errors: list[FieldError] = []
    for rec, path in zip(recs, paths, strict=True):
        if not cred.allows_verb(rec["verb"]):
            errors.append(
                {
                    "path": f"{path}/{verb_field}",
                    "error": f"verb {rec['verb']!r} is not allowed for this key",
                }
            )
        if not cred.allows_source(rec["source"]):
            errors.append(
                {
                    "path": f"{path}/source",
                    "error": f"source {rec['source']!r} is not allowed for this key",
                }
            )
    if errors:
        metrics.EVENTS.labels(fmt, "rejected").inc(len(recs))
        raise Reject(403, "forbidden", "this key may not send some of these events", errors)


def take_tokens(cred: Credential, n: int, deps: Deps) -> None:
    wait = deps.limiter.bucket(cred.tool, cred.rate_per_s, cred.burst).take(n)
    if wait > 0:
        raise Reject(
            429,
            "rate_limited",
            f"rate limit of tool {cred.tool!r} reached",
            headers={"Retry-After": retry_after(wait)},
        )


async def publish(deps: Deps, recs: list[dict[str, Any]], fmt: str) -> None:
    """503 + Retry-After unless Kafka acknowledged every record."""
    try:
        await deps.publisher.publish(deps.activity_topic, [encode(r, fmt) for r in recs])
    except PublishFailed as exc:
        metrics.EVENTS.labels(fmt, "failed").inc(len(recs))
        log.warning("publish failed: %s", exc)
        raise Reject(
            503,
            "unavailable",
            f"events not stored, retry later: {exc}",
            headers={"Retry-After": str(deps.settings.retry_after_s)},
        ) from exc
    metrics.EVENTS.labels(fmt, "accepted").inc(len(recs))
