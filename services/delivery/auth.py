"""Who is asking: the learner named by a signed token (401), and only for themselves (403)."""

from __future__ import annotations

from starlette.requests import Request

from services.delivery import tokens
from services.delivery.metrics import AUTH_FAILURES


class AuthError(Exception):
    """Refused credentials: ``status`` is 401 (who are you?) or 403 (not yours)."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


def token_of(request: Request) -> str | None:
    """``Authorization: Bearer <token>``, else ``?token=`` (EventSource cannot set headers)."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError(401, "Authorization must be 'Bearer <token>'", "malformed")
        return value.strip()
    return request.query_params.get("token") or None


def authenticate(request: Request, secret: bytes) -> tokens.Claims:
    """The token's claims; :class:`AuthError` 401 when missing, malformed, forged or expired."""
    try:
        token = token_of(request)
        if token is None:
            raise AuthError(401, "missing token (Authorization: Bearer <token>)", "missing")
        try:
            return tokens.verify(secret, token)
        except tokens.TokenError as exc:
            raise AuthError(401, str(exc), exc.reason) from exc
    except AuthError as exc:
        AUTH_FAILURES.labels(exc.reason).inc()
        raise


def learner_for(request: Request, secret: bytes) -> tokens.Claims:
    """Claims of a request on ``/v1/me/...`` or ``/v1/learners/{learner_id}/...``.

    On the second form the path must name the token's own learner (403 otherwise).
    """
    claims = authenticate(request, secret)
    wanted = request.path_params.get("learner_id")
    if wanted is not None and wanted != claims.learner_id:
        AUTH_FAILURES.labels("other_learner").inc()
        raise AuthError(403, "this token may only read its own learner's data", "other_learner")
    return claims
