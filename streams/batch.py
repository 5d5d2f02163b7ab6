"""The per-batch work of the ``learn`` agent, independent of faust.

``LearnBatch.handle`` turns a batch of Kafka messages into state changes and a
list of effects (Redis values, audit records, dead letters); the agent then
writes the effects and only after that lets faust commit the offsets. The same
code runs under faust and in the plain confluent-kafka benchmark loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

import schemas
from learnpulse import keys
from learnpulse.topics import Topics
from streams import avro_read, avro_write, clustering, engagement, listcache
from streams.metrics import (
    DEADLETTERED,
    EVENTS_PROCESSED,
    LISTS_PATCHED,
    LISTS_RANKED,
    STATE_BYTES,
    STATES_DECODED,
    STATES_KEPT,
    STATES_NEW,
    observe_many,
)
from streams.models import learner, recommend
from streams.models.rounding import fast_round
from streams.models.state import LearnerState, new_state, pack, unpack
from streams.reference import ReferenceData
from streams.skills import SkillTracker

log = logging.getLogger(__name__)


class StateStore(Protocol):
    """Where learner states live: a faust table (changelogged) or a dict in benchmarks."""

    def get(self, learner_id: str) -> bytes | None: ...

    def put(self, learner_id: str, value: bytes, partition: int) -> None: ...


class DictStore:
    """In-memory store for tests and the plain-consumer benchmark."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, learner_id: str) -> bytes | None:
        return self.data.get(learner_id)

    def put(self, learner_id: str, value: bytes, partition: int) -> None:
        self.data[learner_id] = value


