"""Parsing the Redis contract's values: versions are checked, bad values named clearly."""

from __future__ import annotations

import pytest

from learnpulse.reader import (
    ContractError,
    UnknownVersion,
    parse_nudge,
    parse_nudges,
    parse_update,
    parse_value,
)


def test_known_version_is_parsed() -> None:
    assert parse_value(b'{"v":1,"items":[{"content_id":"c"}]}', "k")["items"][0] == {
        "content_id": "c"
    }


@pytest.mark.parametrize("raw", [b'{"v":2,"items":[]}', b'{"items":[]}', b'{"v":"1"}'])
def test_unknown_or_missing_version_is_a_clear_error(raw: bytes) -> None:
    with pytest.raises(UnknownVersion, match="lp:{l-1}:reco has value version"):
        parse_value(raw, "lp:{l-1}:reco")


def test_not_json_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="not JSON"):
        parse_value(b"\x00garbage", "lp:{l-1}:state")
    with pytest.raises(ContractError, match="not a JSON object"):
        parse_value(b"[1,2]", "lp:{l-1}:state")


def test_nudge_entries_carry_their_stream_id() -> None:
    n = parse_nudge(b"1700000000000-0", {b"v": b"1", b"nudge": b'{"nudge_id":"n1"}'}, "k")
    assert n == {"nudge_id": "n1", "stream_id": "1700000000000-0"}
    with pytest.raises(UnknownVersion):
        parse_nudge(b"1-0", {b"v": b"9", b"nudge": b"{}"}, "k")
    with pytest.raises(ContractError):
        parse_nudge(b"1-0", {b"v": b"1"}, "k")
    assert parse_nudges(None, "k") == []


def test_live_messages() -> None:
    u = parse_update(b'{"type":"nudge","value":{"nudge_id":"n1"}}', "ch")
    assert (u.type, u.value) == ("nudge", {"nudge_id": "n1"})
    with pytest.raises(UnknownVersion):
        parse_update(b'{"type":"reco","value":{"v":3}}', "ch")
    with pytest.raises(ContractError, match="message type"):
        parse_update(b'{"type":"gossip","value":{}}', "ch")
