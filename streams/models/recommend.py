"""Personalised recommendations: candidates -> online ranker -> exploration -> explanations.

Wiring in the stream worker (``streams/batch.py``)
------------------------------------------------
One :class:`Recommender` per worker process, next to its ``ReferenceData`` and
the knowledge-tracing ``SkillModel``::

    reco = Recommender(reference, Popularity(), skill_model=skills, k=10,
                       explore_slots=2, seed=0)

For every event that :func:`streams.models.learner.guard` says is ``applied``,
in this order::

    skills.learn(state["mastery"], ...)   # graded answers only (mastery issue)
    reco.observe(state, event)            # before apply_activity: features must
    learner.apply_activity(state, event)  # describe what the learner saw first

Front-end feedback events (verbs ``impression``, ``clicked``, ``dismissed``,
``rated``) go through the same ``observe``; a front-end should copy the item's
``source`` from the list into the event's ``extensions["source"]``, which
trains the exploration arms. After the batch, for each changed learner::

    items = reco.recommend(state, profile, paths, role_skills, now_ms, learner_id=lid)

``paths``/``role_skills`` may be ``None`` (then looked up in the reference
data through an index); ``cluster=`` (interest cluster id, also accepted by
``observe``) and ``peers=`` (content_id -> teammates who finished it) are
optional inputs for later issues. ``items`` are ``RecommendedItem`` dicts
(content_id, title, score, source, reasons) in order; put
:data:`MODEL_VERSION` in the list's ``model_version``. Costs on this machine
with a 300-item catalog: ``observe`` ~40 µs per event on average (a pick of new
content also learns 8 sampled alternatives), ``recommend`` ~200 µs (best pass
~160 µs; ``./lp evaluate recommendations`` prints both).

State to checkpoint
-------------------
* Per learner: the ``ranker`` section of the learner state (personal weights,
  topic affinities, last topic, cached mastery and quiz scores, impression and
  dismissal memory, exploration arms), ~1 KB as JSON; it travels with the state
  table, nothing else to do. ``recommend`` does not modify the state, so a list
  depends only on the applied events (idempotent under replay with the guard).
* Per worker (shared): ``reco.checkpoint()`` -> JSON-able dict with the
  popularity counts and the shared prior (global + segment weights);
  ``Recommender.restore(reference, data, ...)`` rebuilds it. Losing it is not
  fatal (the prior restarts from the hand-set rules, popularity from zero) but
  rankings are worse until it re-learns, so save it with the batch commits,
  e.g. every N batches to a compacted topic or a changelogged table. Each worker
  learns popularity and the prior from its own partitions' learners only.

The catalog and path indexes are rebuilt only when ``reference.version`` changes.

Examples
--------
>>> from streams.models.state import new_state
>>> class Ref:
...     version = 1
...     catalog = {"c1": {"title": "SQL basics", "skills": ["sql"], "topics": ["data"]}}
...     paths = {}
...     role_skills = {"data_analyst": {"sql": 0.8}}
>>> r = Recommender(Ref())
>>> s = new_state(); s["profile"] = {"learner_id": "l1", "role": "data_analyst"}
>>> [(i["content_id"], i["source"], i["reasons"]) for i in r.recommend(s, now_ms=0)]
[('c1', 'gap', ['Builds SQL, a skill your role needs'])]
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any, Final

from streams.models import explain, explore
from streams.models.candidates import (
    DAY_MS,
    FRESH_DAYS,
    CatalogIndex,
    Context,
    ItemInfo,
    generate,
)
from streams.models.popularity import ALL, Popularity, cluster_key, role_key, topic_key
from streams.models.ranker import (
    SharedPrior,
    combined_weights,
    features,
    scores,
    sigmoid,
)
from streams.models.rng import Rng
from streams.models.rounding import fast_round
from streams.models.state import LearnerState

MODEL_VERSION: Final = "ranker-1"

STARTING: Final = frozenset(
    {"started", "launched", "viewed", "resumed", "progressed", "experienced"}
)
COMPLETING: Final = frozenset({"completed", "passed", "mastered"})
QUIZ_SCORED: Final = frozenset(
    {"attempted", "completed", "passed", "failed", "graded", "submitted"}
)
FEEDBACK: Final = frozenset({"impression", "clicked", "dismissed"})
RESUME_GAP_MS: Final = 3_600_000  # touching an open item again after an hour is a new choice
# per-choice decay of the topic affinities
AFF_FAST: Final = 0.6
AFF_SLOW: Final = 0.9
MAX_TOPICS: Final = 8
MAX_QUIZ: Final = 8
MAX_IMP: Final = 24
MAX_DIS: Final = 12
MAX_MASTERY: Final = 12


class Recommender:
    """Per-worker recommender; per-learner parts live in ``state["ranker"]``.

    Parameters
    ----------
    reference
        Object with ``catalog`` (content_id -> content record), ``paths``
        (path_id -> path record), ``role_skills`` (role -> {skill: target}) and
        ``version`` (bumped on change), e.g. ``streams.reference.ReferenceData``.
    popularity
        Shared :class:`Popularity` (created empty if None).
    skill_model
        Optional ``streams.models.mastery.SkillModel`` (``mastery(section, skill)``
        on ``state["mastery"]``). When ``observe`` sees a graded answer it caches
        the model's mastery of the answer's skills in the ranker section (call
        ``skill_model.learn`` for that event first); skill gaps and levels use it.
    k, explore_slots
        List length, and how many of its last slots may be exploratory.
    seed
        Seeds the exploration draws (with the learner id and event count).
    impression_weight
        Weight of "shown, not clicked" as a negative label.
    negatives, negative_weight
        On a learner's own pick of new content, this many other items they
        could have picked then (drawn uniformly from the eligible catalog) are
        learned as "not picked", with this weight. Impressions alone would only
        teach the ranker about items it already ranks high (its own selection
        bias); these teach it what the learner chose among everything on offer.
    personal, learner_lr, learner_l2
        False keeps the learner layer at zero (ablation: prior only); SGD step
        and L2 (pull towards the shared prior) of the learner layer.
    max_continue
        At most this many open items ahead of new ones (None: no limit).
    recent_topic_rank
        The best new item in the topic of the learner's latest pick is lifted
        into the top this-many (None: off), so one pick already shows.
    """

    def __init__(
        self,
        reference: Any,
        popularity: Popularity | None = None,
        skill_model: Any = None,
        k: int = 10,
        explore_slots: int = 2,
        seed: int = 0,
        prior: SharedPrior | None = None,
        impression_weight: float = 0.3,
        negatives: int = 8,
        negative_weight: float = 1.0,
        personal: bool = True,
        learner_lr: float = 0.05,
        learner_l2: float = 0.02,
        max_continue: int = 2,
        recent_topic_rank: int | None = 5,
    ) -> None:
        self.ref = reference
        self.popularity = popularity if popularity is not None else Popularity()
        self.skill_model = skill_model
        self.k = k
        self.explore_slots = explore_slots
        self.seed = seed
        self.prior = prior if prior is not None else SharedPrior()
        self.impression_weight = impression_weight
        self.negatives = negatives
        self.negative_weight = negative_weight
        self.personal = personal
        self.learner_lr = learner_lr
        self.learner_l2 = learner_l2
        self.max_continue = max_continue
        self.recent_topic_rank = recent_topic_rank
        self._index: CatalogIndex | None = None
        self._index_key: Any = None

    # -- shared state ------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        """Shared state to save with the worker's commits (JSON-able)."""
        return {
            "v": 1,
            "model_version": MODEL_VERSION,
            "popularity": self.popularity.to_dict(),
            "prior": self.prior.to_dict(),
        }

    @classmethod
    def restore(cls, reference: Any, data: Mapping[str, Any], **kwargs: Any) -> Recommender:
        return cls(
            reference,
            Popularity.from_dict(data["popularity"]),
            prior=SharedPrior.from_dict(data["prior"]),
            **kwargs,
        )

    def index(self) -> CatalogIndex:
        """Catalog and path indexes for the current reference version."""
        version = getattr(self.ref, "version", None)
        key = version if version is not None else (id(self.ref.catalog), len(self.ref.catalog))
        if self._index is None or key != self._index_key:
            # dict() copies are atomic under the GIL: the reader thread may be writing.
            self._index = CatalogIndex(
                dict(self.ref.catalog),
                list(dict(getattr(self.ref, "paths", {}) or {}).values()),
                version or 0,
            )
            self._index_key = key
        return self._index

    def _mastery_fn(self, state: Mapping[str, Any]) -> Callable[[str], float | None] | None:
        # The skill model's estimates, cached in the section when answers arrive (a
        # prediction costs ~10 µs; a list needs a dozen skills).
        cached = (state.get("ranker") or {}).get("m")
        return cached.get if cached else None

    def context(
        self,
        state: dict[str, Any],
        learner_id: str,
        now_ms: int,
        profile: dict[str, Any] | None = None,
        paths: Any = None,
        role_skills: Mapping[str, float] | None = None,
        cluster: str | int | None = None,
        peers: Mapping[str, int] | None = None,
    ) -> Context:
        profile = profile if profile is not None else (state.get("profile") or {})
        if role_skills is None:
            role_skills = (getattr(self.ref, "role_skills", {}) or {}).get(
                profile.get("role", ""), {}
            )
        return Context(
            state,
            profile,
            learner_id,
            self.index(),
            self.popularity,
            now_ms,
            paths,
            role_skills,
            self._mastery_fn(state),
            cluster,
            peers,
        )

    # -- learning ----------------------------------------------------------------------
    def observe(
        self, state: LearnerState, event: dict[str, Any], cluster: str | int | None = None
    ) -> bool:
        """Learn from one applied event (call before ``learner.apply_activity``).

        Returns whether anything a ranking reads changed enough to rank again now
        (a lesson for the ranker, a scored attempt, a quiz score, feedback): if not,
        the learner's last list still stands apart from progress
        (streams/listcache.py, docs/decisions/0015).
        """
        sec: dict[str, Any] = state.setdefault("ranker", {})
        sec["n"] = sec.get("n", 0) + 1
        verb = event["verb"]
        t = int(event["occurred_at_ms"])
        cid = event.get("object_id") or ""
        result: dict[str, Any] = event.get("result") or {}
        idx = self.index()
        info = idx.items.get(cid)
        if self.skill_model is not None and (
            result.get("success") is not None or result.get("score_scaled") is not None
        ):
            skills = (event.get("context") or {}).get("skill_ids") or (info.skills if info else ())
            _refresh_mastery(sec, self.skill_model, state.get("mastery") or {}, skills)
            # One question of an attempt moves mastery a little; the list is ranked
            # again when the attempt is scored (or when it is too old): not per question.
            changed = verb != "answered"
        else:
            changed = False
        if info is None:
            return changed
        if result.get("score_scaled") is not None and verb in QUIZ_SCORED and info.fmt == "quiz":
            _remember_quiz(sec, info.skills, float(result["score_scaled"]), t)
            changed = True
        label = self._label(state, verb, cid, t, result)
        if label is None:
            return changed or verb in FEEDBACK
        y, weight, choice, completion = label
        learner_id = event["learner_id"]
        profile: dict[str, Any] = state.get("profile") or {}
        ctx = self.context(state, learner_id, t, profile, cluster=cluster)
        learner_sec = sec if self.personal else None
        lr, l2 = self.learner_lr, self.learner_l2
        self.prior.learn_all(ctx.segment, features(info, ctx), y, weight, learner_sec, lr, l2)
        if choice and self.negatives:
            self._learn_alternatives(sec, ctx, cid, learner_id)
        if choice or completion:
            keys = [ALL, ctx.segment, role_key(profile.get("role", ""))]
            if info.topic:
                keys.append(topic_key(info.topic))
            if cluster is not None:
                keys.append(cluster_key(cluster))
            self.popularity.add(keys, cid, t, 1.0 if choice else 0.5)
            # Opted-out learners are never counted for their peers (issue 6, privacy).
            if completion and ctx.team and not profile.get("peer_features_opt_out"):
                self.popularity.add_team_completion(ctx.team, cid, learner_id, t)
        if choice and info.topic:
            _bump_affinity(sec, info.topic)
            sec["lt"] = info.topic
        if verb in FEEDBACK:
            source = (event.get("extensions") or {}).get("source", "")
            self._remember_feedback(sec, verb, info, ctx, source)
        return True

    def _learn_alternatives(
        self, sec: dict[str, Any], ctx: Context, cid: str, learner_id: str
    ) -> None:
        # Uniform over what the learner could have picked (not over our candidates:
        # the learner picks from the whole catalog, so negatives drawn from our own
        # shortlist would teach the ranker its own biases, e.g. "popular = not picked").
        items = ctx.index.ordered
        if len(items) < 2:
            return
        rng = Rng(zlib.crc32(f"{self.seed}:{learner_id}:{sec['n']}:neg".encode()))
        learner_sec = sec if self.personal else None
        lr, l2 = self.learner_lr, self.learner_l2
        taken = 0
        # Methods called as written, not kept in locals: compiled, that is a direct
        # C call rather than a generic one through a bound-method object.
        n_items, prior = len(items), self.prior
        segment, weight = ctx.segment, self.negative_weight
        for _ in range(4 * self.negatives):
            other = items[rng.randrange(n_items)]
            if other == cid:
                continue
            info = ctx.eligible(other)
            if info is None:
                continue
            prior.learn_all(segment, features(info, ctx), 0.0, weight, learner_sec, lr, l2)
            taken += 1
            if taken == self.negatives:
                break

    def _label(
        self, state: LearnerState, verb: str, cid: str, t: int, result: Mapping[str, Any]
    ) -> tuple[float, float, bool, bool] | None:
        """(label, weight, is a new choice, is a completion) or None for no lesson."""
        if verb == "impression":
            return 0.0, self.impression_weight, False, False
        if verb == "clicked":
            return 1.0, 1.0, False, False
        if verb == "dismissed":
            return 0.0, 1.5, False, False
        if verb == "rated":
            rating = result.get("rating")
            return (float(rating), 1.0, False, False) if rating is not None else None
        done = state.get("done") or {}
        if verb in COMPLETING or result.get("completion") is True:
            return (1.0, 0.5, False, True) if cid not in done else None
        if verb in STARTING:
            prog = (state.get("prog") or {}).get(cid)
            if cid in done:
                return None
            if prog is None:
                return 1.0, 1.0, True, False
            if t - prog[1] >= RESUME_GAP_MS:
                return 1.0, 0.5, False, False
        return None

    def _remember_feedback(
        self, sec: dict[str, Any], verb: str, info: ItemInfo, ctx: Context, source: str
    ) -> None:
        """Per-item impression/dismissal memory and the exploration arms' counts."""
        if verb == "impression":
            _count(sec, "imp", info.fp, MAX_IMP)
        elif verb == "dismissed":
            _count(sec, "dis", info.fp, MAX_DIS)
        if verb in ("impression", "clicked"):
            # An exploratory slot is shown as source "explore": find the arm it came from.
            arm = _arm_of(info, ctx) if source == "explore" else source
            explore.record(sec, arm, clicked=verb == "clicked")

    # -- recommending ------------------------------------------------------------------
    def recommend(
        self,
        state: LearnerState,
        profile: dict[str, Any] | None = None,
        paths: Any = None,
        role_skills: Mapping[str, float] | None = None,
        now_ms: int | None = None,
        *,
        learner_id: str = "",
        cluster: str | int | None = None,
        peers: Mapping[str, int] | None = None,
        k: int | None = None,
    ) -> list[dict[str, Any]]:
        """Top-K ``RecommendedItem`` dicts for one learner. Does not modify ``state``."""
        if now_ms is None:
            now_ms = int(time.time() * 1000)
        profile = profile if profile is not None else (state.get("profile") or {})
        learner_id = learner_id or profile.get("learner_id", "")
        ctx = self.context(state, learner_id, now_ms, profile, paths, role_skills, cluster, peers)
        sec = state.get("ranker") or {}
        pool = generate(ctx)
        w = (
            combined_weights(self.prior, ctx.segment, sec)
            if self.personal
            else self.prior.weights(ctx.segment)
        )
        # (-score, content_id) sorts best first, ties by id; ids are unique in the pool.
        cands = list(pool.values())
        zs = scores([(c.cid, c.info) for c in cands], ctx, w)
        scored = sorted([(-z, c.cid, c) for z, c in zip(zs, cands, strict=True)])
        ranked = [(-z, c, c.sources) for z, _cid, c in scored]
        if self.max_continue is not None:
            ranked = _limit_continue(ranked, self.max_continue)
        if self.recent_topic_rank and ctx.last_topic:
            _lift_recent_topic(ranked, ctx.last_topic, self.recent_topic_rank)
        rng = Rng(zlib.crc32(f"{self.seed}:{learner_id}:{sec.get('n', 0)}".encode()))
        chosen = explore.select(ranked, k or self.k, self.explore_slots, sec.get("arm") or {}, rng)
        tz = profile.get("time_zone") or "UTC"
        out = []
        for z, c, arm, explored in chosen:
            evidence = c.evidence
            if explored:  # the arm's own evidence first: it is why this item is here
                evidence = sorted(evidence, key=lambda e, a=arm: e[0] != a)  # type: ignore[misc]
            out.append(
                {
                    "content_id": c.cid,
                    "title": c.info.title if c.info else c.cid,
                    "score": fast_round(sigmoid(z), 4),
                    "source": "explore" if explored else c.sources[0],
                    "reasons": explain.reasons(evidence, now_ms, tz, explored),
                }
            )
        return out


