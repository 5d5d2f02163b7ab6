"""Send learning events to LearnPulse from a Python tool, straight to Kafka.

Builds canonical ``learning.activity.recorded.v1`` events (validated with the
same rules as the gateway's native endpoint), encodes them in the Confluent
wire format, and produces them keyed by ``learner_id`` with an idempotent,
``acks=all`` producer, so retries never duplicate or reorder a learner's events.

Example
-------
>>> from learnpulse.producer import ActivityProducer, activity, encode
>>> ev = activity("u-42", "answered", "q-7", source="quiz", object_type="question",
...               occurred_at=1714557600000, result={"success": True},
...               skill_ids=["fractions"], event_id="quiz-attempt-991")
>>> ev["verb"], ev["result"]["success"], ev["context"]["skill_ids"]
('answered', True, ['fractions'])
>>> encode(ev)[:5]  # magic byte 0 + schema id 1
b'\\x00\\x00\\x00\\x00\\x01'
>>> with ActivityProducer("127.0.0.1:9092", source="quiz") as p:  # doctest: +SKIP
...     p.send(ev)
...     p.flush()  # raises DeliveryFailed if Kafka did not take every event
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

import schemas
from learnpulse.topics import Topics
from services.ingest import native
from services.ingest.errors import InvalidEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

__all__ = ["ActivityProducer", "DeliveryFailed", "InvalidEvent", "activity", "encode"]


class DeliveryFailed(RuntimeError):
    """Some events were not acknowledged by Kafka; ``errors`` has one line per event."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} event(s) not delivered: {errors[:3]}")
        self.errors = errors


def activity(
    learner_id: str,
    verb: str,
    object_id: str = "",
    *,
    source: str,
    object_type: str = "",
    occurred_at: datetime | int | None = None,
    event_id: str | None = None,
    result: Mapping[str, Any] | None = None,
    course_id: str | None = None,
    session_id: str | None = None,
    platform: str | None = None,
    skill_ids: Iterable[str] = (),
    extensions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A validated canonical event (raises :class:`InvalidEvent` with field paths).

    ``occurred_at`` is a timezone-aware datetime or epoch ms (default: now).
    ``event_id`` should be stable across retries of the same event (e.g. your own
    attempt id); when omitted a UUID is made, and a retry is a new event.
    ``result`` may hold score_scaled, success, completion, progress, duration_s, rating.
    """
    if occurred_at is None:
        occurred_at = datetime.now(tz=UTC)
    if isinstance(occurred_at, datetime):
        if occurred_at.tzinfo is None:
            raise InvalidEvent.one("/occurred_at", "must be timezone-aware")
        occurred_ms = (occurred_at - _EPOCH) // timedelta(milliseconds=1)
    else:
        occurred_ms = occurred_at
    doc: dict[str, Any] = {
        "learner_id": learner_id,
        "verb": verb,
        "object_id": object_id,
        "object_type": object_type,
        "occurred_at_ms": occurred_ms,
    }
    if event_id is not None:
        doc["event_id"] = event_id
    if result:
        doc["result"] = dict(result)
    ctx = {
        k: v
        for k, v in (("course_id", course_id), ("session_id", session_id), ("platform", platform))
        if v is not None
    }
    skills = list(skill_ids)
    if ctx or skills:
        doc["context"] = {**ctx, "skill_ids": skills}
    if extensions:
        doc["extensions"] = dict(extensions)
    now = int(datetime.now(tz=UTC).timestamp() * 1000)
    return native.normalize_one(doc, source=source, received_at_ms=now)


def encode(event: dict[str, Any]) -> bytes:
    """Confluent wire format (magic 0, schema id, Avro body) of a canonical event."""
    return schemas.encode(schemas.ACTIVITY, event)


class ActivityProducer:
    """Idempotent, ``acks=all`` producer of canonical events to the activity topic.

    Events are keyed by ``learner_id`` (so each learner's events stay in order on
    one partition) and carry ``source`` and ``format`` headers. Call :meth:`flush`
    (or leave the ``with`` block) to wait for Kafka's acknowledgements.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        source: str,
        topic: str | None = None,
        topic_prefix: str = "lp.",
        timeout_s: float = 30.0,
        **config: Any,
    ) -> None:
        self.source = source
        self.topic = topic or Topics(prefix=topic_prefix).activity
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.timeout.ms": int(timeout_s * 1000),
            "client.id": f"learnpulse-producer-{source}",
        }
        conf.update(config)
        self._producer = Producer(conf)
        self._errors: list[str] = []
        self.delivered = 0

    def _report(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
        else:
            key = msg.key() or b""
            self._errors.append(f"learner {key.decode(errors='replace')}: {err.str()}")

    def send(self, event: dict[str, Any]) -> None:
        """Queue one canonical event (from :func:`activity`); waits if the queue is full."""
        value = encode(event)
        headers = [("source", event["source"].encode()), ("format", b"native")]
        while True:
            try:
                self._producer.produce(
                    self.topic,
                    key=event["learner_id"].encode(),
                    value=value,
                    headers=headers,
                    on_delivery=self._report,
                )
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until Kafka acknowledged everything sent; raise :class:`DeliveryFailed`."""
        left = self._producer.flush(timeout_s)
        errors, self._errors = self._errors, []
        if left:
            errors.append(f"{left} event(s) still queued after {timeout_s}s")
        if errors:
            raise DeliveryFailed(errors)

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> ActivityProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # do not mask the caller's error with a delivery error
            self._producer.flush(5)
