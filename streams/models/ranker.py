"""Online ranker: a shared prior per segment plus a small personal residual per learner.

The score of an item for a learner is one logistic model with three additive
layers of weights over the same features (content x learner context)::

    logit = global . x  +  segment . x  +  learner . x

* ``global`` starts from hand-set weights (:data:`RULE_WEIGHTS`: assigned path
  steps and open items first, then skill gaps, interests and popularity), so a
  brand-new deployment already ranks sensibly, and learns from everyone.
* ``segment`` (department x manager or not) learns how that segment deviates
  from everyone: a new learner starts from their segment's behaviour.
* ``learner`` is this learner's residual on top of the two, learned from their
  own impressions, clicks, starts, completions, dismissals and ratings. Its
  weights live in the learner state (``state["ranker"]["w"]``) as a small dict
  of rounded floats, never a pickled model, as DESIGN.md asks.

Each layer is fitted by SGD on the log loss of its own prediction, the lower
layers acting as a fixed offset; L2 pulls the segment and learner layers back
to zero (towards the layer below) when their evidence fades. Offsets are why
this is a few lines of plain Python rather than ``river.linear_model.
LogisticRegression``: River's model has no offset term. Without an offset the
update is exactly River's (``tests/unit/test_ranker.py`` checks it against
``LogisticRegression(optimizer=SGD(lr), intercept_lr=0)``).

Examples
--------
>>> m = Logit(lr=0.5)
>>> for _ in range(20):
...     _ = m.learn({"b": 1.0, "video": 1.0}, 1.0)
...     _ = m.learn({"b": 1.0, "article": 1.0}, 0.0)
>>> m.predict({"b": 1.0, "video": 1.0}) > 0.8 > 0.2 > m.predict({"b": 1.0, "article": 1.0})
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from streams.models.candidates import (
    DAY_MS,
    FRESH_DAYS,
    LOG_POP_EPS,
    POP_EPS,
    Context,
    ItemInfo,
)
from streams.models.popularity import ALL, topic_key
from streams.models.rounding import _BIG, fast_round

Features = dict[str, float]

# Hand-set starting point of the global layer (cold start of the whole system).
RULE_WEIGHTS: Final[dict[str, float]] = {
    "b": 1.0,
    "path": 2.5,
    "due": 1.0,  # assigned by the manager, and soon due
    "prog": 2.5,
    "progf": 0.5,  # already open
    "gap": 1.5,
    "goal": 0.5,
    "lvl": -1.0,  # needed skill, at the right level
    # log shares: topics of recent activity, popularity in topic / segment / all / cluster
    "laf": 0.5,
    "las": 0.5,
    "pint": 0.5,
    "last": 0.5,
    "ltp": 0.5,
    "lsp": 0.3,
    "lap": 0.1,
    "lcp": 0.3,
    "peer": 0.8,
    "new": 0.3,
    "imp": -0.5,
    "dis": -3.0,  # seen many times without a click; dismissed
}
LEARNER_MAX_WEIGHTS: Final = 48
# bound on the personal layer (bytes per learner)


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def features(info: ItemInfo | None, ctx: Context, cid: str | None = None) -> Features:
    """Features of one item for the learner in ``ctx``.

    ``info`` is None for an item the catalog does not know (an open item a tool
    reported); it then only has the bias and progress features.
    """
    if info is None:
        x: Features = {"b": 1.0}
        p = ctx.prog.get(cid or "")
        if p is not None:
            x["prog"] = 1.0
            x["progf"] = float(p[0])
        return x
    x = info.base.copy()
    cid = info.cid
    now = ctx.now
    pn = ctx.path_next.get(cid)
    if pn is not None:
        x["path"] = 1.0
        due = pn[3] if pn[0] == "prereq" else pn[4]
        if due:
            days = (due - now) / DAY_MS
            x["due"] = 1.0 if days < 2 else max(0.0, 1.0 - days / 14)
    p = ctx.prog.get(cid)
    if p is not None:
        x["prog"] = 1.0
        x["progf"] = float(p[0])
    skills = info.skills
    if skills:
        gaps = ctx.gaps
        gap = 0.0
        for s in skills:
            g = gaps.get(s)
            if g is not None:
                gap = max(gap, g[0])
                if g[1] == "goal":
                    x["goal"] = 1.0
        if gap:
            x["gap"] = gap
        # Context's caches read directly (method calls are a fifth of this function);
        # the methods fill them on a miss.
        want = ctx._want.get(skills[0])
        if want is None:
            want = ctx.want_level(skills[0])
        x["lvl"] = abs(info.level - want) / 4
    # Choice model: P(pick) ~ P(topic) * P(item | topic), so log shares enter linearly.
    part = ctx._topic_part.get(info.topic) or ctx.topic_part(info.topic)
    x.update(part[0])
    total = part[2]
    x["ltp"] = math.log(part[1].get(cid, 0.0) / total + POP_EPS) if total else LOG_POP_EPS
    total = ctx.seg_total
    x["lsp"] = math.log(ctx.seg_counts.get(cid, 0.0) / total + POP_EPS) if total else LOG_POP_EPS
    total = ctx.all_total
    x["lap"] = math.log(ctx.all_counts.get(cid, 0.0) / total + POP_EPS) if total else LOG_POP_EPS
    total = ctx.clu_total
    if total:
        x["lcp"] = math.log(ctx.clu_counts.get(cid, 0.0) / total + POP_EPS)
    team = ctx._team if ctx._team is not None else ctx.team_finishers()
    if team:
        peers = team.get(cid)
        if peers:
            x["peer"] = min(peers, 3) / 3
    published = info.published
    age = now - published
    if published and 0 <= age < FRESH_DAYS * DAY_MS:
        x["new"] = 1.0 - age / (FRESH_DAYS * DAY_MS)
    if ctx.imp:
        n = ctx.imp.get(info.fp)
        if n:
            x["imp"] = min(n, 6) / 6
    if ctx.dis:
        n = ctx.dis.get(info.fp)
        if n:
            x["dis"] = min(n, 3) / 3
    return x


def scores(
    infos: list[tuple[str, ItemInfo | None]], ctx: Context, w: dict[str, float]
) -> list[float]:
    """``dot(w, features(info, ctx, cid))`` for each ``(cid, info)``, without the dicts.

    The hot path of :meth:`Recommender.recommend` (a few dozen candidates per
    call): weights are read once per call, per-topic terms once per topic, and
    the terms are added in :func:`features`' key order so every score is
    bit-identical to the dict version (``tests/unit/test_recommend.py`` checks it).
    """
    # Compiled, w.get(...) and math.log(...) written out are direct C calls; kept
    # in locals (the pure-Python habit) they would be generic calls.
    wb, wdur = w.get("b", 0.0), w.get("dur", 0.0)
    wpath, wdue, wprog, wprogf = (
        w.get("path", 0.0),
        w.get("due", 0.0),
        w.get("prog", 0.0),
        w.get("progf", 0.0),
    )
    wgoal, wgap, wlvl = w.get("goal", 0.0), w.get("gap", 0.0), w.get("lvl", 0.0)
    wlaf, wlas = w.get("laf", 0.0), w.get("las", 0.0)
    wpint, wlast = w.get("pint", 0.0), w.get("last", 0.0)
    wltp, wlsp = w.get("ltp", 0.0), w.get("lsp", 0.0)
    wlap, wlcp = w.get("lap", 0.0), w.get("lcp", 0.0)
    wpeer, wnew = w.get("peer", 0.0), w.get("new", 0.0)
    wimp, wdis = w.get("imp", 0.0), w.get("dis", 0.0)
    now = ctx.now
    path_next, prog, gaps = ctx.path_next, ctx.prog, ctx.gaps
    seg_counts, seg_total = ctx.seg_counts, ctx.seg_total
    all_counts, all_total = ctx.all_counts, ctx.all_total
    clu_counts, clu_total = ctx.clu_counts, ctx.clu_total
    team = ctx.team_finishers()
    imp, dis = ctx.imp, ctx.dis
    want = ctx._want
    fresh_ms = FRESH_DAYS * DAY_MS
    # Log shares are shared by all learners ranked between two count changes.
    pop = ctx.pop
    seg_logs = pop.memo(ctx.segment) if seg_total else None
    all_logs = pop.memo(ALL) if all_total else None
    clu_logs = pop.memo(ctx.cluster) if clu_total and ctx.cluster else {}
    # topic -> (weighted topic terms in features' order, topic counts, total, log shares)
    by_topic: dict[str, tuple[tuple[float, ...], dict[str, float], float, dict[str, float]]] = {}
    out: list[float] = []
    for cid, info in infos:
        if info is None:
            s = wb
            p = prog.get(cid)
            if p is not None:
                s += wprog
                s += wprogf * float(p[0])
            out.append(s)
            continue
        s = wb
        s += w.get(info.fkey, 0.0)
        s += wdur * info.dur
        topic = info.topic
        if topic:
            s += w.get(info.tkey, 0.0)
        pn = path_next.get(cid)
        if pn is not None:
            s += wpath
            due = pn[3] if pn[0] == "prereq" else pn[4]
            if due:
                days = (due - now) / DAY_MS
                s += wdue * (1.0 if days < 2 else max(0.0, 1.0 - days / 14))
        p = prog.get(cid)
        if p is not None:
            s += wprog
            s += wprogf * float(p[0])
        skills = info.skills
        if skills:
            gap = 0.0
            goal = False
            for sk in skills:
                g = gaps.get(sk)
                if g is not None:
                    gap = max(gap, g[0])
                    if g[1] == "goal":
                        goal = True
            if goal:
                s += wgoal
            if gap:
                s += wgap * gap
            lvl = want.get(skills[0])
            if lvl is None:
                lvl = ctx.want_level(skills[0])
            s += wlvl * (abs(info.level - lvl) / 4)
        tp = by_topic.get(topic)
        if tp is None:
            f, counts, total = ctx.topic_part(topic)
            terms = [wlaf * f["laf"], wlas * f["las"]]
            if "pint" in f:
                terms.append(wpint)
            if "last" in f:
                terms.append(wlast)
            memo = pop.memo(topic_key(topic)) if total else {}
            tp = by_topic[topic] = (tuple(terms), counts, total, memo)
        for t in tp[0]:
            s += t
        total = tp[2]
        if total:
            v = tp[3].get(cid)
            if v is None:
                v = tp[3][cid] = math.log(tp[1].get(cid, 0.0) / total + POP_EPS)
            s += wltp * v
        else:
            s += wltp * LOG_POP_EPS
        if seg_logs is not None:
            v = seg_logs.get(cid)
            if v is None:
                v = seg_logs[cid] = math.log(seg_counts.get(cid, 0.0) / seg_total + POP_EPS)
            s += wlsp * v
        else:
            s += wlsp * LOG_POP_EPS
        if all_logs is not None:
            v = all_logs.get(cid)
            if v is None:
                v = all_logs[cid] = math.log(all_counts.get(cid, 0.0) / all_total + POP_EPS)
            s += wlap * v
        else:
            s += wlap * LOG_POP_EPS
        if clu_total:
            v = clu_logs.get(cid)
            if v is None:
                v = clu_logs[cid] = math.log(clu_counts.get(cid, 0.0) / clu_total + POP_EPS)
            s += wlcp * v
        if team:
            n = team.get(cid)
            if n:
                s += wpeer * (min(n, 3) / 3)
        published = info.published
        age = now - published
        if published and 0 <= age < fresh_ms:
            s += wnew * (1.0 - age / fresh_ms)
        if imp:
            n = imp.get(info.fp)
            if n:
                s += wimp * (min(n, 6) / 6)
        if dis:
            n = dis.get(info.fp)
            if n:
                s += wdis * (min(n, 3) / 3)
        out.append(s)
    return out


def dot(w: Mapping[str, float], x: Mapping[str, float]) -> float:
    s = 0.0
    for k, v in x.items():
        wk = w.get(k)
        if wk is not None:
            s += wk * v
    return s


class Logit:
    """Logistic regression on dict features with an optional fixed offset, SGD on log loss."""

    def __init__(
        self, weights: Mapping[str, float] | None = None, lr: float = 0.05, l2: float = 0.0
    ) -> None:
        # Copied key by key, not with dict(): CPython 3.11 gives a presized dict (a
        # compiled display of more than 5 keys, as RULE_WEIGHTS, or orjson's, as a
        # restored checkpoint) a table for keys of any type, where a lookup by an
        # equal but not identical string goes through the generic rich comparison;
        # dict() would copy that table. A dict filled key by key keeps a str table.
        self.weights: dict[str, float] = {k: v for k, v in (weights or {}).items()}
        self.lr = lr
        self.l2 = l2
        self.n = 0

    def predict(self, x: Mapping[str, float], offset: float = 0.0) -> float:
        return sigmoid(offset + dot(self.weights, x))

    def learn(
        self, x: Mapping[str, float], y: float, weight: float = 1.0, offset: float = 0.0
    ) -> float:
        """One SGD step; returns this layer's logit before the step (offset included)."""
        z = offset + dot(self.weights, x)
        g = (sigmoid(z) - y) * weight
        w = self.weights
        lr, l2 = self.lr, self.l2
        for k, v in x.items():
            wk = w.get(k, 0.0)
            w[k] = wk - lr * (g * v + l2 * wk)
        self.n += 1
        return z

    def to_dict(self) -> dict[str, Any]:
        return {"w": self.weights, "lr": self.lr, "l2": self.l2, "n": self.n}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Logit:
        m = cls(d["w"], d["lr"], d["l2"])
        m.n = d.get("n", 0)
        return m


