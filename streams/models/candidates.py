"""Candidate generation: a few dozen items per learner from several sources, with evidence.

Sources (each a function ``from_<source>(ctx, pool)`` adding to one pool):

========  ===============================================================
path      next step of each assigned path, in item order; an unmet content
          prerequisite of that step comes first
continue  in-progress items, most recently touched first
gap       skills the role or the learner's goals need, most missing first,
          at the level just above the learner's mastery
popular   popular in the learner's segment (department x manager or not),
          the whole company while the segment is still quiet
cluster   popular in the learner's interest cluster (when one is given)
peers     finished this week by teammates (or given peer counts)
interest  popular in the topics the learner engaged with lately, or said
          they like
fresh     recently published, relevant topics first
niche     rarely seen items in the learner's main topic at their level
========  ===============================================================

Everything a source or a ranker feature needs about one learner at one moment
is computed once per call in :class:`Context`; everything about the catalog
once per catalog version in :class:`CatalogIndex`. Evidence is kept as tuples
and turned into sentences only for the final top-K (:mod:`streams.models.explain`).
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from streams.models.popularity import ALL, Popularity, cluster_key, segment_key, topic_key
from streams.models.rounding import fast_round

DAY_MS: Final = 86_400_000
FRESH_DAYS: Final = 30
GOAL_TARGET: Final = 0.8  # a goal skill is wanted to this level unless the role asks more
MIN_GAP: Final = 0.05
UNKNOWN_MASTERY: Final = 0.25  # neither a model, a quiz nor a self-assessment says anything
K_MIN: Final = 5  # peer counts below this are never shown (k-anonymity, issue 6)
SOURCES: Final[tuple[str, ...]] = (
    "path",
    "continue",
    "gap",
    "peers",
    "interest",
    "cluster",
    "popular",
    "fresh",
    "niche",
)
# Per-source caps keep the pool (and so ranking time) small.
CAPS: Final = {
    "path": 6,
    "continue": 5,
    "gap": 8,
    "peers": 5,
    "interest": 16,
    "cluster": 6,
    "popular": 6,
    "fresh": 3,
    "niche": 2,
}

# smoothing of topic affinity shares (a topic never touched is not impossible)
AFF_EPS: Final = 0.02
POP_EPS: Final = 0.002  # smoothing of popularity shares
LOG_POP_EPS: Final = math.log(POP_EPS)

Evidence = tuple[Any, ...]
MasteryFn = Callable[[str], "float | None"]


def fingerprint(cid: str) -> str:
    """Short stable id of a content item for per-learner memories (6 hex digits).

    >>> fingerprint("sql-101")
    '399f6d'
    """
    return f"{zlib.crc32(cid.encode()) & 0xFFFFFF:06x}"


def desired_level(mastery: float) -> int:
    """Difficulty (1..5) just above a mastery in [0, 1].

    >>> [desired_level(m) for m in (0.0, 0.25, 0.5, 0.79, 0.95)]
    [1, 2, 3, 4, 5]
    """
    return min(5, 1 + int(mastery * 5))


class ItemInfo:
    """What ranking needs of one catalog item, precomputed per catalog version."""

    __slots__ = (
        "cid",
        "title",
        "level",
        "fmt",
        "topic",
        "skills",
        "prereqs",
        "published",
        "duration",
        "fp",
        "base",
        "fkey",
        "tkey",
        "dur",
    )

    def __init__(self, rec: Mapping[str, Any]) -> None:
        self.cid: str = rec["content_id"]
        self.title: str = rec.get("title") or self.cid
        self.level = int(rec.get("level", 1))
        self.fmt: str = rec.get("format") or "other"
        topics = rec.get("topics") or ()
        self.topic: str = topics[0] if topics else ""
        self.skills: tuple[str, ...] = tuple(rec.get("skills") or ())
        self.prereqs: tuple[str, ...] = tuple(rec.get("prerequisites") or ())
        self.published = int(rec.get("published_at_ms") or 0)
        self.duration = float(rec.get("duration_min") or 10.0)
        self.fp = fingerprint(self.cid)
        # Static part of the feature vector (copied, then completed per learner).
        self.fkey = f"f:{self.fmt}"
        self.tkey = f"t:{self.topic}"
        self.dur = round(math.log1p(self.duration) / 5.5, 4)
        self.base: dict[str, float] = {"b": 1.0, self.fkey: 1.0, "dur": self.dur}
        if self.topic:
            self.base[self.tkey] = 1.0


class CatalogIndex:
    """Indexes over active catalog items and paths; rebuild when the reference version changes."""

    def __init__(
        self,
        catalog: Mapping[str, Mapping[str, Any]],
        paths: Iterable[Mapping[str, Any]] = (),
        version: int = 0,
    ) -> None:
        self.version = version
        self.items: dict[str, ItemInfo] = {
            cid: ItemInfo({"content_id": cid, **rec})
            for cid, rec in sorted(catalog.items())
            if rec.get("active", True)
        }
        self.ordered = list(self.items)  # for uniform draws
        by_skill: dict[str, list[ItemInfo]] = {}
        self.by_topic: dict[str, list[str]] = {}
        for info in self.items.values():
            for s in info.skills:
                by_skill.setdefault(s, []).append(info)
            if info.topic:
                self.by_topic.setdefault(info.topic, []).append(info.cid)
        # skill -> wanted level -> items within one level of it, closest (then easier) first
        self.by_skill_level: dict[str, dict[int, list[str]]] = {}
        for s, infos in by_skill.items():
            self.by_skill_level[s] = {
                want: [
                    i.cid
                    for i in sorted(
                        infos,
                        key=lambda i, w=want: (  # type: ignore[misc]
                            abs(i.level - w),
                            i.level,
                            i.cid,
                        ),
                    )
                    if abs(i.level - want) <= 1
                ]
                for want in range(1, 6)
            }
        by_date = sorted(self.items.values(), key=lambda i: (-i.published, i.cid))
        self.recent = [i.cid for i in by_date]  # newest first
        self._recent_key = [-i.published for i in by_date]  # ascending, for bisect
        self.paths_by_learner: dict[str, list[Mapping[str, Any]]] = {}
        self.paths_by_team: dict[str, list[Mapping[str, Any]]] = {}
        for p in sorted(paths, key=lambda p: p["path_id"]):
            if not p.get("active", True):
                continue
            for lid in p.get("learner_ids") or ():
                self.paths_by_learner.setdefault(lid, []).append(p)
            for tid in p.get("team_ids") or ():
                self.paths_by_team.setdefault(tid, []).append(p)

    def published_since(self, since_ms: int, now_ms: int) -> list[str]:
        """Items published in ``[since_ms, now_ms]``, newest first."""
        lo = bisect_left(self._recent_key, -now_ms)
        hi = bisect_right(self._recent_key, -since_ms)
        return self.recent[lo:hi]

    def paths_for(self, learner_id: str, team_id: str) -> list[Mapping[str, Any]]:
        """Active paths assigned to the learner or their team (each once)."""
        out = list(self.paths_by_learner.get(learner_id, ()))
        for p in self.paths_by_team.get(team_id, ()) if team_id else ():
            if p not in out:
                out.append(p)
        return out


def _shares(weights: dict[str, float] | None) -> dict[str, float]:
    if not weights:
        return {}
    total = sum(weights.values())
    return {t: w / total for t, w in weights.items()} if total > 0 else {}


def _share(weights: dict[str, float], key: str) -> float:
    """``_shares(weights).get(key, 0.0)`` without the other shares."""
    w = weights.get(key)
    if w is None:
        return 0.0
    total = sum(weights.values())
    return w / total if total > 0 else 0.0


class Context:
    """One learner at one moment: what sources and ranker features read."""

    # Slots: the ranker and the sources read these attributes tens of times per call.
    __slots__ = (
        "state",
        "profile",
        "learner_id",
        "index",
        "pop",
        "now",
        "done",
        "prog",
        "section",
        "imp",
        "dis",
        "quiz",
        "_af",
        "_as",
        "_aff_fast",
        "_aff_slow",
        "last_topic",
        "interests",
        "goals",
        "self_rated",
        "seniority",
        "peer_opt_out",
        "team",
        "segment",
        "seg_counts",
        "seg_total",
        "all_counts",
        "all_total",
        "cluster",
        "clu_counts",
        "clu_total",
        "peers_given",
        "_mastery_fn",
        "_mastery",
        "_topic",
        "_topic_part",
        "_want",
        "_cache",
        "_eligible",
        "_team",
        "peer_scope",
        "path_next",
        "gaps",
    )

    def __init__(
        self,
        state: dict[str, Any],
        profile: dict[str, Any],
        learner_id: str,
        index: CatalogIndex,
        popularity: Popularity,
        now_ms: int,
        paths: Iterable[Mapping[str, Any]] | None = None,
        role_skills: Mapping[str, float] | None = None,
        mastery: MasteryFn | None = None,
        cluster: str | int | None = None,
        peers: Mapping[str, int] | None = None,
    ) -> None:
        self.state = state
        self.profile = profile
        self.learner_id = learner_id
        self.index = index
        self.pop = popularity
        self.now = now_ms
        # dict types, not Mapping: compiled, a dict's get() is a direct C lookup where a
        # Mapping's is a generic method call (state and profile are decoded JSON).
        self.done: dict[str, Any] = state.get("done") or {}
        self.prog: dict[str, Any] = state.get("prog") or {}
        sec: dict[str, Any] = state.get("ranker") or {}
        self.section: dict[str, Any] = sec
        self.imp: dict[str, int] = sec.get("imp") or {}
        self.dis: dict[str, int] = sec.get("dis") or {}
        self.quiz: dict[str, list[Any]] = sec.get("q") or {}
        # Topic affinities as shares, computed when first read (observe reads one topic).
        self._af: dict[str, float] = sec.get("af") or {}
        self._as: dict[str, float] = sec.get("as") or {}
        self._aff_fast: dict[str, float] | None = None
        self._aff_slow: dict[str, float] | None = None
        self.last_topic: str = sec.get("lt", "")
        self.interests = frozenset(profile.get("interests") or ())
        self.goals = frozenset(profile.get("goals") or ())
        self.self_rated: dict[str, float] = profile.get("self_assessed_skills") or {}
        self.seniority = int(profile.get("level") or 1)
        # A learner who opted out of peer features gets no peer signals (issue 6).
        self.peer_opt_out = bool(profile.get("peer_features_opt_out"))
        self.team = profile.get("team_id") or ""
        self.segment = segment_key(profile)
        self.seg_counts, self.seg_total = popularity.raw(self.segment)
        self.all_counts, self.all_total = popularity.raw(ALL)
        self.cluster = None if cluster is None else cluster_key(cluster)
        self.clu_counts, self.clu_total = (
            popularity.raw(self.cluster) if self.cluster else ({}, 0.0)
        )
        self.peers_given = peers or {}
        self._mastery_fn = mastery
        self._mastery: dict[str, tuple[float, str, float]] = {}
        self._topic: dict[str, tuple[dict[str, float], float]] = {}
        self._topic_part: dict[str, tuple[dict[str, float], dict[str, float], float]] = {}
        self._want: dict[str, int] = {}
        self._cache: dict[Any, Any] = {}
        self._eligible: dict[str, ItemInfo | None] = {}
        self._team: dict[str, int] | None = None
        self.peer_scope: dict[str, str] = {}
        if paths is None:
            paths = index.paths_for(learner_id, self.team)
        self.path_next = self._path_next(paths)
        self.gaps = self._gaps(role_skills or {})

    @property
    def aff_fast(self) -> dict[str, float]:
        """Shares of the fast-decaying topic affinities (recent picks)."""
        if self._aff_fast is None:
            self._aff_fast = _shares(self._af)
        return self._aff_fast

    @property
    def aff_slow(self) -> dict[str, float]:
        """Shares of the slow-decaying topic affinities."""
        if self._aff_slow is None:
            self._aff_slow = _shares(self._as)
        return self._aff_slow

    # -- learner facts -------------------------------------------------------------------
    def mastery(self, skill: str) -> tuple[float, str, float]:
        """(estimate, evidence kind, evidence value) for a skill.

        Evidence kinds: ``quiz`` (last quiz score), ``self`` (self-assessment),
        ``model`` (skill model estimate), ``none``. The estimate prefers the
        skill model, then the last quiz, then the self-assessment.
        """
        hit = self._mastery.get(skill)
        if hit is not None:
            return hit
        model = self._mastery_fn(skill) if self._mastery_fn else None
        q = self.quiz.get(skill)
        rated = self.self_rated.get(skill)
        if q is not None:
            ev = ("quiz", q[0] / 100)
        elif rated is not None:
            ev = ("self", float(rated))
        elif model is not None:
            ev = ("model", float(model))
        else:
            ev = ("none", 0.0)
        if model is not None:
            m = float(model)
        elif ev[0] != "none":
            m = ev[1]
        else:
            m = min(0.6, UNKNOWN_MASTERY + 0.05 * (self.seniority - 1))
        out = (m, ev[0], ev[1])
        self._mastery[skill] = out
        return out

    def want_level(self, skill: str) -> int:
        w = self._want.get(skill)
        if w is None:
            w = self._want[skill] = desired_level(self.mastery(skill)[0])
        return w

    def topic_part(self, topic: str) -> tuple[dict[str, float], dict[str, float], float]:
        """Ranker features shared by all items of a topic, and the topic's popularity."""
        hit = self._topic_part.get(topic)
        if hit is None:
            f = {
                "laf": math.log(_share(self._af, topic) + AFF_EPS),
                "las": math.log(_share(self._as, topic) + AFF_EPS),
            }
            if topic in self.interests:
                f["pint"] = 1.0
            if topic and topic == self.last_topic:
                f["last"] = 1.0
            counts, total = self.topic_counts(topic) if topic else ({}, 0.0)
            hit = self._topic_part[topic] = (f, counts, total)
        return hit

    def eligible(self, cid: str) -> ItemInfo | None:
        """The item if it can be recommended now: active, published, not done, prerequisites met."""
        cache = self._eligible
        if cid in cache:
            return cache[cid]
        info = self.index.items.get(cid)
        if info is not None and (cid in self.done or info.published > self.now):
            info = None
        if info is not None:
            for p in info.prereqs:
                if p not in self.done:
                    info = None
                    break
        cache[cid] = info
        return info

    def topic_counts(self, topic: str) -> tuple[dict[str, float], float]:
        hit = self._topic.get(topic)
        if hit is None:
            hit = self._topic[topic] = self.pop.raw(topic_key(topic))
        return hit

    def team_finishers(self) -> dict[str, int]:
        """Content -> peers who finished it, only where at least ``K_MIN`` are behind a
        count (k-anonymity); ``peer_scope`` says whether the count is the team's or
        the interest cluster's (given ``peers=`` counts are the cluster's)."""
        if self._team is None and self.peer_opt_out:
            self._team = {}
        if self._team is None:
            team = (
                self.pop.team_finishers(self.team, self.now, self.learner_id) if self.team else {}
            )
            team = {cid: n for cid, n in team.items() if n >= K_MIN}
            self.peer_scope = {cid: "team" for cid in team}
            for cid, n in self.peers_given.items():
                if n >= K_MIN and n > team.get(cid, 0):
                    team[cid] = n
                    self.peer_scope[cid] = "cluster"
            self._team = team
        return self._team

    def top_topics(self, n: int = 3) -> list[tuple[str, str]]:
        key = ("top_topics", n)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._top_topics(n)
        return hit  # type: ignore[no-any-return]

    def _top_topics(self, n: int) -> list[tuple[str, str]]:
        """Up to ``n`` [(topic, why)]: engaged with lately ("recent") or stated ("said").

        Recent activity ranks first (fast affinity, then slow), stated interests
        fill the rest, so a learner whose interests move is followed at once.
        """
        score: dict[str, float] = {}
        for t, s in self.aff_fast.items():
            if s >= 0.1:
                score[t] = 1.0 + s
        for t, s in self.aff_slow.items():
            if s >= 0.1:
                score[t] = max(score.get(t, 0.0), 0.5 + s)
        out = [(t, "recent") for t in sorted(score, key=lambda t: (-score[t], t))][:n]
        seen = {t for t, _ in out}
        for t in sorted(self.interests):
            if len(out) >= n:
                break
            if t not in seen:
                out.append((t, "said"))
        return out

    # -- per-call derived facts --------------------------------------------------------------
    def _path_next(self, paths: Iterable[Mapping[str, Any]]) -> dict[str, Evidence]:
        """content_id -> evidence for each path's next step (or its missing prerequisite)."""
        out: dict[str, Evidence] = {}
        manager = self.profile.get("manager_id")
        for p in paths:
            items = p.get("items") or ()
            by_manager = bool(manager) and p.get("assigned_by") == manager
            title = p.get("title") or p.get("path_id", "")
            for step, it in enumerate(items, 1):
                cid = it["content_id"]
                if cid in self.done:
                    continue
                info = self.index.items.get(cid)
                if info is None:  # withdrawn from the catalog: the path goes on without it
                    continue
                due = it.get("due_at_ms")
                missing = self._missing_prereq(info)
                if missing is not None and missing.cid != cid:
                    out.setdefault(missing.cid, ("prereq", title, info.title, due, by_manager))
                else:
                    out.setdefault(cid, ("path", title, step, len(items), due, by_manager))
                break
        return out

    def _missing_prereq(self, info: ItemInfo, depth: int = 0) -> ItemInfo | None:
        """The earliest unmet prerequisite to take before ``info`` (``info`` if none)."""
        for p in info.prereqs:
            if p not in self.done:
                pre = self.index.items.get(p)
                if pre is None or depth >= 4:
                    return None
                return self._missing_prereq(pre, depth + 1)
        return info

    def _gaps(self, role_skills: Mapping[str, float]) -> dict[str, tuple[float, str, float]]:
        """skill -> (gap, "role" or "goal", target), largest gaps first."""
        targets: dict[str, tuple[float, str]] = {
            s: (float(t), "role") for s, t in role_skills.items()
        }
        for g in self.goals:
            if targets.get(g, (0.0, ""))[0] < GOAL_TARGET:
                targets[g] = (GOAL_TARGET, "goal")
        # mastery(s)[0] inlined: the estimate alone, for every skill the role names.
        fn, quiz, rated = self._mastery_fn, self.quiz, self.self_rated
        default = min(0.6, UNKNOWN_MASTERY + 0.05 * (self.seniority - 1))
        want = self._want
        gaps = []
        for s, (target, why) in targets.items():
            model = fn(s) if fn else None
            if model is not None:
                m = float(model)
            else:
                q = quiz.get(s)
                if q is not None:
                    m = q[0] / 100
                else:
                    r = rated.get(s)
                    m = float(r) if r is not None else default
            want[s] = min(5, 1 + int(m * 5))  # desired_level(m)
            gap = target - m
            if gap > MIN_GAP:
                gaps.append((gap, s, why, target))
        gaps.sort(key=lambda g: (-g[0] - (0.1 if g[2] == "goal" else 0.0), g[1]))
        return {s: (fast_round(gap, 3), why, target) for gap, s, why, target in gaps}


