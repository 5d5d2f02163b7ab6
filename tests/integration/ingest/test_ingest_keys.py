"""Credentials end to end: the keys CLI against real Redis, and what bad keys cannot do."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

from services.ingest.keys_cli import app as keys_app

pytestmark = pytest.mark.integration

XV = {"X-Experience-API-Version": "1.0.3"}


def _event(**over: Any) -> dict[str, Any]:
    e = {
        "event_id": str(uuid.uuid4()),
        "learner_id": "u-1",
        "verb": "completed",
        "object_id": "c-1",
        "occurred_at_ms": 1_714_557_600_000,
    }
    e.update(over)
    return e


def test_cli_create_list_revoke(redis_server, gateway) -> None:
    runner = CliRunner()
    url = ["--redis-url", redis_server.ingest_url]
    made = runner.invoke(
        keys_app,
        ["create", "quiz", "--format", "native", "--verb", "answered", "--note", "test", *url],
    )
    assert made.exit_code == 0, made.output
    token = re.search(r"^(lpk_[0-9a-f]{16}\.\S+)$", made.output, re.M)
    assert token is not None, made.output
    key_id = token.group(1).split(".", 1)[0]
    bearer = {"Authorization": f"Bearer {token.group(1)}"}

    ok = gateway.client.post("/v1/events", json=[_event(verb="answered")], headers=bearer)
    assert ok.status_code == 200, ok.text
    assert (
        gateway.client.post("/v1/events", json=[_event()], headers=bearer).status_code == 403
    )  # verb scope

    listed = runner.invoke(keys_app, ["list", "--json", *url])
    assert listed.exit_code == 0 and key_id in listed.output
    assert token.group(1).split(".", 1)[1] not in listed.output  # never the secret
    assert '"salt"' not in listed.output and '"hash"' not in listed.output

    exported = runner.invoke(keys_app, ["export", *url])
    assert key_id in exported.output and token.group(1).split(".", 1)[1] not in exported.output

    revoked = runner.invoke(keys_app, ["revoke", key_id, *url])
    assert revoked.exit_code == 0, revoked.output
    after = gateway.client.post("/v1/events", json=[_event(verb="answered")], headers=bearer)
    assert after.status_code == 401
    assert after.json()["message"] == "this key has been revoked"
    assert runner.invoke(keys_app, ["revoke", "lpk_nope", *url]).exit_code == 1


def test_bad_credentials_put_nothing_on_kafka(
    gateway, make_key, key_store, new_statement, consume_all
) -> None:
    good = make_key("lms")
    scoped = make_key("lms", formats=("xapi",), verbs=("completed",))
    revoked = make_key("lms")
    key_store.revoke(revoked.key_id, 1)
    attempts = [
        ("/v1/events", {}),
        ("/v1/events", {"Authorization": f"Bearer {good.key_id}.{good.secret[:-1]}"}),
        ("/v1/events", {"Authorization": f"Bearer lpk_ffffffffffffffff.{good.secret}"}),
        ("/v1/events", revoked.bearer),
        ("/v1/events", scoped.bearer),  # native not allowed
        ("/xapi/statements", {**scoped.basic, **XV}),  # verb not allowed
        ("/xapi/statements", {"Authorization": "Basic Zm9vOmJhcg==", **XV}),  # foo:bar
    ]
    statuses = []
    for url, headers in attempts:
        body: Any = (
            [_event()]
            if url == "/v1/events"
            else [new_statement(verb={"id": "http://adlnet.gov/expapi/verbs/failed"})]
        )
        statuses.append(gateway.client.post(url, json=body, headers=headers).status_code)
    assert statuses == [401, 401, 401, 401, 403, 403, 401]
    assert consume_all(gateway.topics.activity, 1, timeout=8) == []
