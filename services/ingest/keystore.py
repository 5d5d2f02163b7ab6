"""Producer credentials (API keys), stored hashed in the Redis hash ``lp:ingest:keys``.

A key is ``<key_id>.<secret>``; Redis keeps only ``HMAC-SHA256(salt, secret)``
with a random per-key salt, so a Redis dump gives nobody a usable key. Each
credential belongs to one producer tool and is scoped to the sources, formats
and verbs it may send. Why Redis and not a file: every gateway process (on any
host) sees a new or revoked key within ``key_cache_s`` without a restart or a
file rollout, and the ingest Redis user already owns ``lp:ingest:*``. Keys are
the one piece of ingest state Kafka cannot rebuild: back them up with
``learnpulse keys export`` (hashes only, no secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

KEYS_HASH = "lp:ingest:keys"
FORMATS = ("xapi", "caliper", "native")
KEY_PREFIX = "lpk_"


def hash_secret(salt_hex: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt_hex), secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Credential:
    """One producer key: who it is (``tool``) and what it may send."""

    key_id: str
    tool: str
    salt: str
    hash: str
    sources: tuple[str, ...] = ()
    formats: tuple[str, ...] = FORMATS
    verbs: tuple[str, ...] = ()  # empty: any verb
    rate_per_s: float | None = None  # None: the gateway default
    burst: int | None = None
    created_at_ms: int = 0
    revoked_at_ms: int | None = None
    note: str = ""
    v: int = field(default=1)

    @property
    def revoked(self) -> bool:
        return self.revoked_at_ms is not None

    def verify(self, secret: str) -> bool:
        return hmac.compare_digest(hash_secret(self.salt, secret), self.hash)

    def allows_format(self, fmt: str) -> bool:
        return fmt in self.formats

    def allows_source(self, source: str) -> bool:
        return source == self.tool or source in self.sources

    def allows_verb(self, verb: str) -> bool:
        return not self.verbs or verb in self.verbs

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @staticmethod
    def from_json(raw: bytes | str) -> Credential:
        data: dict[str, Any] = orjson.loads(raw)
        for key in ("sources", "formats", "verbs"):
            data[key] = tuple(data.get(key) or ())
        return Credential(**data)

    def public(self) -> dict[str, Any]:
        """What ``keys list`` shows: everything but the salt and hash."""
        out = asdict(self)
        out.pop("salt")
        out.pop("hash")
        return out


def new_credential(
    tool: str,
    *,
    sources: tuple[str, ...] = (),
    formats: tuple[str, ...] = FORMATS,
    verbs: tuple[str, ...] = (),
    rate_per_s: float | None = None,
    burst: int | None = None,
    note: str = "",
    now_ms: int = 0,
) -> tuple[Credential, str]:
    """A new credential and its token ``<key_id>.<secret>`` (shown once, never stored)."""
    if not tool or any(c.isspace() for c in tool):
        raise ValueError("tool must be a non-empty name without spaces")
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}")
    key_id = KEY_PREFIX + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    cred = Credential(
        key_id=key_id,
        tool=tool,
        salt=salt,
        hash=hash_secret(salt, secret),
        sources=tuple(sources),
        formats=tuple(formats),
        verbs=tuple(verbs),
        rate_per_s=rate_per_s,
        burst=burst,
        created_at_ms=now_ms,
        note=note,
    )
    return cred, f"{key_id}.{secret}"


class KeyStore:
    """Create, list, revoke credentials (synchronous: the CLI and tests use it)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def add(self, cred: Credential) -> None:
        if not self.redis.hsetnx(KEYS_HASH, cred.key_id, cred.to_json()):
            raise ValueError(f"key id {cred.key_id} already exists")

    def get(self, key_id: str) -> Credential | None:
        raw = self.redis.hget(KEYS_HASH, key_id)
        return Credential.from_json(raw) if raw is not None else None

    def all(self) -> list[Credential]:
        raw = self.redis.hgetall(KEYS_HASH)
        return sorted(
            (Credential.from_json(v) for v in raw.values()), key=lambda c: (c.tool, c.created_at_ms)
        )

    def revoke(self, key_id: str, now_ms: int) -> Credential:
        cred = self.get(key_id)
        if cred is None:
            raise KeyError(key_id)
        if not cred.revoked:
            cred = replace(cred, revoked_at_ms=now_ms)
            self.redis.hset(KEYS_HASH, key_id, cred.to_json())
        return cred

    def restore(self, creds: list[Credential]) -> int:
        """Put exported credentials back (existing ids are overwritten)."""
        if creds:
            self.redis.hset(KEYS_HASH, mapping={c.key_id: c.to_json() for c in creds})
        return len(creds)