class Candidate:
    """A content item proposed by one or more sources, with their evidence."""

    __slots__ = ("cid", "info", "sources", "evidence")

    def __init__(
        self, cid: str, info: ItemInfo | None, source: str | None = None, evidence: Evidence = ()
    ) -> None:
        self.cid = cid
        self.info = info
        self.sources: list[str] = [] if source is None else [source]
        self.evidence: list[Evidence] = [] if source is None else [evidence]

    @property
    def source(self) -> str:
        """The main source: the first in :data:`SOURCES` order that proposed it.

        :func:`generate` runs the sources in that order, so it is the first added.
        """
        return self.sources[0]


Pool = dict[str, Candidate]


def _add(pool: Pool, cid: str, info: ItemInfo | None, source: str, evidence: Evidence) -> None:
    cand = pool.get(cid)
    if cand is None:
        pool[cid] = Candidate(cid, info, source, evidence)
    elif source not in cand.sources:
        cand.sources.append(source)
        cand.evidence.append(evidence)


def from_paths(ctx: Context, pool: Pool) -> None:
    for n, (cid, ev) in enumerate(sorted(ctx.path_next.items())):
        info = ctx.eligible(cid)
        if info is not None and n < CAPS["path"]:
            _add(pool, cid, info, "path", ev)