def _arm_of(info: ItemInfo, ctx: Context) -> str:
    """The exploration arm an item most likely came from (the sources' own tests)."""
    if info.published and 0 <= ctx.now - info.published < FRESH_DAYS * DAY_MS:
        return "fresh"
    if ctx.team_finishers().get(info.cid):
        return "peers"
    if ctx.clu_total and ctx.clu_counts.get(info.cid):
        return "cluster"
    if info.topic in {t for t, _ in ctx.top_topics()}:
        if ctx.all_counts.get(info.cid, 0.0) * ctx.pop.scale(ctx.now) < 0.5:
            return "niche"
        return "interest"
    if any(s in ctx.gaps for s in info.skills):
        return "gap"
    return "popular"


def _limit_continue(ranked: list[Any], most: int) -> list[Any]:
    """Keep at most ``most`` open items ahead of the rest: the list is for what is next."""
    head, later = [], []
    n = 0
    for entry in ranked:
        if entry[2][0] == "continue":  # the main source (Candidate.source)
            n += 1
            if n > most:
                later.append(entry)
                continue
        head.append(entry)
    return head + later


def _lift_recent_topic(ranked: list[Any], topic: str, rank: int) -> None:
    """Make sure the best new item in the topic of the learner's latest pick is in the top
    ``rank``: the list visibly follows what they just did, even when their history
    (and so the ranker) still points elsewhere."""
    for i, entry in enumerate(ranked):
        cand = entry[1]
        if cand.info is not None and cand.info.topic == topic and cand.source != "continue":
            if i >= rank:
                ranked.insert(rank - 1, ranked.pop(i))
            return


