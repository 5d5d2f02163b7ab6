"""Shared, time-decayed content popularity per segment, role, topic and cluster.

One :class:`Popularity` per worker holds, for each *key* (the whole company,
a segment such as "sales managers", a role, a content topic, an interest
cluster), an exponentially time-decayed count of learners engaging with each
content item, and a short list of the most popular items per key. It also keeps
each team's completions of the last days, which make explanations such as
"3 people in your team finished this this week" exact.

Decay without touching every count: all counts live in one frame that grows
with time (an event at ``t`` adds ``w * exp(lam * (t - t0))``), so the order of
items never changes with time alone and a key's top list only changes when one
of its counts grows. The true decayed count at ``now`` is the stored value times
``exp(-lam * (now - t0))``. When the frame grows too large it is rebased.

This is shared state, not per-learner state: checkpoint it with
:meth:`Popularity.to_dict` and restore it with :meth:`Popularity.from_dict`.

Examples
--------
>>> p = Popularity(half_life_days=7)
>>> DAY = 86_400_000
>>> p.add(["all"], "sql-1", 0)
>>> p.add(["all"], "sql-1", 0)
>>> p.add(["all"], "py-1", 0)
>>> [(c, round(n, 2)) for c, n in p.top("all", 7 * DAY)]
[('sql-1', 1.0), ('py-1', 0.5)]
>>> q = Popularity.from_dict(p.to_dict())
>>> q.top("all", 0) == p.top("all", 0)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

DAY_MS: Final = 86_400_000
ALL: Final = "all"
_REBASE_AT: Final = 1e9  # frame factor above which counts are rescaled (far from float limits)


def segment_key(profile: dict[str, Any]) -> str:
    """Segment of a learner: department x manager or individual contributor.

    >>> segment_key({"department": "sales", "is_manager": True})
    's:sales|mgr'
    """
    dept = profile.get("department") or "-"
    return f"s:{dept}|{'mgr' if profile.get('is_manager') else 'ic'}"


def role_key(role: str) -> str:
    return f"r:{role}"


def topic_key(topic: str) -> str:
    return f"t:{topic}"


def cluster_key(cluster: str | int) -> str:
    return f"c:{cluster}"


class Popularity:
    """Time-decayed engagement counts per key, with each key's top items.

    Parameters
    ----------
    half_life_days
        A count loses half its weight in this many days of event time.
    top_n
        Items remembered per key in its top list.
    team_days
        Window of team completions kept for peer evidence.
    """

    def __init__(
        self, half_life_days: float = 14.0, top_n: int = 40, team_days: float = 7.0
    ) -> None:
        self.half_life_days = half_life_days
        self.top_n = top_n
        self.team_days = team_days
        self._lam = math.log(2) / (half_life_days * DAY_MS)
        self.t0: int | None = None
        self.counts: dict[str, dict[str, float]] = {}
        self.totals: dict[str, float] = {}  # per key, the sum of its counts (same frame)
        self.tops: dict[str, list[str]] = {}
        # team -> [[t_ms, content_id, learner_id]] completions, oldest first
        self.team: dict[str, list[list[Any]]] = {}
        self._team_version: dict[str, int] = {}  # team -> completions added (cached lists)
        # key -> {cid: value derived from the key's counts} for readers (the ranker's
        # log shares); emptied by every count change, so valid while counts stand still.
        self._memo: dict[str, dict[str, float]] = {}
        # team -> (now_ms, content_id -> teammates who finished it in the window)
        self._finishers: dict[str, tuple[int, dict[str, set[str]]]] = {}

    # -- updates -----------------------------------------------------------------------
    def add(self, keys: Iterable[str], cid: str, t_ms: int, weight: float = 1.0) -> None:
        """Count one engagement with ``cid`` at event time ``t_ms`` under every key."""
        if self._memo:
            self._memo.clear()
        if self.t0 is None:
            self.t0 = t_ms
        f = math.exp(self._lam * (t_ms - self.t0))
        if f > _REBASE_AT:
            self._rebase(t_ms)
            f = 1.0
        inc = weight * f
        for key in keys:
            counts = self.counts.get(key)
            if counts is None:
                counts = self.counts[key] = {}
                self.tops[key] = []
            value = counts[cid] = counts.get(cid, 0.0) + inc
            self.totals[key] = self.totals.get(key, 0.0) + inc
            self._bump(key, counts, cid, value)

    def _bump(self, key: str, counts: dict[str, float], cid: str, value: float) -> None:
        # Counts only grow within a frame, so an item can only move up the list: one
        # insertion step keeps it sorted by (-count, cid) (a full sort per event was
        # the worker's most frequent sort).
        top = self.tops[key]
        try:
            i = top.index(cid)
        except ValueError:
            if len(top) < self.top_n:
                top.append(cid)
            elif (-value, cid) < (-counts[top[-1]], top[-1]):
                top[-1] = cid
            else:
                return
            i = len(top) - 1
        while i > 0:
            prev = top[i - 1]
            pv = counts[prev]
            if pv > value or (pv == value and prev < cid):
                break
            top[i] = prev
            i -= 1
        top[i] = cid

    def _rebase(self, t_ms: int) -> None:
        assert self.t0 is not None
        scale = math.exp(-self._lam * (t_ms - self.t0))
        for key, counts in self.counts.items():
            self.totals[key] *= scale
            for cid in list(counts):
                v = counts[cid] * scale
                if v < 1e-6 and cid not in self.tops[key]:
                    del counts[cid]  # forgotten: keeps the shared state from growing forever
                else:
                    counts[cid] = v
            # Scaling can make two counts equal: restore the (-count, cid) order.
            self.tops[key].sort(key=lambda c, cs=counts: (-cs[c], c))  # type: ignore[misc]
        self.t0 = t_ms

    def add_team_completion(self, team_id: str, cid: str, learner_id: str, t_ms: int) -> None:
        """Remember that ``learner_id`` of ``team_id`` finished ``cid`` at ``t_ms``."""
        self._finishers.pop(team_id, None)
        self._team_version[team_id] = self._team_version.get(team_id, 0) + 1
        rows = self.team.setdefault(team_id, [])
        rows.append([t_ms, cid, learner_id])
        horizon = t_ms - self.team_days * DAY_MS
        while rows and (rows[0][0] < horizon or len(rows) > 200):
            rows.pop(0)

    # -- queries -----------------------------------------------------------------------
    def team_version(self, team_id: str) -> int:
        """Changes whenever a completion of ``team_id`` is added (not when one ages out)."""
        return self._team_version.get(team_id, 0)

    def scale(self, now_ms: int) -> float:
        """Factor turning stored values into decayed counts at ``now_ms``."""
        if self.t0 is None:
            return 0.0
        return math.exp(-self._lam * (now_ms - self.t0))

    def top(self, key: str, now_ms: int, n: int | None = None) -> list[tuple[str, float]]:
        """The most popular items under ``key`` with their decayed counts at ``now_ms``."""
        top = self.tops.get(key)
        if not top:
            return []
        counts = self.counts[key]
        s = self.scale(now_ms)
        return [(c, counts[c] * s) for c in (top if n is None else top[:n])]

    def top_ids(self, key: str) -> list[str]:
        """The key's top list, most popular first (do not modify)."""
        return self.tops.get(key) or []

    def count(self, key: str, cid: str, now_ms: int) -> float:
        """Decayed count of ``cid`` under ``key`` at ``now_ms`` (0.0 when never seen)."""
        counts = self.counts.get(key)
        if not counts:
            return 0.0
        return counts.get(cid, 0.0) * self.scale(now_ms)

    def raw(self, key: str) -> tuple[dict[str, float], float]:
        """The stored counts of ``key`` and their sum (same frame: use for shares)."""
        counts = self.counts.get(key)
        if not counts:
            return {}, 0.0
        return counts, self.totals[key]

    def memo(self, key: str) -> dict[str, float]:
        """A reader's cache of per-item values derived from ``key``'s counts.

        The worker ranks all learners of a batch after the batch's counts are in:
        values such as the ranker's log shares are then shared by every learner of
        a segment or topic. Emptied by every :meth:`add`.
        """
        m = self._memo.get(key)
        if m is None:
            m = self._memo[key] = {}
        return m

    def team_finishers(self, team_id: str, now_ms: int, exclude: str = "") -> dict[str, int]:
        """content_id -> distinct teammates (not ``exclude``) who finished it in the window."""
        rows = self.team.get(team_id)
        if not rows:
            return {}
        # The worker asks for every changed learner of a team at one batch time.
        hit = self._finishers.get(team_id)
        if hit is not None and hit[0] == now_ms:
            who = hit[1]
        else:
            horizon = now_ms - self.team_days * DAY_MS
            who = {}
            for t, cid, lid in rows:
                if horizon <= t <= now_ms:
                    who.setdefault(cid, set()).add(lid)
            self._finishers[team_id] = (now_ms, who)
        out = {}
        for cid, s in who.items():
            n = len(s) - (exclude in s)
            if n:
                out[cid] = n
        return out

    # -- checkpoint --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; floats are kept exact so a restore ranks identically."""
        return {
            "v": 1,
            "half_life_days": self.half_life_days,
            "top_n": self.top_n,
            "team_days": self.team_days,
            "t0": self.t0,
            "counts": self.counts,
            "totals": self.totals,
            "team": self.team,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Popularity:
        p = cls(data["half_life_days"], data["top_n"], data["team_days"])
        p.t0 = data["t0"]
        p.counts = {k: dict(v) for k, v in data["counts"].items()}
        p.totals = dict(data["totals"])
        p.team = {k: [list(r) for r in v] for k, v in data["team"].items()}
        for key, counts in p.counts.items():
            p.tops[key] = sorted(counts, key=lambda c, cs=counts: (-cs[c], c))[: p.top_n]  # type: ignore[misc]
        return p