def from_continue(ctx: Context, pool: Pool) -> None:
    recent = sorted(ctx.prog.items(), key=lambda kv: (-kv[1][1], kv[0]))[: CAPS["continue"]]
    for cid, (progress, last_ms) in recent:
        if cid in ctx.done:
            continue
        # Unknown to the catalog is fine: the learner already has it open.
        _add(pool, cid, ctx.index.items.get(cid), "continue", ("continue", progress, last_ms))


def from_gaps(ctx: Context, pool: Pool, max_skills: int = 4, per_skill: int = 2) -> None:
    n = 0
    cap = CAPS["gap"]
    role = ctx.profile.get("role", "")
    by_skill_level = ctx.index.by_skill_level
    for i, (skill, (_gap, why, target)) in enumerate(ctx.gaps.items()):
        if i >= max_skills:
            break
        m, kind, value = ctx.mastery(skill)
        taken = 0
        ev = ("gap", skill, why, target, kind, value, role)
        for cid in by_skill_level.get(skill, {}).get(desired_level(m), ()):
            if taken >= per_skill or n >= cap:
                break
            info = ctx.eligible(cid)
            if info is not None:
                _add(pool, cid, info, "gap", ev)
                taken += 1
                n += 1


def _from_top(
    ctx: Context, pool: Pool, key: str, source: str, cap: int, ev: Evidence, scan: int = 20
) -> int:
    n = 0
    if cap <= 0:
        return n
    for cid in ctx.pop.top_ids(key)[:scan]:
        info = ctx.eligible(cid)
        if info is not None:
            cand = pool.get(cid)
            if cand is None:
                pool[cid] = Candidate(cid, info, source, ev)
            elif source not in cand.sources:
                cand.sources.append(source)
                cand.evidence.append(ev)
            n += 1
            if n >= cap:
                break
    return n


