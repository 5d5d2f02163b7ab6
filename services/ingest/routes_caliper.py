"""``POST /caliper``: an IMS Caliper 1.1/1.2 sensor envelope."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.ingest import caliper, metrics
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


@endpoint("caliper", "caliper")
async def post_envelope(request: Request, deps: Deps) -> Response:
    cred = await authorize(request, deps, "caliper")
    body = await read_json(request, deps)
    try:
        _, data = caliper.check_envelope(body)
    except caliper.MalformedEnvelope as exc:
        raise Reject(400, "malformed", "malformed Caliper envelope", exc.errors) from exc
    except caliper.UnsupportedVersion as exc:
        raise Reject(
            422, "unsupported_version", "unsupported Caliper dataVersion", exc.errors
        ) from exc
    check_batch_size(len(data), deps)
    try:
        recs = caliper.normalize_events(
            data, source=cred.tool, received_at_ms=now_ms(), base="/data"
        )
    except InvalidEvent as exc:
        metrics.EVENTS.labels("caliper", "rejected").inc(len(data))
        raise Reject(
            422,
            "invalid",
            "some data items are not valid Caliper events; none were accepted",
            exc.errors,
        ) from exc
    check_scope(cred, recs, [f"/data/{i}" for i in range(len(recs))], "action", "caliper")
    take_tokens(cred, len(recs), deps)
    await publish(deps, recs, "caliper")
    return ok({"accepted": len(recs), "ids": [r["event_id"] for r in recs]})
