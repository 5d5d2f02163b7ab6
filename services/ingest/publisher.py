"""Publish canonical records to Kafka and wait until the broker acknowledged all of them.

One idempotent (``enable.idempotence``, ``acks=all``) confluent-kafka producer
per gateway process. A poll thread serves librdkafka's delivery reports; each
request's records share one asyncio future, settled on the event loop when the
last report of the batch arrives. ``publish`` returns only after every record
was acknowledged, and raises :class:`PublishFailed` otherwise (refused, queue
full, or not acknowledged within ``timeout_s``): the gateway then answers 503,
never a false success.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

import schemas

log = logging.getLogger(__name__)

Record = tuple[bytes, bytes, list[tuple[str, str | bytes | None]]]  # key, value, headers


class PublishFailed(RuntimeError):
    """Kafka did not acknowledge every record of the batch."""


def encode(rec: dict[str, Any], fmt: str) -> Record:
    """Canonical record -> (key = learner_id, Avro wire-format value, headers)."""
    return (
        rec["learner_id"].encode(),
        schemas.encode(schemas.ACTIVITY, rec),
        [("source", rec["source"].encode()), ("format", fmt.encode())],
    )


class _Batch:
    """Delivery bookkeeping of one request; reports arrive on the poll thread."""

    __slots__ = ("error", "fut", "loop", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.fut: asyncio.Future[None] = loop.create_future()
        self.remaining = n
        self.error: KafkaError | None = None

    def report(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = err
        self.remaining -= 1
        if self.remaining == 0:
            # RuntimeError: the loop is gone (shutdown flush), nobody is waiting.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        if self.fut.done():
            return
        if self.error is None:
            self.fut.set_result(None)
        else:
            self.fut.set_exception(
                PublishFailed(f"Kafka did not accept the events: {self.error.str()}")
            )


class Publisher:
    def __init__(
        self,
        bootstrap: str,
        *,
        timeout_s: float = 10.0,
        linger_ms: int = 5,
        compression: str = "lz4",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,  # broker-side dedupe of retries, order kept
            "acks": "all",
            "linger.ms": linger_ms,
            "compression.type": compression,
            # librdkafka reports a record as failed after this, so no request waits forever.
            "message.timeout.ms": int(timeout_s * 1000),
            "client.id": "learnpulse-ingest",
            "log.connection.close": False,  # idle disconnects are normal, not news
            "error_cb": self._on_error,
        }
        self.conf.update(extra or {})
        self.producer: Producer | None = Producer(self.conf)
        self._fatal = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="ingest-producer", daemon=True)
        self._thread.start()

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            # An idempotent producer that hit a fatal error refuses everything after it.
            log.error("ingest producer fatal error %s: a new producer will be made", err)
            self._fatal = True
        else:
            log.warning("ingest producer: %s", err)

    def _poll(self) -> None:
        while not self._stop.is_set():
            producer = self.producer
            if producer is not None:
                producer.poll(0.05)

    async def publish(self, topic: str, records: list[Record]) -> None:
        """Produce ``records``; return once Kafka acknowledged all, else raise PublishFailed."""
        if not records:
            return
        if self.producer is None:
            raise PublishFailed("the publisher is closed")
        if self._fatal:
            self._fatal = False
            self.producer = Producer(self.conf)
        batch = _Batch(asyncio.get_running_loop(), len(records))
        producer = self.producer
        for i, (key, value, headers) in enumerate(records):
            try:
                producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=batch.report
                )
            except BufferError as exc:
                # Earlier records of the batch may still be delivered: at-least-once, and
                # the event_id lets consumers drop the copy a retry will bring.
                raise PublishFailed(
                    f"producer queue full after {i} of {len(records)} records"
                ) from exc
        try:
            await asyncio.wait_for(asyncio.shield(batch.fut), self.timeout_s + 5)
        except TimeoutError as exc:
            raise PublishFailed(
                f"no acknowledgement from Kafka within {self.timeout_s + 5:.0f}s"
            ) from exc

    def close(self, timeout_s: float = 10.0) -> int:
        """Stop polling and flush; returns the number of records still undelivered."""
        self._stop.set()
        self._thread.join(timeout=2)
        producer, self.producer = self.producer, None
        if producer is None:
            return 0
        # The handle is dropped here: a live librdkafka client keeps reconnecting forever.
        return int(producer.flush(timeout_s))