def from_popular(ctx: Context, pool: Pool) -> None:
    n = 0
    if ctx.seg_total > 0:
        dept = ctx.profile.get("department") or ""
        n = _from_top(
            ctx,
            pool,
            ctx.segment,
            "popular",
            CAPS["popular"],
            ("popular", dept, bool(ctx.profile.get("is_manager"))),
        )
    if n < CAPS["popular"] // 2:  # a quiet segment: lean on the whole company
        _from_top(ctx, pool, ALL, "popular", CAPS["popular"] - n, ("popular_all",))


def from_cluster(ctx: Context, pool: Pool) -> None:
    if ctx.cluster and ctx.clu_total > 0:
        _from_top(ctx, pool, ctx.cluster, "cluster", CAPS["cluster"], ("cluster",))


def from_peers(ctx: Context, pool: Pool) -> None:
    fin = ctx.team_finishers()
    for cid, n in sorted(fin.items(), key=lambda kv: (-kv[1], kv[0]))[: CAPS["peers"]]:
        info = ctx.eligible(cid)
        if info is not None:
            _add(pool, cid, info, "peers", ("peers", n, ctx.peer_scope.get(cid, "team")))


def from_interest(ctx: Context, pool: Pool) -> None:
    topics = ctx.top_topics()
    if not topics:
        return
    # The first topic gets the most room: it is where the next pick most likely is.
    shares = {1: (1.0,), 2: (0.6, 0.4), 3: (0.5, 0.3, 0.2)}[len(topics)]
    for (topic, why), share in zip(topics, shares, strict=True):
        per = max(3, round(CAPS["interest"] * share))
        counts, _total = ctx.topic_counts(topic)
        n = (
            _from_top(
                ctx, pool, topic_key(topic), "interest", per, ("interest", topic, why), scan=40
            )
            if counts
            else 0
        )
        if n < per:  # a topic nobody engaged with yet: its easiest items
            most = ctx.seniority + 1
            ev = ("interest", topic, why)
            for cid in ctx.index.by_topic.get(topic, ()):
                if n >= per:
                    break
                if cid in pool:
                    continue
                info = ctx.eligible(cid)
                if info is not None and info.level <= most:
                    _add(pool, cid, info, "interest", ev)
                    n += 1


