"""Reference data every worker holds whole: catalog, learning paths, role skills.

These are compacted topics keyed by their own ids, not by learner, so a
partitioned faust table would put a learner's catalog on another worker. Each
worker instead reads them from the beginning with its own group-less consumer
in a background thread (docs/decisions/0005-reference-data.md).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

import schemas
from learnpulse.topics import Topics
from streams.metrics import REFERENCE_RECORDS

log = logging.getLogger(__name__)


class ReferenceData:
    """Latest catalog items, paths and role skills, updated live from Kafka."""

    def __init__(self) -> None:
        self.catalog: dict[str, dict[str, Any]] = {}
        self.paths: dict[str, dict[str, Any]] = {}
        self.role_skills: dict[str, dict[str, float]] = {}
        self.version = 0  # bumped on every change; derived indexes rebuild on change
        self._lock = threading.Lock()
        self._paths_idx: (
            tuple[int, list[dict[str, Any]], dict[str, list[int]], dict[str, list[int]]] | None
        ) = None

    def apply(self, kind: str, key: str, record: dict[str, Any] | None) -> None:
        """Apply one record (None = tombstone) of kind catalog, paths or role_skills."""
        with self._lock:
            if kind == "catalog":
                _put(self.catalog, key, record)
            elif kind == "paths":
                _put(self.paths, key, record)
            elif kind == "role_skills":
                if record is None:
                    self.role_skills.pop(key, None)
                else:
                    self.role_skills[key] = dict(record["required_skills"])
            self.version += 1
        REFERENCE_RECORDS.labels(kind).set(len(getattr(self, kind)))

    def paths_for(self, learner_id: str, team_id: str) -> list[dict[str, Any]]:
        """Active paths assigned to this learner or their team (in catalog order).

        Looked up in learner/team indexes rebuilt when the data changes: scanning
        every path per learner made the cost grow with company size
        (loadtests/RESULTS.md: -21% CPU at 4k learners, -58% at 20k).
        """
        idx = self._paths_idx
        if idx is None or idx[0] != self.version:
            with self._lock:
                by_learner: dict[str, list[int]] = {}
                by_team: dict[str, list[int]] = {}
                active = [p for p in self.paths.values() if p.get("active", True)]
                for i, p in enumerate(active):
                    for lid in p["learner_ids"]:
                        by_learner.setdefault(lid, []).append(i)
                    for tid in p["team_ids"]:
                        by_team.setdefault(tid, []).append(i)
                idx = self._paths_idx = (self.version, active, by_learner, by_team)
        _v, active, by_learner, by_team = idx
        hits = by_learner.get(learner_id, [])
        if team_id and team_id in by_team:
            hits = sorted(set(hits) | set(by_team[team_id]))
        return [active[i] for i in hits]


def _put(store: dict[str, dict[str, Any]], key: str, record: dict[str, Any] | None) -> None:
    if record is None:
        store.pop(key, None)
    else:
        store[key] = record


class ReferenceReader(threading.Thread):
    """Background consumer keeping a ReferenceData current."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        data: ReferenceData,
        extra_config: dict[str, Any] | None = None,
        centroids: Any = None,
    ) -> None:
        super().__init__(name="reference-reader", daemon=True)
        self.data = data
        self._kinds = {
            topics.catalog: ("catalog", schemas.CONTENT),
            topics.paths: ("paths", schemas.PATH),
            topics.role_skills: ("role_skills", schemas.ROLE_SKILLS),
        }
        # Published interest centroids (JSON, not Avro) go to a CentroidCache.
        self.centroids = centroids
        self._clusters_topic = topics.interest_clusters if centroids is not None else None
        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": "learnpulse-reference-unused",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
        }
        conf.update(extra_config or {})
        self._consumer = Consumer(conf)
        self._stop = threading.Event()
        self.idle = threading.Event()  # set whenever a poll found nothing new
        self.errors = 0

    def run(self) -> None:
        parts = []
        wanted = list(self._kinds) + ([self._clusters_topic] if self._clusters_topic else [])
        for topic in wanted:
            md = self._consumer.list_topics(topic, timeout=10).topics.get(topic)
            n = len(md.partitions) if md and md.partitions else 1
            parts += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(n)]
        self._consumer.assign(parts)
        while not self._stop.is_set():
            msgs = self._consumer.consume(500, 0.2)
            if not msgs:
                self.idle.set()
                continue
            for m in msgs:
                if m.error():
                    continue
                if m.topic() == self._clusters_topic:
                    self._apply_centroids(m)
                    continue
                kind, schema = self._kinds[m.topic() or ""]
                key = (m.key() or b"").decode()
                value = m.value()
                try:
                    record = None if value is None else schemas.decode(schema, value)
                except schemas.DecodeError as exc:
                    # Reference topics are written by our own tools; skip and say so.
                    self.errors += 1
                    log.warning(
                        "undecodable %s record at %s/%s: %s", kind, m.partition(), m.offset(), exc
                    )
                    continue
                self.data.apply(kind, key, record)
        self._consumer.close()

    def _apply_centroids(self, m: Any) -> None:
        try:
            self.centroids.apply((m.key() or b"").decode(), m.value())
        except ValueError as exc:
            self.errors += 1
            log.warning("unreadable cluster record at %s/%s: %s", m.partition(), m.offset(), exc)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the reader has caught up once (found nothing more to read)."""
        deadline = time.monotonic() + timeout
        self.idle.clear()
        while time.monotonic() < deadline:
            if self.idle.wait(0.1):
                return True
        return False

    def stop(self) -> None:
        self._stop.set()
