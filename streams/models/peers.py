"""Peer signals from interest clusters and teams, with privacy rules built in.

What peers contribute
---------------------
* **Trending** content per interest cluster and per team: distinct people who
  started or finished an item, in day buckets over the last WINDOW_DAYS, scored
  with a half-life of TREND_HALF_LIFE_DAYS.
* **Peers' completions** as a candidate source, with the sentence
  "4 people with your interests finished this this week".
* **Study buddies**: learners in the same cluster working on the same path who
  opted in to being named.
* **Social reinforcement** for nudges: the same sentence, for the nudged item.

Privacy rules (enforced here, not left to callers)
--------------------------------------------------
* A count is shown only when at least ``k_min`` (default 5) distinct people are
  behind it; an item with fewer people does not appear at all, so its mere
  presence reveals nothing either.
* Nobody is named unless they opted in (``peer_features_opt_in``); only a
  learner who opted in sees names (reciprocity), and never their own.
* A learner who opts out (``peer_features_opt_out``, see :func:`opted_out`) gets
  no peer signal, no cluster, and is never counted or named: their recent
  contributions are withdrawn (:func:`withdraw`).

Shared vs per-learner state
---------------------------
:class:`PeerAggregator` is shared: the one clustering agent folds every
worker's peer signals into it and publishes :meth:`PeerAggregator.summary` per
cluster and per team. Workers read those summaries and answer per learner with
:class:`PeerView`. The learner's ``interest`` section keeps the list of their
own recent contributions (``peer``) so an opt-out can withdraw them exactly.

Examples
--------
>>> DAY = 86_400_000
>>> agg = PeerAggregator()
>>> for n in range(5):
...     agg.add("c:1", "sql-101", n * 3_600_000, "done")
>>> summary = agg.summary("c:1", DAY, k_min=5)
>>> summary["trending"][0]["content_id"], summary["trending"][0]["finished_7d"]
('sql-101', 5)
>>> view = PeerView(summary, None, k_min=5)
>>> view.counts(done={})
{'sql-101': 5}
>>> finished_sentence(5, "cluster")
'5 people with your interests finished this this week'
>>> PeerView(agg.summary("c:1", DAY, k_min=6), None, k_min=6).counts(done={})
{}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

DAY_MS: Final = 86_400_000
K_MIN: Final = 5
WINDOW_DAYS: Final = 7
TREND_HALF_LIFE_DAYS: Final = 3.0
BUDDY_DAYS: Final = 14
MAX_ITEMS_PER_KEY: Final = 300  # items tracked per cluster/team
MAX_BUDDIES_PER_PATH: Final = 20
MAX_CONTRIB: Final = 12  # a learner's own remembered contributions (for withdrawal)
START_WEIGHT: Final = 0.5  # a start counts half a completion in trending scores

Kind = Literal["done", "start"]
COMPLETING: Final = frozenset({"completed", "passed", "mastered"})
STARTING: Final = frozenset({"started", "launched", "viewed"})


def opted_out(profile: dict[str, Any]) -> bool:
    """The learner switched peer features off (no signals, never counted or named).

    Read from ``peer_features_opt_out`` (not yet in the profile schema: see
    docs/decisions/0008-shared-interest-clusters.md).
    """
    return bool(profile.get("peer_features_opt_out"))


def may_be_named(profile: dict[str, Any]) -> bool:
    """Opted in to being named to peers (and so may see named peers)."""
    return bool(profile.get("peer_features_opt_in")) and not opted_out(profile)


def signal(state: dict[str, Any], event: dict[str, Any]) -> Kind | None:
    """What an activity event contributes to peer counts: a first start, a first finish.

    Call **before** ``learner.apply_activity`` (it reads whether the item was
    already open or done), so each learner counts at most once per item and kind.

    >>> signal({"prog": {}, "done": {}}, {"verb": "started", "object_id": "c1"})
    'start'
    >>> signal({"prog": {}, "done": {"c1": 5}}, {"verb": "completed", "object_id": "c1"})
    """
    cid = event.get("object_id") or ""
    if not cid:
        return None
    done = state.get("done") or {}
    if cid in done:
        return None
    verb = event.get("verb", "")
    result: dict[str, Any] = event.get("result") or {}
    if verb in COMPLETING or result.get("completion") is True:
        return "done"
    if verb in STARTING and cid not in (state.get("prog") or {}):
        return "start"
    return None


def remember(section: dict[str, Any], cluster: str | None, cid: str, t_ms: int, kind: Kind) -> None:
    """Keep a learner's own contribution (bounded, last WINDOW_DAYS) for a later withdrawal.

    Stored compactly as ``[content_id, day, "d"|"s", cluster]``; the team is the
    profile's team at withdrawal time.
    """
    rows: list[list[Any]] = section.setdefault("peer", [])
    day = t_ms // DAY_MS
    rows.append([cid, day, kind[0], cluster])
    section["peer"] = [r for r in rows if r[1] > day - WINDOW_DAYS][-MAX_CONTRIB:]


def withdraw(section: dict[str, Any], team: str) -> list[tuple[str, str, int, Kind]]:
    """The learner's remembered contributions as (key, cid, t_ms, kind) to subtract; forgets them.

    >>> sec: dict = {}
    >>> remember(sec, "3", "sql-101", 5 * DAY_MS, "done")
    >>> withdraw(sec, "team-1")
    [('c:3', 'sql-101', 432000000, 'done'), ('team:team-1', 'sql-101', 432000000, 'done')]
    >>> withdraw(sec, "team-1")
    []
    """
    out: list[tuple[str, str, int, Kind]] = []
    for cid, day, k, cluster in section.pop("peer", None) or []:
        kind: Kind = "done" if k == "d" else "start"
        if cluster is not None:
            out.append((f"c:{cluster}", cid, day * DAY_MS, kind))
        if team:
            out.append((f"team:{team}", cid, day * DAY_MS, kind))
    return out


def finished_sentence(n: int, scope: str) -> str:
    """Explanation for a peer count; ``scope`` is ``cluster`` or ``team``.

    >>> finished_sentence(6, "team")
    '6 people in your team finished this this week'
    """
    where = "with your interests" if scope == "cluster" else "in your team"
    return f"{n} people {where} finished this this week"


class PeerAggregator:
    """Shared day-bucketed peer counts per key (``c:<cluster>``, ``team:<id>``) and buddies.

    ``counts[key][cid][day] = [finished, started]``: distinct people, because
    each learner contributes each kind at most once per item (:func:`signal`).
    """

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, dict[int, list[int]]]] = {}
        self.buddies: dict[str, dict[str, int]] = {}  # "cluster|path" -> learner -> t_ms
        self.dirty: set[str] = set()  # keys changed since the last publish
        self._pruned_day = -1

    def add(self, key: str, cid: str, t_ms: int, kind: Kind, n: int = 1) -> None:
        """Count (``n`` = 1) or withdraw (``n`` = -1) one person's start or finish."""
        items = self.counts.setdefault(key, {})
        day = t_ms // DAY_MS
        buckets = items.setdefault(cid, {})
        row = buckets.setdefault(day, [0, 0])
        row[0 if kind == "done" else 1] = max(0, row[0 if kind == "done" else 1] + n)
        if row == [0, 0]:
            del buckets[day]
            if not buckets:
                del items[cid]
        self.dirty.add(key)
        if len(items) > MAX_ITEMS_PER_KEY:
            # Forget the items with the least recent activity.
            for old in sorted(items, key=lambda c: (max(items[c]), c))[
                : len(items) - MAX_ITEMS_PER_KEY
            ]:
                del items[old]

    def add_buddy(self, cluster: str, path_id: str, learner_id: str, t_ms: int) -> None:
        """An opted-in learner of ``cluster`` is working on ``path_id``."""
        key = f"{cluster}|{path_id}"
        who = self.buddies.setdefault(key, {})
        who.pop(learner_id, None)
        who[learner_id] = max(t_ms, who.get(learner_id, 0))
        while len(who) > MAX_BUDDIES_PER_PATH:
            del who[min(who, key=lambda lid: (who[lid], lid))]
        self.dirty.add(f"c:{cluster}")

    def forget_learner(self, learner_id: str) -> None:
        """Remove a learner from every buddy list (they opted out or stopped opting in)."""
        for key, who in list(self.buddies.items()):
            if who.pop(learner_id, None) is not None:
                self.dirty.add(f"c:{key.split('|', 1)[0]}")
            if not who:
                del self.buddies[key]

    def prune(self, now_ms: int) -> None:
        """Drop buckets older than the window and idle buddies (work done once a day)."""
        if now_ms // DAY_MS == self._pruned_day:
            return
        self._pruned_day = now_ms // DAY_MS
        first = now_ms // DAY_MS - WINDOW_DAYS + 1
        for key, items in list(self.counts.items()):
            for cid, buckets in list(items.items()):
                for day in [d for d in buckets if d < first]:
                    del buckets[day]
                if not buckets:
                    del items[cid]
            if not items:
                del self.counts[key]
        horizon = now_ms - BUDDY_DAYS * DAY_MS
        for key, who in list(self.buddies.items()):
            for lid in [lid for lid, t in who.items() if t < horizon]:
                del who[lid]
            if not who:
                del self.buddies[key]

    def trending(
        self, key: str, now_ms: int, k_min: int = K_MIN, n: int = 10
    ) -> list[dict[str, Any]]:
        """Items of ``key`` with at least ``k_min`` people in the window, best first."""
        today = now_ms // DAY_MS
        first = today - WINDOW_DAYS + 1
        rows: list[dict[str, Any]] = []
        for cid, buckets in (self.counts.get(key) or {}).items():
            done = start = 0
            score = 0.0
            for day, (d, s) in buckets.items():
                if first <= day <= today:
                    done += d
                    start += s
                    score += (d + START_WEIGHT * s) * 0.5 ** ((today - day) / TREND_HALF_LIFE_DAYS)
            # Distinct people are at least the larger of the two counts.
            people = max(done, start)
            if people >= k_min:
                rows.append(
                    {
                        "content_id": cid,
                        "score": round(score, 3),
                        "people_7d": people,
                        "finished_7d": done if done >= k_min else None,
                    }
                )
        rows.sort(key=lambda r: (-r["score"], r["content_id"]))
        return rows[:n]

    def summary(self, key: str, now_ms: int, k_min: int = K_MIN, n: int = 10) -> dict[str, Any]:
        """What workers need of one cluster or team: trending (k-anonymous) and buddies."""
        out: dict[str, Any] = {
            "key": key,
            "as_of_ms": now_ms,
            "trending": self.trending(key, now_ms, k_min, n),
        }
        if key.startswith("c:"):
            cluster = key[2:]
            horizon = now_ms - BUDDY_DAYS * DAY_MS
            buddies = {}
            for bkey, who in self.buddies.items():
                c, path = bkey.split("|", 1)
                if c == cluster:
                    ids = [
                        lid
                        for lid, t in sorted(who.items(), key=lambda p: (-p[1], p[0]))
                        if t >= horizon
                    ][:10]
                    if ids:
                        buddies[path] = ids
            out["buddies"] = buddies
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "counts": {
                k: {c: {str(d): r for d, r in b.items()} for c, b in items.items()}
                for k, items in self.counts.items()
            },
            "buddies": self.buddies,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PeerAggregator:
        agg = cls()
        agg.counts = {
            k: {c: {int(d): list(r) for d, r in b.items()} for c, b in items.items()}
            for k, items in data["counts"].items()
        }
        agg.buddies = {k: dict(v) for k, v in data["buddies"].items()}
        return agg


