"""Produce LearnPulse records to Kafka in the wire format, keyed the way the streams expect."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import Producer

import schemas
from learnpulse.topics import Topics

# (topic attribute, schema, key field) for each kind of reference record.
REFERENCE_KINDS = {
    "catalog": ("catalog", schemas.CONTENT, "content_id"),
    "paths": ("paths", schemas.PATH, "path_id"),
    "role_skills": ("role_skills", schemas.ROLE_SKILLS, "role"),
    "profiles": ("profiles", schemas.PROFILE, "learner_id"),
}


def producer(bootstrap: str, **extra: Any) -> Producer:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    }
    conf.update(extra)
    return Producer(conf)


def produce(p: Producer, topic: str, key: str, value: bytes) -> None:
    while True:
        try:
            p.produce(topic, key=key.encode(), value=value)
            return
        except BufferError:
            p.poll(0.05)


def publish_reference(p: Producer, topics: Topics, records: dict[str, list[dict[str, Any]]]) -> int:
    """Publish catalog, paths, role skills and profiles; returns how many."""
    n = 0
    for kind, items in records.items():
        if kind not in REFERENCE_KINDS:
            continue
        attr, schema, key_field = REFERENCE_KINDS[kind]
        topic = getattr(topics, attr)
        for rec in items:
            produce(p, topic, str(rec[key_field]), schemas.encode(schema, rec))
            n += 1
    return n


def publish_activity(p: Producer, topics: Topics, events: Iterable[dict[str, Any]]) -> int:
    n = 0
    for ev in events:
        produce(p, topics.activity, ev["learner_id"], schemas.encode(schemas.ACTIVITY, ev))
        n += 1
        if n % 1000 == 0:
            p.poll(0)
    return n