class SharedPrior:
    """The global layer and one segment layer per segment (shared by all learners)."""

    def __init__(
        self, lr: float = 0.02, segment_lr: float = 0.02, segment_l2: float = 1e-4
    ) -> None:
        self.globe = Logit(RULE_WEIGHTS, lr)
        self.segments: dict[str, Logit] = {}
        self.segment_lr = segment_lr
        self.segment_l2 = segment_l2
        # segment -> (layers' identities and step counts, merged weights): the worker
        # ranks every changed learner of a batch after all its learning is done.
        self._merged: dict[str, tuple[tuple[int, ...], dict[str, float]]] = {}

    def weights(self, segment: str) -> dict[str, float]:
        """Global + segment weights merged into one dict (one dot product per item)."""
        seg = self.segments.get(segment)
        stamp = (id(self.globe), self.globe.n, id(seg), seg.n if seg is not None else -1)
        hit = self._merged.get(segment)
        if hit is not None and hit[0] == stamp:
            return dict(hit[1])
        w = dict(self.globe.weights)
        if seg is not None:
            for k, v in seg.weights.items():
                w[k] = w.get(k, 0.0) + v
        self._merged[segment] = (stamp, w)
        return dict(w)

    def learn(self, segment: str, x: Features, y: float, weight: float) -> float:
        """Train both layers; returns the prior's logit for ``x`` (before the update)."""
        z_g = self.globe.learn(x, y, weight)
        seg = self.segments.get(segment)
        if seg is None:
            seg = self.segments[segment] = Logit(None, self.segment_lr, self.segment_l2)
        return seg.learn(x, y, weight, offset=z_g)

    def learn_all(
        self,
        segment: str,
        x: Features,
        y: float,
        weight: float,
        section: dict[str, Any] | None,
        lr: float = 0.05,
        l2: float = 0.02,
    ) -> None:
        """:meth:`learn`, then :func:`learn_learner` on ``section`` (if not None), fused.

        Same arithmetic in the same order as the two calls (each layer's logit
        reads only its own weights, so all three are summed before any update),
        with one pass over ``x`` for the sums and one for the updates.
        """
        seg = self.segments.get(segment)
        if seg is None:
            seg = self.segments[segment] = Logit(None, self.segment_lr, self.segment_l2)
        # Compiled, gw.get(k, 0.0) on a dict is a direct C lookup; a bound method kept
        # in a local (the pure-Python habit) would be a generic call each time.
        gw, sw = self.globe.weights, seg.weights
        lr_g, l2_g = self.globe.lr, self.globe.l2
        lr_s, l2_s = seg.lr, seg.l2
        # A missing weight adds 0.0 * v, which leaves a sum starting at 0.0 unchanged.
        # Each key occurs once in x, so the weights read for the sums are still
        # current when the update pass writes them.
        dg = ds = dl = 0.0
        if section is None:
            rows2 = []
            for k, v in x.items():
                a = gw.get(k, 0.0)
                b = sw.get(k, 0.0)
                dg += a * v
                ds += b * v
                rows2.append((k, v, a, b))
            z_g = 0.0 + dg
            g_g = (sigmoid(z_g) - y) * weight
            g_s = (sigmoid(z_g + ds) - y) * weight
            for k, v, a, b in rows2:
                gw[k] = a - lr_g * (g_g * v + l2_g * a)
                sw[k] = b - lr_s * (g_s * v + l2_s * b)
        else:
            lw: dict[str, float] = section.setdefault("w", {})
            rows3 = []
            for k, v in x.items():
                a = gw.get(k, 0.0)
                b = sw.get(k, 0.0)
                c = lw.get(k, 0.0)
                dg += a * v
                ds += b * v
                dl += c * v
                rows3.append((k, v, a, b, c))
            z_g = 0.0 + dg
            z_s = z_g + ds
            g_g = (sigmoid(z_g) - y) * weight
            g_s = (sigmoid(z_s) - y) * weight
            g_l = (sigmoid(z_s + dl) - y) * weight
            for k, v, a, b, c in rows3:
                gw[k] = a - lr_g * (g_g * v + l2_g * a)
                sw[k] = b - lr_s * (g_s * v + l2_s * b)
                # fast_round(., 4) inlined (the hottest rounding of the worker; a zero,
                # whatever its sign, is dropped below)
                nw = c - lr * (g_l * v + l2 * c)
                t = nw * 1e4
                if -_BIG < t < _BIG:
                    f = float(math.floor(t))  # see fast_round
                    d = t - f
                    nw = round(nw, 4) if d == 0.5 else (f + 1.0 if d > 0.5 else f) / 1e4
                else:
                    nw = round(nw, 4)
                if nw:
                    lw[k] = nw
                else:
                    lw.pop(k, None)
            if len(lw) > LEARNER_MAX_WEIGHTS:
                _trim(lw)
        self.globe.n += 1
        seg.n += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "global": self.globe.to_dict(),
            "segment_lr": self.segment_lr,
            "segment_l2": self.segment_l2,
            "segments": {k: m.to_dict() for k, m in self.segments.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SharedPrior:
        p = cls(d["global"]["lr"], d["segment_lr"], d["segment_l2"])
        p.globe = Logit.from_dict(d["global"])
        p.segments = {k: Logit.from_dict(m) for k, m in d["segments"].items()}
        return p


def learner_weights(section: Mapping[str, Any]) -> Mapping[str, float]:
    return section.get("w") or {}


def learn_learner(
    section: dict[str, Any],
    x: Features,
    y: float,
    weight: float,
    offset: float,
    lr: float = 0.05,
    l2: float = 0.02,
) -> None:
    """One SGD step of the learner's residual layer, kept in ``section["w"]``.

    Weights are rounded to 4 decimals (small JSON, deterministic) and the layer
    is bounded to :data:`LEARNER_MAX_WEIGHTS` entries, dropping the smallest.
    """
    w: dict[str, float] = section.setdefault("w", {})
    z = offset + dot(w, x)
    g = (sigmoid(z) - y) * weight
    for k, v in x.items():
        wk = w.get(k, 0.0)
        nw = fast_round(wk - lr * (g * v + l2 * wk), 4)
        if nw:
            w[k] = nw
        else:
            w.pop(k, None)
    if len(w) > LEARNER_MAX_WEIGHTS:
        _trim(w)


def _trim(w: dict[str, float]) -> None:
    """Drop the smallest weights down to :data:`LEARNER_MAX_WEIGHTS`."""
    for k in sorted(w, key=lambda k: (abs(w[k]), k))[: len(w) - LEARNER_MAX_WEIGHTS]:
        del w[k]


def combined_weights(
    prior: SharedPrior, segment: str, section: Mapping[str, Any]
) -> dict[str, float]:
    """All three layers merged for one learner (one dot product per candidate)."""
    w = prior.weights(segment)
    for k, v in learner_weights(section).items():
        w[k] = w.get(k, 0.0) + v
    return w
