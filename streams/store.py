"""Learner states in a faust table, written once per batch with the right partition.

faust picks a changelog partition from the *current event*, which inside a
batch is the last event of the batch, not the one of the learner being
written. So we write the table's store directly and send the changelog record
ourselves with the learner's own partition.

The changelog records go out through librdkafka (``ChangelogProducer``), not
faust's aiokafka producer: py-spy put ~16 % of the worker's samples in faust's
path (its producer buffer, then aiokafka's sender, in Python), while
librdkafka batches and sends in its own C thread (decision 0012). faust still
*reads* the topic: recovery and standbys are unchanged.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import orjson
from confluent_kafka import KafkaError, Producer

# The key of the end markers (decision 0018): JSON like every table key, and no
# learner id can start with a NUL. A tombstone: recovery deletes a key that is
# never there.
END_KEY = orjson.dumps("\u0000lp:changelog-end")


class ChangelogError(RuntimeError):
    """Changelog records were not acknowledged; the batch must not be acked."""


class ChangelogProducer:
    """The learner table's changelog, produced idempotently (order per partition kept).

    ``end_markers`` (Tansu, decision 0018): Tansu's ListOffsets answers the last
    batch's base offset + 1, not the last offset + 1 (DESIGN.md), so a recovery
    reading up to that high watermark would stop inside the last batch. Every
    flush therefore ends with one marker record (a tombstone of
    :data:`END_KEY`) on each partition it wrote, produced only after the
    flushed records were acknowledged: the marker starts a later batch, so the
    reported high watermark lies past every flushed record. Offsets are
    committed only after a flush, so recovery always reaches the states of
    every committed event. (It used to make every record its own batch: 11%
    of the worker's CPU and 70% of the broker's per event.)
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        end_markers: bool,
        extra: dict[str, Any] | None = None,
    ) -> None:
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 1,
            "compression.type": "lz4",
        }
        conf.update(extra or {})
        self.producer = Producer(conf)
        self.topic = topic
        self.end_markers = end_markers
        # Records sent and settled (delivered or failed) per partition. A flush
        # waits per partition: librdkafka reports a partition's records in the
        # order they were produced (idempotence keeps that order), so n settled
        # there means its first n are. One count over all partitions did not:
        # records sent after a flush began, to a partition on a quicker broker,
        # could make up the count while an earlier record was still in flight.
        self.sent: dict[int, int] = {}
        self.settled: dict[int, int] = {}
        self._errors: list[KafkaError] = []
        # Partitions written since the last flush began (they get a marker).
        self._unmarked: set[int] = set()
        # Delivery callbacks run in whichever thread polls (the flush's executor
        # thread, a timer's flush, or send() when the queue is full): count
        # under a lock so no settlement is lost to a race.
        self._settle_lock = threading.Lock()

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        partition = msg.partition()
        with self._settle_lock:
            self.settled[partition] = self.settled.get(partition, 0) + 1
            if err is not None:
                self._errors.append(err)

    def send(self, partition: int, key: bytes, value: bytes) -> None:
        self._produce(partition, key, value)
        if self.end_markers:
            self._unmarked.add(partition)

    def _produce(self, partition: int, key: bytes, value: bytes | None) -> None:
        while True:
            try:
                self.producer.produce(
                    self.topic,
                    value=value,
                    key=key,
                    partition=partition,
                    on_delivery=self._on_delivery,
                )
                self.sent[partition] = self.sent.get(partition, 0) + 1
                return
            except BufferError:
                self.producer.poll(0.05)

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every record sent before this call is acknowledged.

        Not ``Producer.flush``: that waits for an empty queue, which under
        steady load (records sent while it waits) may take as long as the load
        lasts.
        """
        target = dict(self.sent)
        marks, self._unmarked = self._unmarked, set()
        await self._wait(target, timeout_s)
        if marks:
            # After the acknowledgement, not before: a marker queued with the
            # records could share their batch and leave the high watermark
            # inside it.
            for partition in sorted(marks):
                self._produce(partition, END_KEY, None)
            await self._wait(dict(self.sent), timeout_s)

    def unsettled(self, target: dict[int, int]) -> int:
        """How many of the first ``target[p]`` records of each partition p are not settled."""
        settled = self.settled
        return sum(max(0, n - settled.get(p, 0)) for p, n in target.items())

    async def _wait(self, target: dict[int, int], timeout_s: float) -> None:
        if self.unsettled(target) and not self._errors:
            # One trip to a thread per wait, polling there until done: poll returns
            # at each delivery report, and with a trip per poll (asyncio future,
            # thread wake-ups) the executor thread had ~7% of the worker's py-spy
            # samples on one-record batches.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._settle, target, timeout_s)
        self._check(target, timeout_s)

    def _check(self, target: dict[int, int], timeout_s: float) -> None:
        """Raise if ``target`` was not settled, or any record failed."""
        left = self.unsettled(target)
        if left and not self._errors:
            raise ChangelogError(f"{left} changelog records not acknowledged in {timeout_s:.0f} s")
        if self._errors:
            errs, self._errors = self._errors, []
            raise ChangelogError(f"changelog records failed: {errs[:3]}")

    def _settle(self, target: dict[int, int], timeout_s: float) -> None:
        """Serve delivery callbacks until ``target`` is settled (blocking)."""
        deadline = time.monotonic() + timeout_s
        while self.unsettled(target) and not self._errors and time.monotonic() < deadline:
            self.producer.poll(0.05)

    def close(self) -> None:
        self.producer.flush(10)


class TableStore:
    def __init__(self, table: Any, changelog: ChangelogProducer | None = None) -> None:
        self.table = table
        self.changelog = changelog

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
        self._log(learner_id, value, partition)

    def keep(self, states: dict[str, tuple[bytes, int]]) -> None:
        """Make states current in memory only; :meth:`log` them once their effects are
        written (a restart must not recover a state whose effects were lost)."""
        data = self.table.data
        for learner_id, (value, _partition) in states.items():
            data[learner_id] = value

    def log(self, states: dict[str, tuple[bytes, int]]) -> None:
        """Send the changelog records of states already kept."""
        for learner_id, (value, partition) in states.items():
            self._log(learner_id, value, partition)

    def _log(self, learner_id: str, value: bytes, partition: int) -> None:
        if self.changelog is None:
            self.table.send_changelog(partition, learner_id, value)
        else:
            # The table's key serializer is json: the same bytes faust would write.
            self.changelog.send(partition, orjson.dumps(learner_id), value)

    async def flush(self) -> None:
        if self.changelog is not None:
            await self.changelog.flush()

    def __len__(self) -> int:
        return len(self.table.data)
