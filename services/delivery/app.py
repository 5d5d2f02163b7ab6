"""The delivery API: routes, middleware, error mapping, start-up and shutdown."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnpulse.reader import ContractError
from services.delivery import api
from services.delivery.auth import AuthError
from services.delivery.live import LiveHub, LiveUnavailable
from services.delivery.metrics import REQUEST_SECONDS
from services.delivery.producer import FeedbackProducer
from services.delivery.settings import DeliverySettings

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

# The pages load nothing from elsewhere (no CDN); say so to the browser.
PAGE_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}


class Timing:
    """Request latency by route template (never by raw path: no learner ids in labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                label = getattr(route, "path", None) or "unmatched"
                REQUEST_SECONDS.labels(label, scope["method"], str(message["status"])).observe(
                    time.perf_counter() - t0
                )
            await send(message)

        await self.app(scope, receive, timed_send)


def page(name: str):  # type: ignore[no-untyped-def]
    async def serve(_request: Request) -> Response:
        return FileResponse(STATIC / name, media_type="text/html", headers=PAGE_HEADERS)

    return serve


async def metrics(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def on_auth_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    headers = {"www-authenticate": 'Bearer realm="learnpulse"'} if exc.status == 401 else None
    return api.json({"error": exc.message}, exc.status, headers)


async def on_redis_error(_request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable: %s", type(exc).__name__)
    return api.json({"error": "learner data temporarily unavailable"}, 503, {"retry-after": "2"})


async def on_contract_error(_request: Request, exc: Exception) -> Response:
    # The message names the key, i.e. the learner: log the kind only, answer the detail.
    log.error("a Redis value does not follow the contract (%s)", type(exc).__name__)
    return api.json({"error": str(exc)}, 500)


def routes() -> list[Route | Mount]:
    learner_routes: list[Route | Mount] = []
    for base in ("/v1/me", "/v1/learners/{learner_id}"):
        learner_routes += [
            Route(f"{base}/recommendations", api.recommendations, methods=["GET"]),
            Route(f"{base}/state", api.state, methods=["GET"]),
            Route(f"{base}/nudges", api.nudges, methods=["GET"]),
            Route(f"{base}/events", api.events, methods=["GET"]),
            Route(f"{base}/feedback", api.post_feedback, methods=["POST"]),
        ]
    return [
        *learner_routes,
        Route("/v1/ops/stats", api.ops_stats, methods=["GET"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/", page("index.html"), methods=["GET"]),
        Route("/ops", page("ops.html"), methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(settings: DeliverySettings) -> Starlette:
    """The ASGI app; Redis, the live hub and the Kafka producer start with it."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(
            settings.redis_url.get_secret_value(), socket_timeout=5, health_check_interval=30
        )
        hub = LiveHub(client)
        await hub.start()
        producer = FeedbackProducer(settings.kafka_bootstrap, settings.produce_timeout_s)
        app.state.deps = api.Deps(
            settings, settings.token_secret.get_secret_value().encode(), client, hub, producer
        )
        try:
            yield
        finally:
            await hub.close()
            producer.close()
            await client.aclose()

    middleware = [Middleware(Timing)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=600,
            )
        )
    return Starlette(
        routes=routes(),
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            AuthError: on_auth_error,
            aioredis.ConnectionError: on_redis_error,
            aioredis.TimeoutError: on_redis_error,
            LiveUnavailable: on_redis_error,
            ContractError: on_contract_error,
        },
    )