def _count(sec: dict[str, Any], name: str, fp: str, cap: int) -> None:
    d: dict[str, int] = sec.setdefault(name, {})
    d[fp] = d.pop(fp, 0) + 1  # re-insert: dict order is recency, oldest dropped first
    while len(d) > cap:
        del d[next(iter(d))]


def _bump_affinity(sec: dict[str, Any], topic: str) -> None:
    for name, decay in (("af", AFF_FAST), ("as", AFF_SLOW)):
        aff: dict[str, float] = sec.setdefault(name, {})
        for tp in list(aff):
            v = fast_round(aff[tp] * decay, 3)
            if v < 0.01:
                del aff[tp]
            else:
                aff[tp] = v
        aff[topic] = fast_round(aff.get(topic, 0.0) + 1.0, 3)
        if len(aff) > MAX_TOPICS:
            del aff[min(aff, key=lambda tp: (aff[tp], tp))]


def _refresh_mastery(
    sec: dict[str, Any], model: Any, section: Mapping[str, Any], skills: Any
) -> None:
    m: dict[str, float] = sec.setdefault("m", {})
    for s in skills:
        if s in m:  # re-insert: dict order is recency, oldest dropped first
            del m[s]
        m[s] = fast_round(float(model.mastery(section, s)), 3)
    while len(m) > MAX_MASTERY:
        del m[next(iter(m))]


def _remember_quiz(sec: dict[str, Any], skills: tuple[str, ...], score: float, t: int) -> None:
    q: dict[str, list[int]] = sec.setdefault("q", {})
    for s in skills:
        q.pop(s, None)
        q[s] = [round(max(0.0, min(1.0, score)) * 100), t]
    while len(q) > MAX_QUIZ:
        del q[next(iter(q))]


__all__ = ["DAY_MS", "MODEL_VERSION", "Recommender"]