@dataclass(slots=True)
class Msg:
    """The parts of a Kafka message the processing needs.

    Not frozen: a frozen dataclass sets each field through ``object.__setattr__``
    (5x the cost of building this one, and one is built per record).
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class DeadLetter:
    msg: Msg
    reason: str
    error_class: str
    message: str

    def headers(self) -> list[tuple[str, str | bytes | None]]:
        return [
            ("error.reason", self.reason.encode()),
            ("error.class", self.error_class.encode()),
            ("error.message", self.message[:2000].encode()),
            ("origin.topic", self.msg.topic.encode()),
            ("origin.partition", str(self.msg.partition).encode()),
            ("origin.offset", str(self.msg.offset).encode()),
        ]


@dataclass
class Effects:
    """Everything one batch must write before its offsets may be committed."""

    redis_values: dict[str, bytes] = field(default_factory=dict)  # key -> value (SET, last wins)
    publish: list[tuple[str, bytes]] = field(default_factory=list)  # channel, message
    nudges: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # learner, nudge
    due: list[tuple[int, str, int]] = field(default_factory=list)  # partition, learner, due_ms
    records: list[tuple[str, str, bytes]] = field(default_factory=list)  # topic, key, value
    dead: list[DeadLetter] = field(default_factory=list)
    states: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # learner -> raw, partition
    appended_ms: list[int] = field(default_factory=list)  # Kafka append times of applied events
    occurred_ms: list[int] = field(default_factory=list)
    changed: int = 0


class LearnBatch:
    """Per-learner processing of activity and profile events."""

    def __init__(
        self,
        topics: Topics,
        store: StateStore,
        reference: ReferenceData,
        k: int = 10,
        clock: Callable[[], float] = time.time,
        models: engagement.EngagementModels | None = None,
        centroids: clustering.CentroidCache | None = None,
        k_min: int = 5,
        lists: listcache.ListCache | None = None,
        decoded_states: int = 2048,
    ) -> None:
        self.topics = topics
        # Topics' names are properties that format a string: read once, not per record.
        self.profiles_topic = topics.profiles
        self.audit_topic = topics.recommendations
        self.store = store
        self.ref = reference
        self.k = k
        self.clock = clock
        self.agent = "learn"
        self.engagement = models or engagement.EngagementModels()
        self.skills = SkillTracker()
        self.recommender = recommend.Recommender(reference, skill_model=self.skills.model, k=k)
        self.centroids = centroids or clustering.CentroidCache()
        self.k_min = k_min
        self.interest = clustering.InterestTracker(self.centroids, k_min=k_min)
        self.lists = lists if lists is not None else listcache.ListCache()
        # learner -> (the bytes last stored, the dict they were packed from), for the
        # learners of the last few batches: their next batch skips the decode when
        # their events come close together (bursts, backlogs, quiet workers; how
        # often is traffic's business: decision 0024). Oldest first; load() takes
        # an entry out.
        self.decoded: dict[str, tuple[bytes, LearnerState]] = {}
        self.decoded_max = decoded_states
        self.loads = [0, 0, 0]  # kept, decoded, new: counted per batch, not per load
        # Activity written with the current schema is read by streams/avro_read.py
        # (~5x faster than fastavro); anything else, or if that reader does not
        # know the current schema, by fastavro.
        self.fast_header = schemas.current_header(schemas.ACTIVITY)
        if not avro_read.matches(schemas.load_schema(schemas.ACTIVITY)):
            log.warning("activity schema changed: streams/avro_read.py is off (slower decoding)")
            self.fast_header = None
        # The same for the audit records of rankings (streams/avro_write.py).
        self.audit_header = schemas.current_header(schemas.RECOMMENDATION)
        if not avro_write.matches(schemas.load_schema(schemas.RECOMMENDATION)):
            log.warning("recommendation schema changed: streams/avro_write.py is off")
            self.audit_header = None

    # -- state ---------------------------------------------------------------
    def load(self, learner_id: str) -> LearnerState:
        """The learner's state, as a dict the caller owns."""
        raw = self.store.get(learner_id)
        if raw is None:
            self.loads[2] += 1
            return new_state()
        hit = self.decoded.pop(learner_id, None)
        # The very bytes packed from that dict: nothing stored since (a recovery,
        # a rebalance, another writer) and no failed batch in between, which
        # would have kept the older bytes.
        if hit is not None and hit[0] is raw:
            self.loads[0] += 1
            return hit[1]
        self.loads[1] += 1
        return unpack(raw)

    # -- one batch -----------------------------------------------------------
    def handle(self, msgs: list[Msg]) -> Effects:
        fx = Effects()
        states: dict[str, LearnerState] = {}
        partitions: dict[str, int] = {}
        changed: dict[str, str | None] = {}  # learner -> trigger event id
        rerank: set[str] = set()  # learners with an event that changes what a ranking reads
        touched: dict[str, set[str]] = {}  # learner -> open items whose progress moved
        counts: dict[str, int] = {"applied": 0, "replay": 0, "duplicate": 0}
        profiles_topic = self.profiles_topic
        # A learner's assigned paths, looked up once per batch (not per event):
        # the reference data is read as of the batch.
        paths_memo: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for m in msgs:
            try:
                learner_id, rec = self._decode(m)
            except schemas.DecodeError as exc:
                fx.dead.append(DeadLetter(m, "undecodable", type(exc).__name__, str(exc)))
                continue
            except ValueError as exc:
                fx.dead.append(DeadLetter(m, "invalid", type(exc).__name__, str(exc)))
                continue
            state = states.get(learner_id)
            if state is None:
                state = states[learner_id] = self.load(learner_id)
                partitions[learner_id] = m.partition
            if m.topic == profiles_topic:
                before = dict(state.get("profile") or {})
                if learner.apply_profile(state, rec):
                    self.interest.profile_changed(learner_id, state, before)
                    changed.setdefault(learner_id, None)
                    rerank.add(learner_id)
                continue
            outcome = learner.guard(state, rec["event_id"], m.partition, m.offset)
            counts[outcome] += 1
            if outcome != "applied":
                continue
            state["n"] = state.get("n", 0) + 1
            # Mastery first (the ranker reads it), then the ranker and interests
            # learn from what the learner saw before acting on it.
            self.skills.observe(state, rec, self.ref.catalog)
            profile: dict[str, Any] = state.get("profile") or {}
            paths = self._paths(paths_memo, learner_id, profile.get("team_id", ""))
            self.interest.observe(learner_id, state, rec, self.ref.catalog, paths)
            cid = rec.get("object_id") or ""
            was_open = cid in state["prog"]
            if self.recommender.observe(state, rec, cluster=clustering.membership(state)):
                rerank.add(learner_id)
            learner.apply_activity(state, rec)
            if cid in state["prog"]:
                if was_open:
                    touched.setdefault(learner_id, set()).add(cid)
                else:
                    rerank.add(learner_id)  # newly open: a new "continue" candidate
            elif was_open:
                rerank.add(learner_id)  # finished (or no longer open)
            engagement.observe(self.engagement, state, rec)
            changed[learner_id] = rec["event_id"]
            fx.appended_ms.append(m.timestamp_ms)
            fx.occurred_ms.append(rec["occurred_at_ms"])
        for name, n in counts.items():
            if n:
                EVENTS_PROCESSED.labels(self.agent, name).inc(n)
        for dl in fx.dead:
            DEADLETTERED.labels(self.agent, dl.reason).inc()
        loads = self.loads
        if loads[0]:
            STATES_KEPT.inc(loads[0])
        if loads[1]:
            STATES_DECODED.inc(loads[1])
        if loads[2]:
            STATES_NEW.inc(loads[2])
        loads[0] = loads[1] = loads[2] = 0
        now_ms = int(self.clock() * 1000)
        for learner_id, trigger in changed.items():
            state = states[learner_id]
            risk, _ = engagement.risk_and_due(self.engagement, state, state["last_ms"])
            state["risk"] = fast_round(risk, 4)
            profile = state.get("profile") or {}
            paths = self._paths(paths_memo, learner_id, profile.get("team_id", ""))
            due = engagement.next_check_ms(self.engagement, state, paths, learner_id)
            if due:
                fx.due.append((partitions[learner_id], learner_id, due))
            rank = learner_id in rerank
            self._project(
                learner_id, state, trigger, now_ms, fx, paths, rank, touched.get(learner_id)
            )
        sizes: list[float] = []
        decoded, keep = self.decoded, self.decoded_max > 0
        for learner_id, state in states.items():
            raw = pack(state)
            sizes.append(len(raw))
            fx.states[learner_id] = (raw, partitions[learner_id])
            if keep:
                decoded[learner_id] = (raw, state)
        while len(decoded) > self.decoded_max:
            del decoded[next(iter(decoded))]
        observe_many(STATE_BYTES, sizes)
        update = self.interest.drain()
        if update is not None:
            fx.records.append((self.topics.interest_updates, "interest", update))
        fx.changed = len(changed)
        return fx

    def save_states(self, fx: Effects) -> None:
        """Persist the batch's learner states; call only after its effects are written.

        Saving first would record the new offsets, and a crash before Redis was
        written would then skip the batch on replay and lose its effects.
        """
        for learner_id, (raw, partition) in fx.states.items():
            self.store.put(learner_id, raw, partition)

    def _paths(
        self, memo: dict[tuple[str, str], list[dict[str, Any]]], learner_id: str, team: str
    ) -> list[dict[str, Any]]:
        key = (learner_id, team)
        paths = memo.get(key)
        if paths is None:
            paths = memo[key] = self.ref.paths_for(learner_id, team)
        return paths

    def _decode(self, m: Msg) -> tuple[str, dict[str, Any]]:
        if m.value is None:
            raise schemas.DecodeError("empty value (tombstone) on an event topic")
        value = m.value
        rec: dict[str, Any] | None = None
        if m.topic == self.profiles_topic:
            rec = schemas.decode(schemas.PROFILE, value)
        else:
            header = self.fast_header
            if header is not None and value.startswith(header):
                try:
                    rec = avro_read.activity(value, 5)
                except (avro_read.MalformedRecord, UnicodeDecodeError):
                    rec = None  # fastavro below gives the dead letter its reason
            if rec is None:
                rec = schemas.decode(schemas.ACTIVITY, value)
        learner_id = rec["learner_id"]
        if not learner_id:
            raise ValueError("learner_id is empty")
        if m.key is not None and m.key.decode(errors="replace") != learner_id:
            # A wrong key puts the learner's events on the wrong partition: their
            # state would split across workers. Refuse rather than corrupt.
            raise ValueError("message key is not the record's learner_id")
        return learner_id, rec

    def _project(
        self,
        learner_id: str,
        state: LearnerState,
        trigger: str | None,
        now_ms: int,
        fx: Effects,
        paths: list[dict[str, Any]],
        rank: bool = True,
        touched: set[str] | None = None,
    ) -> None:
        """Render the learner's Redis values, and rank again (with an audit record)
        unless only the progress of items on their cached list moved."""
        profile: dict[str, Any] = state.get("profile") or {}
        team = profile.get("team_id", "")
        social = self.interest.finish(learner_id, state, self.ref.catalog, paths)
        cluster, peer_counts = clustering.recommender_inputs(
            state["interest"], self.centroids, self.k_min, state["done"]
        )
        tz = profile.get("time_zone") or "UTC"
        inputs = (
            self.ref.version,
            self.centroids.version,
            self.recommender.popularity.team_version(team),
            tz,
            cluster,
        )
        cached = (
            None
            if rank
            else self.lists.usable(learner_id, state.get("rk"), inputs, touched or set(), now_ms)
        )
        # The list's JSON is encoded once: kept in the list cache, and put into the
        # Redis value as it is (orjson.Fragment) rather than encoded again.
        if cached is not None:
            items_json = listcache.patch(cached, state["prog"], touched or set(), now_ms, tz)
            LISTS_PATCHED.inc()
        else:
            items = self.recommender.recommend(
                state,
                profile,
                None,
                None,
                now_ms,
                learner_id=learner_id,
                cluster=cluster,
                peers=peer_counts,
            )
            state["top"] = items[0]["content_id"] if items else None
            state["rk"] = state.get("n", 0)
            items_json = orjson.dumps(items)
            self.lists.put(
                learner_id,
                listcache.cached_list(
                    items, items_json, state["prog"], state["rk"], inputs, now_ms
                ),
            )
            LISTS_RANKED.inc()
        reco = {
            "v": keys.VALUE_VERSION,
            "learner_id": learner_id,
            "generated_at_ms": now_ms,
            "model_version": recommend.MODEL_VERSION,
            "trigger_event_id": trigger,
            "items": orjson.Fragment(items_json),
        }
        reco_json = orjson.dumps(reco)
        fx.redis_values[keys.reco(learner_id)] = reco_json
        public = public_state(learner_id, state, now_ms)
        public["skills"] = self.skills.top_skills(state)
        public["cluster"] = social["cluster"]
        public["peers"] = social["peers"]
        fx.redis_values[keys.state(learner_id)] = orjson.dumps(public)
        fx.publish.append(
            (keys.live_channel(learner_id), b'{"type":"reco","value":' + reco_json + b"}")
        )
        if cached is not None:
            return  # the audit log records rankings; this one is already in it
        audit = {
            k: reco[k]
            for k in ("learner_id", "generated_at_ms", "model_version", "trigger_event_id")
        }
        # The ranked items as they are: both encoders read the schema's fields
        # (content_id, title, score, source, reasons), which is all they hold.
        audit["items"] = items
        fx.records.append((self.audit_topic, learner_id, self._encode_audit(audit)))

    def _encode_audit(self, audit: dict[str, Any]) -> bytes:
        header = self.audit_header
        if header is not None:
            try:
                return header + avro_write.recommendation(audit)
            except (avro_write.Unsupported, KeyError):
                pass  # fastavro converts it as it always did, or says what is wrong
        return schemas.encode(schemas.RECOMMENDATION, audit)


def public_state(learner_id: str, state: LearnerState, now_ms: int) -> dict[str, Any]:
    """What front-ends may show the learner about themselves (lp:{id}:state)."""
    return {
        "v": keys.VALUE_VERSION,
        "learner_id": learner_id,
        "updated_at_ms": now_ms,
        "last_active_ms": state["last_ms"],
        "streak_days": state["streak"][0],
        "in_progress": {cid: p for cid, (p, _t) in state["prog"].items()},
        "completed": len(state["done"]),
        "events_applied": state.get("n", 0),
        "risk": state.get("risk", 0.0),
    }
