"""Learner states in a faust table, written once per batch with the right partition.

faust picks a changelog partition from the *current event*, which inside a
``take_events`` batch is the last event of the batch, not the one of the
learner being written. So we write the table's store directly and send the
changelog record ourselves with the learner's own partition.
"""

from __future__ import annotations

from typing import Any


class TableStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, learner_id: str) -> bytes | None:
        value = self.table.data.get(learner_id)
        return None if value is None else bytes(value)

    def put(self, learner_id: str, value: bytes, partition: int) -> None:
        self.table.data[learner_id] = value
        self.table.send_changelog(partition, learner_id, value)

    def __len__(self) -> int:
        return len(self.table.data)
