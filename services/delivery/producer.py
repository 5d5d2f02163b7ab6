"""Feedback to Kafka: idempotent, acks=all, and the caller learns the outcome.

``send`` returns only once the broker acknowledged every record (or raises
:class:`ProduceFailed`), so the API can answer 202 knowing the feedback is
durable, and 503 when it is not. A background thread serves librdkafka's
delivery callbacks and hands each result to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

log = logging.getLogger(__name__)


class ProduceFailed(RuntimeError):
    """Kafka did not acknowledge the records in time, or refused them."""


class FeedbackProducer:
    def __init__(
        self, bootstrap: str, timeout_s: float = 5.0, extra: dict[str, Any] | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self.conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,  # retries never duplicate or reorder
            "acks": "all",
            "linger.ms": 2,
            "compression.type": "lz4",
            # librdkafka gives up on a record after this, so no request waits forever.
            "message.timeout.ms": int(timeout_s * 1000),
            "client.id": "learnpulse-delivery",
        }
        self.conf.update(extra or {})
        self.producer = Producer(self.conf)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="feedback-producer", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def _renew_if_fatal(self, err: KafkaError) -> None:
        # An idempotent producer that hit a fatal error refuses everything after it.
        if err.fatal():
            log.error("feedback producer fatal error %s: starting a new producer", err)
            self.producer = Producer(self.conf)

    async def send(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        """Produce ``(key, value)`` records; return when all are acknowledged."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []

        def callback(fut: asyncio.Future[None]) -> Any:
            def done(err: KafkaError | None, _msg: Message) -> None:
                def settle() -> None:
                    if fut.done():
                        return
                    if err is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(ProduceFailed(f"Kafka refused feedback: {err}"))
                        self._renew_if_fatal(err)

                loop.call_soon_threadsafe(settle)

            return done

        for key, value in records:
            fut = loop.create_future()
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=callback(fut))
            except BufferError as exc:
                raise ProduceFailed("feedback queue full") from exc
            except KafkaException as exc:
                self._renew_if_fatal(exc.args[0])
                raise ProduceFailed(f"cannot produce feedback: {exc}") from exc
            futures.append(fut)
        try:
            # librdkafka's message.timeout.ms fires first; this is the backstop.
            results = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), self.timeout_s + 2.0
            )
        except TimeoutError as exc:
            raise ProduceFailed("Kafka did not acknowledge feedback in time") from exc
        for r in results:
            if isinstance(r, BaseException):
                raise r

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.producer.flush(5)
