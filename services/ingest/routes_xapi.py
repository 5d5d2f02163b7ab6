"""The xAPI statements resource: ``POST``/``PUT /xapi/statements``, ``GET /xapi/about``.

Follows xAPI 1.0.3 (and accepts 2.0): the ``X-Experience-API-Version`` header
is required; one invalid statement rejects the batch (400); duplicate ids in
one batch are a 400; an identical re-send of a stored id is accepted with no
effect; a different statement under a stored id is a 409. ``POST`` answers 200
with the ids in order, ``PUT`` 204.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from services.ingest import metrics, xapi
from services.ingest.errors import InvalidEvent
from services.ingest.fields import is_uuid, now_ms
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
from services.ingest.keystore import Credential

VERSION_HEADER = "X-Experience-API-Version"


def _answer_version(request: Request) -> dict[str, str]:
    return {VERSION_HEADER: xapi.version_of(request.headers.get(VERSION_HEADER)) or "1.0.3"}


def _version(request: Request) -> str:
    declared = request.headers.get(VERSION_HEADER)
    version = xapi.version_of(declared)
    if version is None:
        what = "missing" if declared is None else f"unsupported ({declared!r})"
        raise Reject(
            400,
            "unsupported_version",
            f"{VERSION_HEADER} header is {what}; supported: 1.0.x, 2.0.x",
        )
    return version


def _authority(cred: Credential) -> dict[str, Any]:
    return {
        "objectType": "Agent",
        "name": cred.tool,
        "account": {"homePage": "urn:learnpulse:ingest", "name": cred.key_id},
    }


def _normalize(
    body: Any, cred: Credential, version: str, statement_id: str | None = None
) -> list[xapi.Statement]:
    try:
        return xapi.normalize(
            body,
            source=cred.tool,
            received_at_ms=now_ms(),
            version=version,
            authority=_authority(cred),
            statement_id=statement_id,
        )
    except InvalidEvent as exc:
        metrics.EVENTS.labels("xapi", "rejected").inc(len(body) if isinstance(body, list) else 1)
        raise Reject(400, "invalid", "invalid statement(s); none were stored", exc.errors) from exc


async def _store(
    deps: Deps, cred: Credential, stmts: list[xapi.Statement], paths: list[str]
) -> None:
    """Claim ids, publish what is new, confirm; 409 on conflicts, 503 when in doubt."""
    check_scope(cred, [s.record for s in stmts], paths, "verb", "xapi")
    take_tokens(cred, len(stmts), deps)
    claim = await deps.statement_ids.claim(stmts)
    new = [stmts[i] for i in claim.new]
    if claim.conflicts or claim.in_flight:
        await deps.statement_ids.release(new)
        if claim.conflicts:
            metrics.EVENTS.labels("xapi", "rejected").inc(len(stmts))
            raise Reject(
                409,
                "conflict",
                "a statement with this id is already stored with "
                "different content; nothing was stored",
                [
                    {
                        "path": f"{paths[i]}/id",
                        "error": f"statement {stmts[i].id} already stored with different content",
                    }
                    for i in claim.conflicts
                ],
            )
        raise Reject(
            503,
            "unavailable",
            "the same statement is being stored by another request; retry",
            headers={"Retry-After": "1"},
        )
    if claim.duplicates:
        metrics.EVENTS.labels("xapi", "duplicate").inc(len(claim.duplicates))
    if not new:
        return
    try:
        await publish(deps, [s.record for s in new], "xapi")
    except Reject:
        await deps.statement_ids.release(new)
        raise
    await deps.statement_ids.confirm(new)


@endpoint("xapi_post", "xapi", headers=_answer_version)
async def post_statements(request: Request, deps: Deps) -> Response:
    cred = await authorize(request, deps, "xapi")
    version = _version(request)
    body = await read_json(request, deps)
    if isinstance(body, list):
        check_batch_size(len(body), deps)
    stmts = _normalize(body, cred, version)
    paths = [f"/{i}" for i in range(len(stmts))] if isinstance(body, list) else [""]
    await _store(deps, cred, stmts, paths)
    return ok([s.id for s in stmts])


@endpoint("xapi_put", "xapi", headers=_answer_version)
async def put_statement(request: Request, deps: Deps) -> Response:
    cred = await authorize(request, deps, "xapi")
    version = _version(request)
    sid = request.query_params.get("statementId")
    if not is_uuid(sid):
        raise Reject(
            400,
            "invalid",
            "statementId query parameter must be a UUID",
            [{"path": "?statementId", "error": "required, must be a UUID"}],
        )
    body = await read_json(request, deps)
    if not isinstance(body, dict):
        raise Reject(
            400,
            "invalid",
            "PUT takes one statement object",
            [{"path": "", "error": "must be a statement object"}],
        )
    stmts = _normalize(body, cred, version, statement_id=sid)
    await _store(deps, cred, stmts, [""])
    return Response(status_code=204)


async def about(request: Request) -> Response:
    return ok({"version": list(xapi.SUPPORTED_VERSIONS)})
