"""The ingest gateway: a Starlette app (``create_app``), run by ``python -m services.ingest``.

Routes: ``POST /v1/events`` (native), ``POST``/``PUT /xapi/statements`` and
``GET /xapi/about`` (xAPI), ``POST /caliper`` (Caliper sensor API),
``GET /metrics`` (Prometheus), ``GET /healthz`` (liveness).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.ingest import routes_caliper, routes_native, routes_xapi
from services.ingest.auth import Authenticator
from services.ingest.identity import StatementIds
from services.ingest.intake import Deps, ok
from services.ingest.limits import RateLimiter
from services.ingest.publisher import Publisher
from services.ingest.settings import IngestSettings


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def healthz(request: Request) -> Response:
    return ok({"status": "ok"})


def create_app(
    settings: IngestSettings, *, publisher: Publisher | None = None, redis: Any = None
) -> Starlette:
    """The gateway app. ``publisher``/``redis`` may be given (tests); else made and closed
    by the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pub = publisher or Publisher(
            settings.kafka_bootstrap,
            timeout_s=settings.delivery_timeout_s,
            linger_ms=settings.kafka_linger_ms,
            compression=settings.kafka_compression,
        )
        r = (
            redis
            if redis is not None
            else aioredis.from_url(
                # No per-read socket timeout (it costs a timer per pipeline reply); every
                # round trip has its own deadline instead (identity, auth).
                settings.redis_url.get_secret_value(),
                socket_connect_timeout=5,
                health_check_interval=30,
            )
        )
        app.state.deps = Deps(
            settings=settings,
            publisher=pub,
            redis=r,
            auth=Authenticator(r, settings.key_cache_s),
            limiter=RateLimiter(settings.rate_per_s, settings.burst),
            statement_ids=StatementIds(r, settings.xapi_id_ttl_s, settings.pending_ttl_s),
        )
        try:
            yield
        finally:
            if publisher is None:
                await asyncio.to_thread(pub.close)
            if redis is None:
                await r.aclose()

    routes = [
        Route("/v1/events", routes_native.post_events, methods=["POST"]),
        Route("/xapi/statements", routes_xapi.post_statements, methods=["POST"]),
        Route("/xapi/statements", routes_xapi.put_statement, methods=["PUT"]),
        Route("/xapi/about", routes_xapi.about, methods=["GET"]),
        Route("/caliper", routes_caliper.post_envelope, methods=["POST"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