def _relevant_topics(ctx: Context) -> set[str]:
    topics = {t for t, _ in ctx.top_topics()}
    for s in list(ctx.gaps)[:4]:
        for cid in ctx.index.by_skill_level.get(s, {}).get(1, ())[:1]:
            topics.add(ctx.index.items[cid].topic)
    return topics


def from_fresh(ctx: Context, pool: Pool) -> None:
    horizon = ctx.now - FRESH_DAYS * DAY_MS
    relevant = _relevant_topics(ctx)
    picked: list[tuple[int, str]] = []
    for cid in ctx.index.published_since(max(1, horizon), ctx.now):  # 0: date unknown
        info = ctx.eligible(cid)
        if info is not None:
            picked.append((0 if info.topic in relevant else 1, cid))
    for _rank, cid in sorted(picked)[: CAPS["fresh"]]:
        info = ctx.index.items[cid]
        _add(pool, cid, info, "fresh", ("fresh", (ctx.now - info.published) // DAY_MS))


def from_niche(ctx: Context, pool: Pool) -> None:
    topics = ctx.top_topics()
    if not topics:
        return
    topic = topics[0][0]
    scale = ctx.pop.scale(ctx.now)
    n = 0
    cap, all_counts, prog = CAPS["niche"], ctx.all_counts, ctx.prog
    for cid in ctx.index.by_topic.get(topic, ()):
        if n >= cap:
            break
        if all_counts.get(cid, 0.0) * scale >= 0.5 or cid in pool or cid in prog:
            continue
        info = ctx.eligible(cid)
        if (
            info is not None
            and abs(info.level - ctx.want_level(info.skills[0] if info.skills else "")) <= 1
        ):
            _add(pool, cid, info, "niche", ("niche", topic))
            n += 1


SOURCE_FUNCS: Final = (
    from_paths,
    from_continue,
    from_gaps,
    from_peers,
    from_interest,
    from_cluster,
    from_popular,
    from_fresh,
    from_niche,
)


def generate(ctx: Context) -> Pool:
    """All candidates for one learner now, each with its sources and evidence.

    Sources run in :data:`SOURCES` order, strongest evidence first.
    """
    pool: Pool = {}
    # Called one by one, in SOURCE_FUNCS order: compiled, a direct call each, where
    # calling through the tuple is a generic call (tests/unit/test_candidates.py
    # checks the two orders agree).
    from_paths(ctx, pool)
    from_continue(ctx, pool)
    from_gaps(ctx, pool)
    from_peers(ctx, pool)
    from_interest(ctx, pool)
    from_cluster(ctx, pool)
    from_popular(ctx, pool)
    from_fresh(ctx, pool)
    from_niche(ctx, pool)
    return pool
