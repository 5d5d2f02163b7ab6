"""Credential parsing and hashing, token buckets: the gateway's pure pieces."""

from __future__ import annotations

import base64

import pytest

from services.ingest.auth import AuthError, parse_authorization
from services.ingest.keystore import Credential, new_credential
from services.ingest.limits import RateLimiter, TokenBucket, retry_after


def test_bearer_and_basic_parse_to_the_same_pair() -> None:
    basic = base64.b64encode(b"lpk_1:s3cr.et").decode()
    assert parse_authorization("Bearer lpk_1.s3cr.et") == ("lpk_1", "s3cr.et")
    assert parse_authorization(f"Basic {basic}") == ("lpk_1", "s3cr.et")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer lpk_1",
        "Bearer .secret",
        "Token abc",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
)
def test_malformed_authorization_is_an_auth_error(header: str | None) -> None:
    with pytest.raises(AuthError):
        parse_authorization(header)


def test_secret_is_stored_hashed_and_verified() -> None:
    cred, token = new_credential("lms", verbs=("completed",))
    key_id, secret = token.split(".", 1)
    assert cred.key_id == key_id and secret not in cred.to_json().decode()
    again = Credential.from_json(cred.to_json())
    assert again == cred
    assert again.verify(secret) and not again.verify(secret + "x")
    assert again.allows_verb("completed") and not again.allows_verb("viewed")
    assert again.allows_source("lms") and not again.allows_source("video")


def test_two_keys_with_the_same_secret_have_different_hashes() -> None:
    a, _ = new_credential("lms")
    b, _ = new_credential("lms")
    assert a.salt != b.salt and a.hash != b.hash


@pytest.mark.parametrize(
    "bad", [{"tool": ""}, {"tool": "a b"}, {"formats": ("csv",)}, {"formats": ()}]
)
def test_new_credential_validates(bad: dict) -> None:
    args = {"tool": "lms", **bad}
    tool = args.pop("tool")
    with pytest.raises(ValueError):
        new_credential(tool, **args)


def test_bucket_refills_and_big_batches_leave_debt() -> None:
    clock = [0.0]
    b = TokenBucket(rate=100, capacity=50, now=lambda: clock[0])
    assert b.take(80) == 0.0  # larger than the bucket: passes when full ...
    assert b.tokens == -30
    assert b.take(1) == pytest.approx(0.31)  # ... and the debt is paid back first
    clock[0] = 0.31
    assert b.take(1) == 0.0


def test_limiter_keeps_one_bucket_per_tool_and_applies_new_rates() -> None:
    lim = RateLimiter(rate_per_s=10, burst=20)
    a = lim.bucket("lms", None, None)
    assert lim.bucket("lms", None, None) is a and (a.rate, a.capacity) == (10, 20)
    assert lim.bucket("video", 5, 7) is not a
    lim.bucket("lms", 50, 100)
    assert (a.rate, a.capacity) == (50, 100)


@pytest.mark.parametrize(("seconds", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2")])
def test_retry_after_is_whole_seconds(seconds: float, header: str) -> None:
    assert retry_after(seconds) == header
