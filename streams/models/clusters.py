"""Online interest clusters: one shared River k-means, published centroids, sticky membership.

Three pieces, used in different places (docs/decisions/0008-shared-interest-clusters.md):

:class:`InterestClusters`
    The one clustering model: sequential k-means over sparse interest vectors,
    its centres held in a ``river.cluster.KMeans`` and moved with River's
    update rule. Only the clustering agent owns and updates it. It starts with
    a short warm-up (k-means++ seeding and a few Lloyd passes over the first
    vectors, so no centre starts in an empty corner), then moves the nearest
    centre towards each vector at a rate of 1/count, floored at ``rate`` so
    centres keep following the organisation's drift. Centre ids never change.
    The nearest centre is found with sparse dot products (River's search is
    dense over every key ever seen: ~0.5 ms instead of ~20 µs here).
:class:`Snapshot`
    Versioned, JSON-able centroids and labels the agent publishes; every worker
    holds the latest and assigns its own learners locally.
:func:`assign`
    Sticky membership with hysteresis: a learner leaves their cluster only when
    another centroid is closer by ``margin`` while the learner adds at least
    ``patience`` units of new evidence (about two completions), so a cluster
    does not flap on every event.

Examples
--------
>>> model = InterestClusters(n_clusters=2, warmup=4, seed=1)
>>> for x in ({"t:data": 1.0}, {"t:design": 1.0}, {"t:data": 0.9, "s:sql": 0.44},
...           {"t:design": 0.9, "s:figma": 0.44}):
...     _ = model.learn_one(x)
>>> snap = model.snapshot(version=1)
>>> sorted(snap.labels.values())
['Data: SQL', 'Design: Figma']
>>> sec: dict = {}
>>> cid = assign(sec, {"t:data": 1.0}, snap, evidence=1.0, t_ms=0)
>>> snap.labels[cid]
'Data: SQL'
>>> assign(sec, {"t:design": 1.0}, snap, evidence=1.0, t_ms=1) == cid  # not yet
True
>>> snap.labels[assign(sec, {"t:design": 1.0}, snap, evidence=1.0, t_ms=2)]
'Design: Figma'
"""

from __future__ import annotations

import collections
import functools
import math
import random
from collections.abc import Mapping
from typing import Any, Final

from river import cluster

Vector = Mapping[str, float]
MARGIN: Final = 0.1  # distance units on unit vectors (0 .. 2)
PATIENCE: Final = 2.0  # evidence (interest.observe weights) while the challenger stays closer
PRUNE: Final = 1e-3  # centroid coordinates below this are dropped from snapshots
_UPPER: Final = frozenset({"sql", "crm", "gdpr", "ux", "api", "hr", "qa", "ai", "ml", "it", "ui"})
_SMALL: Final = frozenset({"of", "and", "in", "the", "to", "for", "a"})


def words(ident: str) -> str:
    """Human name of a skill or topic id.

    >>> words("ux_research"), words("sales_craft"), words("code_of_conduct")
    ('UX Research', 'Sales Craft', 'Code of Conduct')
    """
    parts = ident.split("_")
    return " ".join(
        w.upper() if w in _UPPER else w if i and w in _SMALL else w.capitalize()
        for i, w in enumerate(parts)
    )


def _sqdist(a: Vector, b: Vector) -> float:
    # Sorted keys: the same float sum in every process (set order depends on the hash seed).
    return sum((a.get(k, 0.0) - b.get(k, 0.0)) ** 2 for k in sorted({*a, *b}))


