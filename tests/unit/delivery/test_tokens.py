"""Learner tokens: a genuine token names its learner until it expires; nothing else passes."""

from __future__ import annotations

import base64

import orjson
import pytest

from services.delivery import tokens
from services.delivery.tokens import TokenError, mint, verify

SECRET = b"unit-test-secret-0123456789"


def test_round_trip_names_the_learner_and_expiry() -> None:
    t = mint(SECRET, "lrn-00042", ttl_s=300, now=1_000)
    claims = verify(SECRET, t, now=1_299)
    assert claims.learner_id == "lrn-00042"
    assert claims.issued_at == 1_000
    assert claims.expires_at == 1_300


def test_expired_token_is_refused() -> None:
    t = mint(SECRET, "lrn-1", ttl_s=60, now=1_000)
    with pytest.raises(TokenError) as err:
        verify(SECRET, t, now=1_060)
    assert err.value.reason == "expired"


def test_token_signed_with_another_secret_is_forged() -> None:
    t = mint(b"some-other-secret-0123456789", "lrn-1", now=1_000)
    with pytest.raises(TokenError) as err:
        verify(SECRET, t, now=1_001)
    assert err.value.reason == "forged"


def test_changing_the_learner_in_the_payload_breaks_the_signature() -> None:
    t = mint(SECRET, "alice", ttl_s=600, now=1_000)
    payload, sig = t.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "bob"
    forged_payload = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    with pytest.raises(TokenError) as err:
        verify(SECRET, f"{forged_payload}.{sig}", now=1_001)
    assert err.value.reason == "forged"


@pytest.mark.parametrize("bad", ["", "abc", "a.b.c", "x" * 2000, "!!!.???"])
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(TokenError):
        verify(SECRET, bad, now=1_000)


def test_minting_refuses_weak_secrets_and_bad_input() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        mint(b"short", "lrn-1")
    with pytest.raises(ValueError):
        mint(SECRET, "")
    with pytest.raises(ValueError):
        mint(SECRET, "lrn-1", ttl_s=0)


def test_cli_prints_a_token_the_api_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEARNPULSE_DELIVERY_TOKEN_SECRET", SECRET.decode())
    assert tokens.main(["lrn-7", "--ttl", "120"]) == 0
    printed = capsys.readouterr().out.strip()
    assert verify(SECRET, printed).learner_id == "lrn-7"


def test_cli_without_secret_explains_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LEARNPULSE_DELIVERY_TOKEN_SECRET", raising=False)
    assert tokens.main(["lrn-7"]) == 2
    assert "token_secret" in capsys.readouterr().err.lower()
