"""Shared interest clusters across workers: update stream, one clustering agent, centroid cache.

The design is in docs/decisions/0008-shared-interest-clusters.md. In short:

* Every worker runs an :class:`InterestTracker` inside its ``learn`` batch. It
  keeps each learner's interest vector, assigns the learner to the nearest
  *published* centroid with hysteresis, and collects, per batch, ONE update
  record for the topic ``<prefix>interest.updated.v1`` (one partition): vectors
  that drifted, first starts/finishes for peer counts, opted-in learners working
  on a path, withdrawals of learners who opted out.
* The owner of that single partition runs a :class:`Clusterer`: :func:`step`
  folds a batch of update records into the one River model and the peer
  counts, and returns the records to publish on ``<prefix>interest.clusters.v1``
  (compacted, one partition: key ``clusters`` = versioned centroids + cluster
  summaries + the model checkpoint; key ``team:<id>`` = a team's trending) and
  the dashboard values for Redis (``keys.CLUSTERS``, ``keys.cluster(id)``).
* Every worker reads ``interest.clusters.v1`` whole into a :class:`CentroidCache`
  (like the reference data), so all workers assign with the same centroids.

Nothing here imports faust, Kafka or Redis: plain functions and classes the
agents call. Records are JSON (orjson): internal topics, read only by us.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from learnpulse import keys
from learnpulse.topics import Topics
from streams.models import clusters, interest, peers
from streams.models.clusters import InterestClusters, Snapshot
from streams.models.peers import K_MIN, PeerAggregator, PeerView

DAY_MS: Final = 86_400_000
# a learner counts in their cluster's size this long after their last update
ACTIVE_DAYS: Final = 30
SNAPSHOT_KEY: Final = "clusters"
# Learners whose stated interests are kept (twice the batch's decoded states).
SAID_MAX: Final = 4096


def updates_topic(topics: Topics) -> str:
    """Interest updates from all workers to the clustering agent (ONE partition)."""
    return f"{topics.prefix}interest.updated.v1"


def clusters_topic(topics: Topics) -> str:
    """Published centroids and summaries (compacted, ONE partition, read whole by every worker)."""
    return f"{topics.prefix}interest.clusters.v1"


def learner_fp(learner_id: str) -> str:
    """64-bit pseudonym of a learner for counting (ids are never needed to count).

    >>> learner_fp("lrn-000001") == learner_fp("lrn-000001") != learner_fp("lrn-000002")
    True
    """
    return hashlib.blake2b(learner_id.encode(), digest_size=8).hexdigest()


class ClusteringDecodeError(ValueError):
    """An interest-update or cluster record is not what this module writes."""


def _loads(value: bytes, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ClusteringDecodeError(f"{what}: not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("v") != 1:
        raise ClusteringDecodeError(f"{what}: expected a JSON object with v=1")
    return data


# -- worker side: one update record per batch ----------------------------------------------
@dataclass
class UpdateBatch:
    """What one worker batch sends to the clustering agent."""

    interest: list[dict[str, Any]] = field(default_factory=list)  # f, t, x, c
    peer: list[dict[str, Any]] = field(default_factory=list)  # k, i, t, s, n
    buddy: list[dict[str, Any]] = field(default_factory=list)  # l, c, p, t
    forget: list[dict[str, Any]] = field(default_factory=list)  # f, l

    def __bool__(self) -> bool:
        return bool(self.interest or self.peer or self.buddy or self.forget)


def encode_updates(batch: UpdateBatch) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "interest": batch.interest,
            "peer": batch.peer,
            "buddy": batch.buddy,
            "forget": batch.forget,
        }
    )


def decode_updates(value: bytes) -> UpdateBatch:
    data = _loads(value, "interest update")
    try:
        batch = UpdateBatch(
            list(data["interest"]), list(data["peer"]), list(data["buddy"]), list(data["forget"])
        )
        # Check every entry before any is applied: a bad record changes nothing.
        _check(batch.interest, {"t": int, "f": str, "x": dict})
        _check(batch.peer, {"t": int, "n": int, "k": str, "i": str, "s": str})
        _check(batch.buddy, {"t": int, "l": str, "c": str, "p": str})
        _check(batch.forget, {"l": str})
        for p in batch.peer:
            if p["s"] not in ("done", "start"):
                raise ValueError(f"peer kind {p['s']!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise ClusteringDecodeError(f"interest update: missing or bad field: {exc!r}") from exc
    return batch


def _check(entries: list[Any], fields: Mapping[str, type]) -> None:
    for e in entries:
        if not isinstance(e, dict):
            raise TypeError(f"entry is not an object: {e!r}")
        for name, typ in fields.items():
            if not isinstance(e[name], typ) or isinstance(e[name], bool):
                raise TypeError(f"{name} is not {typ.__name__}: {e[name]!r}")


class CentroidCache:
    """The latest published centroids and peer summaries, held by every worker.

    Feed it every record of ``interest.clusters.v1`` with :meth:`apply` (from
    the reference reader thread or an agent); readers see whole objects swapped
    in, never half an update.
    """

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None
        self.summaries: dict[str, dict[str, Any]] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.raw: bytes | None = None  # the last ``clusters`` record, to restore the agent
        self._lock = threading.Lock()

    @property
    def version(self) -> int:
        return self.snapshot.version if self.snapshot else 0

    def apply(self, key: str, value: bytes | None) -> None:
        """Apply one record of the clusters topic (``None`` = tombstone)."""
        if key == SNAPSHOT_KEY:
            if value is None:
                return
            data = _loads(value, "cluster snapshot")
            snap = Snapshot.from_dict(data["snapshot"])
            with self._lock:
                if self.snapshot is not None and snap.version <= self.snapshot.version:
                    return  # an older record (re-read from the start): keep the newer
                self.summaries = dict(data.get("summaries") or {})
                self.snapshot = snap
                self.raw = value
        elif key.startswith("team:"):
            team = key[5:]
            summary = None if value is None else _loads(value, "team summary")
            with self._lock:
                if summary and summary.get("trending"):
                    self.teams[team] = summary
                else:
                    self.teams.pop(team, None)

    def summary(self, cluster_id: str | None) -> dict[str, Any] | None:
        return None if cluster_id is None else self.summaries.get(cluster_id)

    def team(self, team_id: str) -> dict[str, Any] | None:
        return self.teams.get(team_id) if team_id else None


def _path_items(paths: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in paths:
        for it in p.get("items") or ():
            out.setdefault(it["content_id"], []).append(p["path_id"])
    return out


class InterestTracker:
    """Per-worker interest, cluster and peer processing of the ``learn`` batch.

    Per applied activity event call :meth:`observe` (before
    ``learner.apply_activity``); after a profile change call
    :meth:`profile_changed`; per changed learner at the end of the batch call
    :meth:`finish` and put its result in the learner's Redis state value; after
    the batch, :meth:`drain` gives the one update record to produce.
    """

    def __init__(
        self,
        cache: CentroidCache,
        k_min: int = K_MIN,
        margin: float = clusters.MARGIN,
        patience: float = clusters.PATIENCE,
        drift: float = 0.2,
        min_gap_ms: int = 600_000,
    ) -> None:
        self.cache = cache
        self.k_min = k_min
        self.margin = margin
        self.patience = patience
        self.drift = drift
        self.min_gap_ms = min_gap_ms
        self.batch = UpdateBatch()
        self._evidence: dict[str, float] = {}
        self._topics_key: Any = None
        self._skill_topic: dict[str, str] = {}
        # learner -> (profile, skill map, interest.stated_unit of the two): the
        # profile's part of the interest vector, made again only when either is
        # another object. Both are replaced, never changed in place, and a state
        # kept decoded between batches keeps its profile object (decision 0024).
        self._said: dict[str, tuple[dict[str, Any], dict[str, str], dict[str, float]]] = {}

    def skill_topic(self, catalog: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
        key = (id(catalog), len(catalog))
        if key != self._topics_key:
            self._skill_topic = interest.skill_topics(catalog)
            self._topics_key = key
        return self._skill_topic

    def observe(
        self,
        learner_id: str,
        state: dict[str, Any],
        event: dict[str, Any],
        catalog: Mapping[str, Mapping[str, Any]],
        paths: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Interest evidence and peer signals of one applied event."""
        sec: dict[str, Any] = state.setdefault("interest", {})
        item = interest.item_of(event, catalog)
        on_paths = _path_items(paths).get(event.get("object_id") or "", [])
        w = interest.observe(sec, event, item, assigned=bool(on_paths))
        if w > 0:
            self._evidence[learner_id] = self._evidence.get(learner_id, 0.0) + w
        profile: dict[str, Any] = state.get("profile") or {}
        if peers.opted_out(profile):
            return
        kind = peers.signal(state, event)
        if kind is None:
            return
        cid, t = event["object_id"], int(event["occurred_at_ms"])
        cluster = clusters.membership(sec)
        team = profile.get("team_id") or ""
        pkeys = ([f"c:{cluster}"] if cluster is not None else []) + (
            [f"team:{team}"] if team else []
        )
        for k in pkeys:
            self.batch.peer.append({"k": k, "i": cid, "t": t, "s": kind, "n": 1})
        if pkeys:
            peers.remember(sec, cluster, cid, t, kind)
        if cluster is not None and peers.may_be_named(profile):
            for pid in on_paths:
                self.batch.buddy.append({"l": learner_id, "c": cluster, "p": pid, "t": t})

    def profile_changed(
        self, learner_id: str, state: dict[str, Any], before: dict[str, Any]
    ) -> None:
        """Withdraw a learner who just opted out; unlist one who stopped opting in."""
        sec: dict[str, Any] = state.setdefault("interest", {})
        profile: dict[str, Any] = state.get("profile") or {}
        if peers.opted_out(profile) and not peers.opted_out(before):
            for k, cid, t, kind in peers.withdraw(sec, profile.get("team_id") or ""):
                self.batch.peer.append({"k": k, "i": cid, "t": t, "s": kind, "n": -1})
            self.batch.forget.append({"f": learner_fp(learner_id), "l": learner_id})
            for name in ("clu", "pub", "pt"):
                sec.pop(name, None)
        elif peers.may_be_named(before) and not peers.may_be_named(profile):
            self.batch.forget.append({"f": None, "l": learner_id})

    def finish(
        self,
        learner_id: str,
        state: dict[str, Any],
        catalog: Mapping[str, Mapping[str, Any]],
        paths: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """Assign the learner's cluster and render ``{"cluster": ..., "peers": ...}``.

        Merge the result into the learner's ``lp:{L}:state`` value. ``cluster``
        and the peer counts are also the recommender's ``cluster=`` and
        ``peers=`` inputs (see :func:`recommender_inputs`).
        """
        sec: dict[str, Any] = state.setdefault("interest", {})
        profile: dict[str, Any] = state.get("profile") or {}
        evidence = self._evidence.pop(learner_id, 0.0)
        if peers.opted_out(profile):
            self._said.pop(learner_id, None)  # keep nothing of an opted-out profile
            return {"cluster": None, "peers": {"opted_out": True}}
        # Event time, so replays assign the same; a learner with no activity yet
        # is as of their profile.
        t = int(sec.get("t") or state.get("last_ms") or profile.get("updated_at_ms") or 0)
        skill_topic = self.skill_topic(catalog)
        hit = self._said.get(learner_id)
        if hit is not None and hit[0] is profile and hit[1] is skill_topic:
            said = hit[2]
        elif not profile:  # no profile yet: a new {} each time, nothing to keep
            said = {}
        else:
            said = interest.stated_unit(profile, skill_topic)
            if len(self._said) >= SAID_MAX:
                del self._said[next(iter(self._said))]
            self._said[learner_id] = (profile, skill_topic, said)
        x = interest.vector(sec, profile, t, skill_topic, said)
        before = clusters.membership(sec)
        snap = self.cache.snapshot
        cid = clusters.assign(sec, x, snap, evidence, t, self.margin, self.patience)
        pub_c = sec.get("pc")
        if x and (interest.should_publish(sec, x, t, self.drift, self.min_gap_ms) or cid != pub_c):
            self.batch.interest.append({"f": learner_fp(learner_id), "t": t, "x": x, "c": cid})
            interest.mark_published(sec, x, t)
            sec["pc"] = cid
        view = PeerView(
            self.cache.summary(cid), self.cache.team(profile.get("team_id") or ""), self.k_min
        )
        done = state.get("done") or {}
        title = _title(catalog)
        mem = sec.get("clu") or {}
        cluster_value = None
        if cid is not None:
            cluster_value = {
                "id": cid,
                "label": snap.labels.get(cid) if snap else None,
                "since_ms": mem.get("since"),
                "changed": cid != before,
            }
        path_titles = {p["path_id"]: p.get("title") or p["path_id"] for p in paths}
        buddies = view.buddies(learner_id, profile, list(path_titles))
        return {
            "cluster": cluster_value,
            "peers": {
                "opted_out": False,
                "finished_by_peers": [
                    {**c, "title": title(c["content_id"])} for c in view.candidates(done)
                ],
                "trending_in_team": [
                    {**r, "title": title(r["content_id"])} for r in view.trending(done, "team")
                ],
                "study_buddies": [{**b, "path_title": path_titles[b["path_id"]]} for b in buddies],
            },
        }

    def drain(self) -> bytes | None:
        """The batch's update record for ``interest.updated.v1`` (None when empty)."""
        batch, self.batch = self.batch, UpdateBatch()
        self._evidence.clear()
        return encode_updates(batch) if batch else None


def recommender_inputs(
    section: dict[str, Any],
    cache: CentroidCache,
    k_min: int = K_MIN,
    done: Mapping[str, Any] | None = None,
) -> tuple[str | None, dict[str, int]]:
    """``(cluster, peers)`` for ``Recommender.recommend``: k-anonymous cluster finishers."""
    cid = clusters.membership(section)
    view = PeerView(cache.summary(cid), None, k_min)
    return cid, view.counts(done or {})


def social_line(
    section: dict[str, Any],
    profile: dict[str, Any],
    cache: CentroidCache,
    content_id: str,
    k_min: int = K_MIN,
) -> str | None:
    """Social reinforcement for a nudge about ``content_id`` (None if opted out or < k)."""
    if peers.opted_out(profile):
        return None
    view = PeerView(
        cache.summary(clusters.membership(section)),
        cache.team(profile.get("team_id") or ""),
        k_min,
    )
    return view.reinforcement(content_id)


def _title(catalog: Mapping[str, Mapping[str, Any]]) -> Any:
    def title(cid: str) -> str:
        return (catalog.get(cid) or {}).get("title") or cid

    return title


# -- agent side: the one clustering model ------------------------------------------------
class Clusterer:
    """The single clustering model, peer counts and cluster sizes (one agent owns it)."""

    def __init__(
        self,
        model: InterestClusters | None = None,
        k_min: int = K_MIN,
        n_clusters: int = 8,
        **model_kw: Any,
    ) -> None:
        self.model = model or InterestClusters(n_clusters=n_clusters, **model_kw)
        self.peers = PeerAggregator()
        self.k_min = k_min
        self.members: dict[str, list[Any]] = {}  # learner fp -> [cluster, day of last update]
        self.model_offset = -1  # last update offset the model learned (saved in snapshots)
        self.seen_offset = -1  # last offset folded into the in-memory counts
        self.version = 0
        self.now_ms = 0
        self._team_days: dict[str, int] = {}  # team -> day its non-empty summary was published
        self._sizes: dict[str, int] = {}  # cluster -> members (kept with ``members``)
        self._pruned_day = -1
        self._summaries: tuple[int, dict[str, dict[str, Any]]] | None = None  # version, value

    def apply(self, msgs: Iterable[tuple[int, bytes | None]]) -> list[tuple[int, str]]:
        """Fold update records ``(offset, value)`` in; returns the undecodable ones.

        Records at or below the last folded offset are skipped. After a restart
        from a snapshot, replay the topic from its start: records up to
        ``model_offset`` rebuild the counts and sizes without teaching the
        model twice. Within one call the model learns the interest updates in a
        canonical order (event time, then learner), so how learners are spread
        over workers, and the order their records arrive in, does not change it.
        """
        self._summaries = None
        dead: list[tuple[int, str]] = []
        to_learn: list[dict[str, Any]] = []
        for offset, value in msgs:
            if offset <= self.seen_offset:
                continue
            self.seen_offset = offset
            if value is None:
                dead.append((offset, "empty value"))
                continue
            try:
                batch = decode_updates(value)
            except ClusteringDecodeError as exc:
                dead.append((offset, str(exc)))
                continue
            if offset > self.model_offset:
                to_learn.extend(batch.interest)
            self._fold(batch)
        for u in sorted(to_learn, key=lambda u: (int(u["t"]), u["f"])):
            self.model.learn_one(u["x"])
        self.model_offset = max(self.model_offset, self.seen_offset)
        return dead

    def _fold(self, batch: UpdateBatch) -> None:
        for u in batch.interest:
            t = int(u["t"])
            self.now_ms = max(self.now_ms, t)
            self._member(u["f"], u.get("c"), t // DAY_MS)
        for p in batch.peer:
            self.now_ms = max(self.now_ms, int(p["t"]))
            self.peers.add(p["k"], p["i"], int(p["t"]), p["s"], int(p["n"]))
        for b in batch.buddy:
            self.peers.add_buddy(b["c"], b["p"], b["l"], int(b["t"]))
        for f in batch.forget:
            if f.get("f"):
                self._member(f["f"], None, 0)
            self.peers.forget_learner(f["l"])

    def _member(self, fp: str, cluster: str | None, day: int) -> None:
        old = self.members.pop(fp, None)
        if old is not None:
            self._sizes[old[0]] -= 1
        if cluster is not None:
            self.members[fp] = [cluster, day]
            self._sizes[cluster] = self._sizes.get(cluster, 0) + 1

    def sizes(self) -> dict[str, int]:
        """Learners per cluster whose last update is at most ACTIVE_DAYS old."""
        today = self.now_ms // DAY_MS
        if today != self._pruned_day:  # once a day: members is as large as the org
            self._pruned_day = today
            for fp in [fp for fp, (_c, day) in self.members.items() if day < today - ACTIVE_DAYS]:
                self._member(fp, None, 0)
        return {c: n for c, n in self._sizes.items() if n > 0}

    def summaries(self) -> dict[str, dict[str, Any]]:
        """Per live cluster: label, size (None below k_min), topics, skills, trending, buddies."""
        if self._summaries is not None and self._summaries[0] == self.version:
            return self._summaries[1]
        snap = self.model.snapshot(self.version)
        sizes = self.sizes()
        out = {}
        for cid, centre in snap.centroids.items():
            size = sizes.get(cid, 0)
            out[cid] = {
                "cluster_id": cid,
                "label": snap.labels[cid],
                "size": size if size >= self.k_min else None,
                "top_topics": interest.top_topics(centre, 3),
                "top_skills": [
                    k[2:]
                    for k, _v in sorted(
                        ((k, v) for k, v in centre.items() if k.startswith("s:")),
                        key=lambda kv: (-kv[1], kv[0]),
                    )[:5]
                ],
                **self.peers.summary(f"c:{cid}", self.now_ms, self.k_min),
            }
        self._summaries = (self.version, out)
        return out

    def publish(self) -> list[tuple[str, bytes]]:
        """Records for ``interest.clusters.v1``: the versioned snapshot, then changed teams."""
        self.peers.prune(self.now_ms)
        self.version += 1
        snap = self.model.snapshot(self.version)
        out = [
            (
                SNAPSHOT_KEY,
                orjson.dumps(
                    {
                        "v": 1,
                        "version": self.version,
                        "as_of_ms": self.now_ms,
                        "model_offset": self.model_offset,
                        "snapshot": snap.to_dict(),
                        "summaries": self.summaries(),
                        "model": self.model.to_dict(),
                    }
                ),
            )
        ]
        today = self.now_ms // DAY_MS
        teams = {k[5:] for k in self.peers.dirty if k.startswith("team:")}
        teams.update(t for t, day in self._team_days.items() if day < today)  # windows move
        for team in sorted(teams):
            summary = self.peers.summary(f"team:{team}", self.now_ms, self.k_min)
            out.append((f"team:{team}", orjson.dumps({"v": 1, **summary})))
            if summary["trending"]:
                self._team_days[team] = today
            else:
                self._team_days.pop(team, None)
        self.peers.dirty.clear()
        return out

    def dashboard(self, catalog: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, bytes]:
        """Redis values: all cluster summaries (``keys.CLUSTERS``) and one per cluster.

        No learner is named here: dashboards get labels, sizes and k-anonymous
        trending only.
        """
        title = _title(catalog or {})
        rows = []
        out: dict[str, bytes] = {}
        for cid, s in self.summaries().items():
            row = {k: v for k, v in s.items() if k not in ("buddies", "key")}
            row["trending"] = [{**r, "title": title(r["content_id"])} for r in s["trending"]]
            rows.append(row)
            out[keys.cluster(cid)] = orjson.dumps(
                {"v": keys.VALUE_VERSION, "version": self.version, **row}
            )
        out[keys.CLUSTERS] = orjson.dumps(
            {
                "v": keys.VALUE_VERSION,
                "version": self.version,
                "as_of_ms": self.now_ms,
                "clusters": rows,
            }
        )
        return out

    @classmethod
    def restore(cls, value: bytes, k_min: int = K_MIN) -> Clusterer:
        """A clusterer continuing from a published ``clusters`` record (then replay the topic)."""
        data = _loads(value, "cluster snapshot")
        c = cls(InterestClusters.from_dict(data["model"]), k_min=k_min)
        c.version = int(data["version"])
        c.model_offset = int(data["model_offset"])
        c.now_ms = int(data.get("as_of_ms") or 0)
        return c


@dataclass
class StepResult:
    records: list[tuple[str, bytes]]  # key, value for interest.clusters.v1
    redis_values: dict[str, bytes]  # SET these (dashboards)
    dead: list[tuple[int, str]]  # offset, reason: undecodable update records


def step(
    clusterer: Clusterer,
    msgs: Iterable[tuple[int, bytes | None]],
    catalog: Mapping[str, Mapping[str, Any]] | None = None,
    publish: bool = True,
) -> StepResult:
    """Fold a batch of ``(offset, value)`` update records, then publish once.

    ``publish=False`` only folds (while replaying after a restart, or to
    publish at most every few seconds). Write ``records`` and
    ``redis_values`` before moving on. Correctness does not hang on committed
    offsets: the snapshot carries ``model_offset``, and a new owner restores
    from the last snapshot and replays the whole (30-day) topic, re-learning
    only what came after it (docs/decisions/0008).
    """
    dead = clusterer.apply(msgs)
    if not publish:
        return StepResult([], {}, dead)
    return StepResult(clusterer.publish(), clusterer.dashboard(catalog), dead)


def membership(state: Mapping[str, Any]) -> str | None:
    """The learner's current interest cluster, from their whole state dict."""
    return clusters.membership(state.get("interest") or {})