class InterestClusters:
    """The shared online k-means over interest vectors (owned by one clustering agent).

    Parameters
    ----------
    n_clusters
        Number of centres (ids ``"0"`` .. ``str(n_clusters - 1)``).
    rate
        Floor of the per-centre learning rate (River's ``halflife``): after
        ``1 / rate`` vectors a centre is an exponential moving average.
    warmup
        Vectors buffered before the centres are seeded (default 25 per centre).
    seed
        Seeds the k-means++ draws; the same inputs give the same centres.
    """

    def __init__(
        self, n_clusters: int = 8, rate: float = 0.02, warmup: int | None = None, seed: int = 0
    ) -> None:
        if n_clusters < 1:
            raise ValueError("n_clusters must be >= 1")
        self.n_clusters = n_clusters
        self.rate = rate
        self.warmup = 25 * n_clusters if warmup is None else max(1, warmup)
        self.seed = seed
        # sigma=0: a centre nobody claimed sits at the origin, one unit from any
        # unit vector, and the first vector it attracts becomes it (rate 1/1).
        self.km = cluster.KMeans(n_clusters=n_clusters, halflife=rate, mu=0.0, sigma=0.0, seed=seed)
        self.counts: list[float] = [0.0] * n_clusters
        self._norm2: list[float] = [0.0] * n_clusters  # squared norm of each centre
        self.buffer: list[dict[str, float]] = []
        self.learned = 0

    @property
    def ready(self) -> bool:
        """True once the warm-up is over and centres exist."""
        return not self.buffer and self.learned > 0

    # -- learning ----------------------------------------------------------------------
    def learn_one(self, x: Vector) -> int | None:
        """Learn one interest vector; returns the centre it moved (None during warm-up)."""
        if not x:
            return None
        self.learned += 1
        if self.learned <= self.warmup:
            self.buffer.append(dict(x))
            if len(self.buffer) >= self.warmup:
                self._seed()
            return None
        c = self._nearest(x)
        rate = max(self.rate, 1.0 / (self.counts[c] + 1.0))
        # River's KMeans update (centre += halflife * (x - centre)), applied here to
        # the chosen centre over its keys AND x's: River's own learn_one moves only
        # the keys of x (a centre must also shrink on features this vector lacks)
        # and searches the nearest centre densely, over every key ever seen.
        self.km.halflife = rate
        centre = self.km.centers[c]
        for k in {*centre, *x}:
            v = centre.get(k, 0.0)
            v += rate * (x.get(k, 0.0) - v)
            if abs(v) < 1e-6:
                centre.pop(k, None)
            else:
                centre[k] = v
        self._norm2[c] = sum(v * v for v in centre.values())
        self.counts[c] += 1.0
        return c

    def _nearest(self, x: Vector) -> int:
        """Nearest centre by sparse dot products (ties: the lowest id, as in River)."""
        xx = sum(v * v for v in x.values())
        best, best_d = 0, math.inf
        for i, centre in self.km.centers.items():
            dot = sum(v * centre.get(k, 0.0) for k, v in x.items())
            d = self._norm2[i] + xx - 2.0 * dot
            if d < best_d:
                best, best_d = i, d
        return best

    def _seed(self) -> None:
        """k-means++ seeding and Lloyd passes over the warm-up buffer."""
        pts = self.buffer
        rng = random.Random(self.seed)
        centres: list[dict[str, float]] = [dict(pts[rng.randrange(len(pts))])]
        while len(centres) < self.n_clusters:
            d = [min(_sqdist(p, c) for c in centres) for p in pts]
            total = sum(d)
            if total <= 1e-12:
                break  # fewer distinct points than centres: the rest stay at the origin
            r, acc = rng.random() * total, 0.0
            for p, dp in zip(pts, d, strict=True):
                acc += dp
                if acc >= r:
                    centres.append(dict(p))
                    break
        members: list[list[dict[str, float]]] = []
        for _ in range(10):
            members = [[] for _ in centres]
            for p in pts:
                members[min(range(len(centres)), key=lambda i: _sqdist(p, centres[i]))].append(p)
            new = [_mean(m) if m else c for m, c in zip(members, centres, strict=True)]
            if new == centres:
                break
            centres = new
        zero = functools.partial(self.km._rng.gauss, 0.0, 0.0)
        for i, (c, m) in enumerate(zip(centres, members, strict=True)):
            self.km.centers[i] = collections.defaultdict(zero, c)
            self._norm2[i] = sum(v * v for v in c.values())
            self.counts[i] = float(len(m))
        self.buffer = []

    # -- reading -----------------------------------------------------------------------
    def predict_one(self, x: Vector) -> int | None:
        """Nearest live centre, None during warm-up."""
        if not self.ready or not x:
            return None
        return self._nearest(x)

    def centroids(self) -> dict[str, dict[str, float]]:
        """Live centres (absorbed at least one vector), sparse and rounded."""
        out: dict[str, dict[str, float]] = {}
        if not self.ready:
            return out
        for i, centre in self.km.centers.items():
            if self.counts[i] > 0:
                out[str(i)] = {k: round(v, 4) for k, v in sorted(centre.items()) if abs(v) >= PRUNE}
        return out

    def snapshot(self, version: int, **meta: Any) -> Snapshot:
        """Centroids, labels and counts to publish (``meta`` is kept as is)."""
        cents = self.centroids()
        return Snapshot(
            version,
            cents,
            labels(cents),
            {cid: round(self.counts[int(cid)], 1) for cid in cents},
            dict(meta),
        )

    # -- checkpoint --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able state; restoring it continues exactly where this one stands."""
        return {
            "v": 1,
            "n_clusters": self.n_clusters,
            "rate": self.rate,
            "warmup": self.warmup,
            "seed": self.seed,
            "learned": self.learned,
            "counts": self.counts,
            "buffer": self.buffer,
            "centers": {str(i): dict(c) for i, c in self.km.centers.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InterestClusters:
        m = cls(data["n_clusters"], data["rate"], data["warmup"], data["seed"])
        m.learned = int(data["learned"])
        m.counts = [float(c) for c in data["counts"]]
        m.buffer = [dict(p) for p in data["buffer"]]
        zero = functools.partial(m.km._rng.gauss, 0.0, 0.0)
        for i, c in data["centers"].items():
            m.km.centers[int(i)] = collections.defaultdict(zero, c)
            m._norm2[int(i)] = sum(v * v for v in c.values())
        return m


def _mean(points: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in points:
        for k, v in p.items():
            out[k] = out.get(k, 0.0) + v
    return {k: v / len(points) for k, v in out.items()}


def labels(centroids: Mapping[str, Vector]) -> dict[str, str]:
    """Readable, distinct labels from each centroid's top topics and skills.

    >>> labels({"0": {"t:data": 0.8, "s:sql": 0.3, "s:excel": 0.2},
    ...         "1": {"t:data": 0.5, "t:finance": 0.4, "s:budgeting": 0.2},
    ...         "2": {"t:leadership": 0.9, "s:leadership": 0.3, "s:coaching": 0.2}})
    {'0': 'Data: SQL, Excel', '1': 'Data & Finance: Budgeting', '2': 'Leadership: Coaching'}
    """
    out: dict[str, str] = {}
    for cid, c in centroids.items():
        topics = sorted(
            ((v, k[2:]) for k, v in c.items() if k.startswith("t:") and v > 0),
            key=lambda p: (-p[0], p[1]),
        )
        skills = sorted(
            ((v, k[2:]) for k, v in c.items() if k.startswith("s:") and v > 0),
            key=lambda p: (-p[0], p[1]),
        )
        head = [words(t) for v, t in topics[:2] if v >= 0.6 * topics[0][0]]
        named = [
            words(s) for _v, s in skills if words(s) not in head
        ]  # no "Leadership: Leadership"
        tail = named[:2]
        label = " & ".join(head) + (": " if head and tail else "") + ", ".join(tail)
        label = label or f"Cluster {cid}"
        n = 3
        while label in out.values() and n <= len(named):  # same wording: name one more skill
            label = " & ".join(head) + ": " + ", ".join(named[:n])
            n += 1
        if label in out.values():
            label = f"{label} ({cid})"
        out[cid] = label
    return out


class Snapshot:
    """Published centroids of one model version; what every worker assigns with."""

    __slots__ = ("version", "centroids", "labels", "counts", "meta", "_norms")

    def __init__(
        self,
        version: int,
        centroids: Mapping[str, Mapping[str, float]],
        labels: Mapping[str, str] | None = None,
        counts: Mapping[str, float] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.version = version
        self.centroids = {cid: dict(c) for cid, c in centroids.items()}
        self.labels = dict(labels or {})
        self.counts = dict(counts or {})
        self.meta = dict(meta or {})
        self._norms = {cid: sum(v * v for v in c.values()) for cid, c in self.centroids.items()}

    def __bool__(self) -> bool:
        return bool(self.centroids)

    def distances(self, x: Vector) -> dict[str, float]:
        """Euclidean distance from ``x`` to every centroid (sparse dot products)."""
        xx = sum(v * v for v in x.values())
        out = {}
        for cid, c in self.centroids.items():
            dot = sum(v * c.get(k, 0.0) for k, v in x.items())
            out[cid] = math.sqrt(max(0.0, xx + self._norms[cid] - 2.0 * dot))
        return out

    def nearest(self, x: Vector) -> str | None:
        """The closest centroid id (ties: the smallest id), None without centroids."""
        d = self.distances(x)
        return min(d, key=lambda c: (d[c], c)) if d else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "version": self.version,
            "centroids": self.centroids,
            "labels": self.labels,
            "counts": self.counts,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        return cls(
            int(data["version"]),
            data["centroids"],
            data.get("labels"),
            data.get("counts"),
            data.get("meta"),
        )


def assign(
    section: dict[str, Any],
    x: Vector,
    snapshot: Snapshot | None,
    evidence: float,
    t_ms: int,
    margin: float = MARGIN,
    patience: float = PATIENCE,
) -> str | None:
    """The learner's cluster after this update, with hysteresis; membership in ``section["clu"]``.

    ``section`` is the learner's ``interest`` section; ``evidence`` is the
    weight the update added (``interest.observe``'s return; 0.0 for a
    re-check after new centroids or a profile change). The first assignment is
    the nearest centroid. Afterwards a move needs another centroid closer than
    the current one by more than ``margin`` while at least ``patience`` of
    evidence accumulates; any update on which the current cluster is within
    ``margin`` of the best resets the challenge. A cluster missing from the
    snapshot is replaced at once.
    """
    mem: dict[str, Any] = section.setdefault("clu", {})
    if not snapshot or not x:
        return mem.get("id")
    d = snapshot.distances(x)
    best = min(d, key=lambda c: (d[c], c))
    cur = mem.get("id")
    if cur is None or cur not in d:
        _move(mem, best, t_ms, first=cur is None)
    elif best == cur or d[cur] - d[best] <= margin:
        mem.pop("ch", None)
        mem.pop("e", None)
    else:
        if mem.get("ch") == best:
            mem["e"] = round(mem.get("e", 0.0) + evidence, 4)
        else:
            mem["ch"], mem["e"] = best, round(evidence, 4)
        if mem["e"] >= patience:
            _move(mem, best, t_ms)
    mem["v"] = snapshot.version
    return mem["id"]


def _move(mem: dict[str, Any], cid: str, t_ms: int, first: bool = False) -> None:
    mem["id"] = cid
    mem["since"] = t_ms
    if not first:
        mem["moves"] = mem.get("moves", 0) + 1
    mem.pop("ch", None)
    mem.pop("e", None)


def membership(section: dict[str, Any]) -> str | None:
    """The learner's current cluster id (None before the first assignment)."""
    clu: dict[str, Any] = section.get("clu") or {}
    return clu.get("id")