class PeerView:
    """One learner's peer signals, from the published summaries of their cluster and team.

    ``cluster`` / ``team`` are :meth:`PeerAggregator.summary` dicts (or None).
    The view re-applies ``k_min`` so a summary published with a lower threshold
    can never leak a small count.
    """

    def __init__(
        self, cluster: Mapping[str, Any] | None, team: Mapping[str, Any] | None, k_min: int = K_MIN
    ) -> None:
        self.cluster = cluster or {}
        self.team = team or {}
        self.k_min = k_min

    def _finished(self, summary: Mapping[str, Any]) -> dict[str, int]:
        out = {}
        for row in summary.get("trending") or ():
            n = row.get("finished_7d")
            if n is not None and n >= self.k_min:
                out[row["content_id"]] = int(n)
        return out

    def counts(self, done: Mapping[str, Any], scope: str = "cluster") -> dict[str, int]:
        """content_id -> people of the learner's cluster (or team) who finished it this week.

        Only counts of at least ``k_min``; items the learner finished are left out.
        Feed these to the recommender's ``peers=`` input.
        """
        src = self.cluster if scope == "cluster" else self.team
        return {cid: n for cid, n in self._finished(src).items() if cid not in done}

    def candidates(self, done: Mapping[str, Any], n: int = 5) -> list[dict[str, Any]]:
        """Peer-completion candidates with their sentence, cluster first then team."""
        out: dict[str, dict[str, Any]] = {}
        for scope in ("cluster", "team"):
            for cid, count in self.counts(done, scope).items():
                if cid not in out:
                    out[cid] = {
                        "content_id": cid,
                        "count": count,
                        "scope": scope,
                        "reason": finished_sentence(count, scope),
                    }
        return sorted(out.values(), key=lambda r: (-r["count"], r["content_id"]))[:n]

    def trending(
        self, done: Mapping[str, Any], scope: str = "team", n: int = 5
    ) -> list[dict[str, Any]]:
        """Trending items of the team (or cluster) the learner has not finished."""
        src = self.team if scope == "team" else self.cluster
        return [
            {"content_id": r["content_id"], "people_7d": r["people_7d"]}
            for r in src.get("trending") or ()
            if r["content_id"] not in done
        ][:n]

    def buddies(
        self, learner_id: str, profile: dict[str, Any], path_ids: Iterable[str], n: int = 3
    ) -> list[dict[str, str]]:
        """Opted-in learners of the same cluster on the same paths (only for an opted-in viewer)."""
        if not may_be_named(profile):
            return []
        published = self.cluster.get("buddies") or {}
        out: list[dict[str, str]] = []
        seen = {learner_id}
        for pid in path_ids:
            for lid in published.get(pid) or ():
                if lid not in seen:
                    seen.add(lid)
                    out.append({"learner_id": lid, "path_id": pid})
                    if len(out) >= n:
                        return out
        return out

    def reinforcement(self, content_id: str) -> str | None:
        """A social line for a nudge about ``content_id``, or None below ``k_min``."""
        for scope, src in (("cluster", self.cluster), ("team", self.team)):
            count = self._finished(src).get(content_id)
            if count is not None:
                return finished_sentence(count, scope)
        return None
