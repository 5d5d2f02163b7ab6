"""Authenticate producer requests: Bearer ``<key_id>.<secret>`` or HTTP Basic ``key_id:secret``.

Both schemes are accepted on every route (Basic is what xAPI clients speak,
Bearer what Caliper sensors and native producers use). A missing, malformed,
unknown, wrong or revoked credential is a 401; what a valid credential may
not do is a 403 (checked by the routes). Credentials are cached for
``key_cache_s`` so the gateway does not ask Redis on every request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Mapping
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError

from services.ingest.keystore import KEYS_HASH, Credential

_CACHE_MAX = 10_000  # unknown key ids are cached too; bound the memory a scan can take


class AuthError(Exception):
    """401: no usable credential. ``message`` is safe to show the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_authorization(header: str | None) -> tuple[str, str]:
    """``Authorization`` header -> (key_id, secret). Raises :class:`AuthError`."""
    if not header:
        raise AuthError("credentials required: Authorization: Bearer <key> or Basic")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        key_id, dot, secret = value.partition(".")
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthError("malformed Basic credentials") from exc
        key_id, dot, secret = decoded.partition(":")
    else:
        raise AuthError(f"unsupported authorization scheme {scheme!r}: use Bearer or Basic")
    if not dot or not key_id or not secret:
        raise AuthError(
            "malformed credentials: expected <key_id>.<secret> (Bearer) or key_id:secret (Basic)"
        )
    return key_id, secret


class Authenticator:
    """Looks credentials up in Redis (async client), with a short cache."""

    def __init__(self, redis: Any, cache_s: float, timeout_s: float = 5.0) -> None:
        self.redis = redis
        self.cache_s = cache_s
        self.timeout_s = timeout_s
        self._cache: dict[str, tuple[float, Credential | None]] = {}

    async def _lookup(self, key_id: str) -> Credential | None:
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            raw = await asyncio.wait_for(self.redis.hget(KEYS_HASH, key_id), self.timeout_s)
        except TimeoutError as exc:
            raise RedisTimeoutError(f"Redis did not answer within {self.timeout_s}s") from exc
        cred = Credential.from_json(raw) if raw is not None else None
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        if self.cache_s > 0:
            self._cache[key_id] = (now + self.cache_s, cred)
        return cred

    async def authenticate(self, headers: Mapping[str, str]) -> Credential:
        key_id, secret = parse_authorization(headers.get("authorization"))
        cred = await self._lookup(key_id)
        # One message for unknown and wrong: do not tell a prober which key ids exist.
        if cred is None or not cred.verify(secret):
            raise AuthError("invalid credentials")
        if cred.revoked:
            raise AuthError("this key has been revoked")
        return cred
