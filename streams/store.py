"""Learner states in a faust table, written once per batch with the right partition.

faust picks a changelog partition from the *current event*, which inside a
``take_events`` batch is the last event of the batch, not the one of the
learner being written. So we write the table's store directly and send the
changelog record ourselves with the learner's own partition.
"""

from __future__ import annotations

from typing import Any

import orjson


class TableStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, learner_id: str) -> bytes | None:
        value = self.table.data.get(learner_id)
        if value is None:
            return None
        # Live values are our bytes; values recovered from the changelog come
        # back through faust's codecs, which may already have parsed the JSON.
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):
            return value.encode()
        return orjson.dumps(value)

    def put(self, learner_id: str, value: bytes, partition: int) -> None:
        self.table.data[learner_id] = value
        self.table.send_changelog(partition, learner_id, value)

    def __len__(self) -> int:
        return len(self.table.data)
