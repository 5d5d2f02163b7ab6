"""A failure the worker must not survive is logged with its cause, then the process exits 70."""

from __future__ import annotations

import logging

import pytest

from streams import fatal


def test_stop_worker_logs_the_cause_and_exits_with_70(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise SystemExit(code)  # os._exit never returns; neither may this

    monkeypatch.setattr(fatal.os, "_exit", fake_exit)
    monkeypatch.setattr(fatal.logging, "shutdown", lambda: None)
    with caplog.at_level(logging.CRITICAL, logger="streams.fatal"), pytest.raises(SystemExit):
        try:
            raise ConnectionError("redis gone")
        except ConnectionError:
            fatal.stop_worker("effects of a batch could not be written")
    assert codes == [70]
    (record,) = caplog.records
    assert "effects of a batch could not be written" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ConnectionError)
