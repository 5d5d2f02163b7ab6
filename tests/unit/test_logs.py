"""Logs are JSON lines with structured fields (topic/partition/offset), one per record."""

from __future__ import annotations

import logging

import orjson

from learnpulse.logs import JsonFormatter


def test_json_log_line_carries_structured_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "streams.sink",
            "levelname": "WARNING",
            "msg": "dead-lettered a record",
            "topic": "lp.raw.xapi",
            "partition": 1,
            "offset": 42,
            "reason": "invalid",
        }
    )
    line = JsonFormatter().format(record)
    data = orjson.loads(line)
    assert data["msg"] == "dead-lettered a record"
    assert (data["topic"], data["partition"], data["offset"]) == ("lp.raw.xapi", 1, 42)
    assert data["level"] == "warning" and "\n" not in line
