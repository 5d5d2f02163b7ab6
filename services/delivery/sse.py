"""A learner's live updates as a ``text/event-stream`` (server-sent events).

Events: ``reco`` and ``nudge`` (data = the JSON value, as in Redis),
``heartbeat`` every few seconds (data ``{"t": <epoch ms>}``) so clients and
proxies see the stream is alive, ``expired`` when the token runs out and
``close`` when the server ends the stream (shutdown, or a client too far
behind); after ``close`` the browser's EventSource reconnects by itself.

This is a plain ASGI response, not a generator, so it notices a client that
went away at once and always releases its subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from services.delivery.live import Listener, LiveHub

RETRY_MS = 3000  # how long EventSource waits before reconnecting


def event(name: str, data: bytes) -> bytes:
    """One SSE frame; ``data`` must be a single line (compact JSON is)."""
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


class EventStream:
    def __init__(
        self,
        hub: LiveHub,
        listener: Listener,
        first: list[tuple[str, bytes]],
        heartbeat_s: float,
        expires_at: float,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.hub = hub
        self.listener = listener
        self.first = first
        self.heartbeat_s = heartbeat_s
        self.expires_at = expires_at
        self.headers = headers or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = asyncio.ensure_future(_wait_disconnect(receive))
        getter: asyncio.Future[tuple[str, bytes]] | None = None
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache, no-store"),
                        (b"x-accel-buffering", b"no"),  # tell reverse proxies not to buffer
                        *self.headers,
                    ],
                }
            )
            opening = b"retry: %d\n\n" % RETRY_MS + b"".join(event(n, d) for n, d in self.first)
            await self._body(send, opening)
            while True:
                left = self.expires_at - time.time()
                if left <= 0:
                    await self._body(
                        send, event("expired", b'{"error":"token expired"}'), last=True
                    )
                    return
                if getter is None:
                    getter = asyncio.ensure_future(self.listener.queue.get())
                done, _ = await asyncio.wait(
                    {getter, disconnected},
                    timeout=min(self.heartbeat_s, left),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if disconnected in done:
                    return
                if getter in done:
                    name, data = getter.result()
                    getter = None
                    if name == "close":
                        await self._body(send, event("close", data), last=True)
                        return
                    await self._body(send, event(name, data))
                else:
                    beat = orjson.dumps({"t": int(time.time() * 1000)})
                    await self._body(send, event("heartbeat", beat))
        except OSError:
            return  # the client went away mid-write
        finally:
            for fut in (getter, disconnected):
                if fut is not None and not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await fut
            await self.hub.remove(self.listener)

    @staticmethod
    async def _body(send: Send, chunk: bytes, last: bool = False) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": not last})


async def _wait_disconnect(receive: Receive) -> Any:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return message
