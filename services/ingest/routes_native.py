"""``POST /v1/events``: a JSON array of native canonical events."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.ingest import metrics, native
from services.ingest.errors import InvalidEvent
from services.ingest.fields import now_ms
from services.ingest.intake import (
    Deps,
    Reject,
    authorize,
    check_batch_size,
    check_scope,
    endpoint,
    ok,
    publish,
    read_json,
    take_tokens,
)


@endpoint("native_events", "native")
async def post_events(request: Request, deps: Deps) -> Response:
    cred = await authorize(request, deps, "native")
    body = await read_json(request, deps)
    if not isinstance(body, list) or not body:
        raise Reject(400, "malformed", "body must be a non-empty JSON array of events")
    check_batch_size(len(body), deps)
    try:
        recs = native.normalize(body, source=cred.tool, received_at_ms=now_ms())
    except InvalidEvent as exc:
        metrics.EVENTS.labels("native", "rejected").inc(len(body))
        raise Reject(
            422, "invalid", "some events are invalid; none were accepted", exc.errors
        ) from exc
    check_scope(cred, recs, [f"/{i}" for i in range(len(recs))], "verb", "native")
    take_tokens(cred, len(recs), deps)
    await publish(deps, recs, "native")
    return ok({"accepted": len(recs), "ids": [r["event_id"] for r in recs]})
