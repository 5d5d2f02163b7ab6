"""Signed learner tokens: who is asking, until when (HMAC-SHA256).

A token is ``<payload>.<signature>``, both base64url without padding. The
payload is compact JSON ``{"v":1,"sub":<learner id>,"iat":<s>,"exp":<s>}``;
the signature is HMAC-SHA256 of the encoded payload with the shared secret.
Whoever holds the secret (the company's portal, the demo command) mints
tokens; the delivery API only verifies them.

Mint one from a shell (the secret comes from ``LEARNPULSE_DELIVERY_TOKEN_SECRET``)::

    python -m services.delivery.tokens learner-42 --ttl 3600

>>> t = mint(b"a-secret-of-16+bytes", "learner-42", ttl_s=60, now=1_000)
>>> verify(b"a-secret-of-16+bytes", t, now=1_030).learner_id
'learner-42'
>>> verify(b"a-secret-of-16+bytes", t, now=1_061)
Traceback (most recent call last):
...
services.delivery.tokens.TokenError: token expired
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import sys
import time
from dataclasses import dataclass

import orjson

TOKEN_VERSION = 1
MAX_LEARNER_ID = 128  # learner ids are pseudonymous ids, never free text
MAX_TOKEN_LEN = 1024


class TokenError(ValueError):
    """The token is malformed, forged or expired; ``reason`` is a short fixed label."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    learner_id: str
    issued_at: int
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def mint(secret: bytes, learner_id: str, ttl_s: int = 3600, now: float | None = None) -> str:
    """A token for ``learner_id`` valid ``ttl_s`` seconds from ``now``."""
    if not learner_id or len(learner_id) > MAX_LEARNER_ID:
        raise ValueError(f"learner id must be 1..{MAX_LEARNER_ID} characters")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    if len(secret) < 16:
        raise ValueError("token secret must be at least 16 bytes")
    iat = int(time.time() if now is None else now)
    payload = _b64(
        orjson.dumps({"v": TOKEN_VERSION, "sub": learner_id, "iat": iat, "exp": iat + int(ttl_s)})
    )
    return f"{payload}.{_sign(secret, payload)}"


def verify(secret: bytes, token: str, now: float | None = None) -> Claims:
    """The claims of a genuine, unexpired token; :class:`TokenError` otherwise."""
    if not token or len(token) > MAX_TOKEN_LEN or token.count(".") != 1:
        raise TokenError("malformed token", "malformed")
    payload, signature = token.split(".")
    # Compare signatures before looking inside: a forged payload is never parsed.
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise TokenError("bad token signature", "forged")
    try:
        claims = orjson.loads(_unb64(payload))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("malformed token payload", "malformed") from exc
    if not isinstance(claims, dict) or claims.get("v") != TOKEN_VERSION:
        raise TokenError("unsupported token version", "malformed")
    sub, iat, exp = claims.get("sub"), claims.get("iat"), claims.get("exp")
    if not isinstance(sub, str) or not sub or not isinstance(exp, int) or not isinstance(iat, int):
        raise TokenError("token lacks sub/iat/exp", "malformed")
    if (time.time() if now is None else now) >= exp:
        raise TokenError("token expired", "expired")
    return Claims(learner_id=sub, issued_at=iat, expires_at=exp)


def main(argv: list[str] | None = None) -> int:
    """``python -m services.delivery.tokens LEARNER_ID [--ttl S]``: print a token."""
    from pydantic import ValidationError

    from services.delivery.settings import TokenSettings

    parser = argparse.ArgumentParser(
        prog="python -m services.delivery.tokens",
        description="Mint a delivery API token (secret from LEARNPULSE_DELIVERY_TOKEN_SECRET).",
    )
    parser.add_argument("learner_id")
    parser.add_argument("--ttl", type=int, default=3600, help="validity in seconds")
    args = parser.parse_args(argv)
    try:
        secret = TokenSettings().token_secret.get_secret_value().encode()  # type: ignore[call-arg]
        print(mint(secret, args.learner_id, args.ttl))
    except (ValidationError, ValueError) as exc:
        print(f"learnpulse delivery tokens: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
