"""Request handlers of the delivery API (routes are assembled in :mod:`app`)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response

import schemas
from learnpulse import keys
from learnpulse.reader import parse_nudges, parse_value
from services.delivery import feedback
from services.delivery.auth import learner_for
from services.delivery.live import LiveHub
from services.delivery.metrics import FEEDBACK_PRODUCED, FEEDBACK_REJECTED
from services.delivery.producer import FeedbackProducer, ProduceFailed
from services.delivery.settings import DeliverySettings
from services.delivery.sse import EventStream

MAX_FEEDBACK_BYTES = 64 * 1024
STATS_FIELDS = ("events_total", "recos_total", "nudges_total", "updated_at_ms")


@dataclass
class Deps:
    """What the handlers share; built at start-up (see :func:`app.create_app`)."""

    settings: DeliverySettings
    secret: bytes
    redis: aioredis.Redis
    hub: LiveHub
    producer: FeedbackProducer


def deps(request: Request) -> Deps:
    return request.app.state.deps  # type: ignore[no-any-return]


def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def _value(raw: bytes | str, key: str) -> Response:
    parse_value(raw, key)  # refuse a value in a format we do not know (ContractError -> 500)
    return Response(
        raw, media_type="application/json", headers={"cache-control": "private, no-store"}
    )


async def recommendations(request: Request) -> Response:
    d = deps(request)
    learner = learner_for(request, d.secret).learner_id
    key = keys.reco(learner)
    raw = await d.redis.get(key)
    if raw is None:
        return json({"error": "no recommendations yet", "learner_id": learner}, 404)
    return _value(raw, key)


async def state(request: Request) -> Response:
    d = deps(request)
    learner = learner_for(request, d.secret).learner_id
    key = keys.state(learner)
    raw = await d.redis.get(key)
    if raw is None:
        return json({"error": "no state yet", "learner_id": learner}, 404)
    return _value(raw, key)


async def nudges(request: Request) -> Response:
    d = deps(request)
    learner = learner_for(request, d.secret).learner_id
    raw_count = request.query_params.get("count", "20")
    cap = d.settings.nudges_max
    if not raw_count.isdigit() or not 1 <= int(raw_count) <= cap:
        return json(
            {"errors": [{"path": "?count", "error": f"must be an integer in [1, {cap}]"}]}, 400
        )
    key = keys.nudges(learner)
    entries = await d.redis.xrevrange(key, count=int(raw_count))
    items = parse_nudges(entries, key)
    return json(
        {"v": keys.VALUE_VERSION, "learner_id": learner, "nudges": items},
        headers={"cache-control": "private, no-store"},
    )


async def events(request: Request) -> EventStream:
    """Server-sent events: the current recommendations first, then every update."""
    d = deps(request)
    claims = learner_for(request, d.secret)
    listener = await d.hub.add(claims.learner_id)  # subscribed before the snapshot is read
    try:
        raw = await d.redis.get(keys.reco(claims.learner_id))
        first: list[tuple[str, bytes]] = []
        if raw is not None:
            parse_value(raw, keys.reco(claims.learner_id))
            first.append(("reco", raw if isinstance(raw, bytes) else raw.encode()))
    except BaseException:
        await d.hub.remove(listener)
        raise
    return EventStream(d.hub, listener, first, d.settings.heartbeat_s, claims.expires_at)


async def post_feedback(request: Request) -> Response:
    d = deps(request)
    learner = learner_for(request, d.secret).learner_id
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        FEEDBACK_REJECTED.labels("content_type").inc()
        return json({"error": "Content-Type must be application/json"}, 415)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FEEDBACK_BYTES:
        FEEDBACK_REJECTED.labels("too_large").inc()
        return json({"error": f"body larger than {MAX_FEEDBACK_BYTES} bytes"}, 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FEEDBACK_BYTES:
            FEEDBACK_REJECTED.labels("too_large").inc()
            return json({"error": f"body larger than {MAX_FEEDBACK_BYTES} bytes"}, 413)
    try:
        records = feedback.to_records(
            feedback.parse(body), learner, int(time.time() * 1000), lambda: uuid.uuid4().hex
        )
    except feedback.MalformedBody as exc:
        FEEDBACK_REJECTED.labels("malformed").inc()
        return json({"errors": [{"path": "", "error": str(exc)}]}, 400)
    except feedback.FeedbackError as exc:
        FEEDBACK_REJECTED.labels("invalid").inc()
        return json({"errors": exc.errors}, 422)
    encoded = [(learner.encode(), schemas.encode(schemas.ACTIVITY, r)) for r in records]
    try:
        await d.producer.send(d.settings.topics.activity, encoded)
    except ProduceFailed as exc:
        FEEDBACK_REJECTED.labels("kafka_unavailable").inc()
        return json(
            {"error": f"feedback not stored, try again: {exc}"}, 503, headers={"retry-after": "2"}
        )
    for r in records:
        FEEDBACK_PRODUCED.labels(_type_of(r["verb"])).inc()
    return json({"accepted": len(records), "event_ids": [r["event_id"] for r in records]}, 202)


_VERB_TO_TYPE = {verb: kind for kind, (verb, _t) in feedback.KINDS.items()}


def _type_of(verb: str) -> str:
    return _VERB_TO_TYPE.get(verb, "other")


async def ops_stats(request: Request) -> Response:
    """Pipeline counters from ``lp:stats`` (written by the stream workers) and our own."""
    d = deps(request)
    raw = await d.redis.hgetall(keys.STATS)
    pipeline: dict[str, int] | None = None
    if raw:
        pipeline = {}
        for f in STATS_FIELDS:
            v = raw.get(f.encode())
            pipeline[f] = int(float(v)) if v is not None else 0
    return json(
        {
            "pipeline": pipeline,
            "delivery": {"sse_clients": d.hub.clients},
            "server_time_ms": int(time.time() * 1000),
        },
        headers={"cache-control": "no-store"},
    )


async def healthz(request: Request) -> Response:
    d = deps(request)
    try:
        await d.redis.ping()
    except Exception as exc:
        return json({"ok": False, "redis": str(exc)}, 503)
    return json({"ok": True})
