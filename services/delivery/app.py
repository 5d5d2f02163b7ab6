"""Minimal delivery API: read a learner's pre-rendered values from Redis."""

from __future__ import annotations

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from learnpulse import keys
from services.delivery.settings import DeliverySettings


def create_app(settings: DeliverySettings) -> Starlette:
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())

    async def recommendations(request: Request) -> Response:
        value = await client.get(keys.reco(request.path_params["learner_id"]))
        if value is None:
            return JSONResponse({"error": "no recommendations yet"}, status_code=404)
        return Response(value, media_type="application/json")

    async def state(request: Request) -> Response:
        value = await client.get(keys.state(request.path_params["learner_id"]))
        if value is None:
            return JSONResponse({"error": "unknown learner"}, status_code=404)
        return Response(value, media_type="application/json")

    async def healthz(_request: Request) -> Response:
        await client.ping()
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/v1/learners/{learner_id}/recommendations", recommendations),
        Route("/v1/learners/{learner_id}/state", state),
        Route("/healthz", healthz),
    ])
