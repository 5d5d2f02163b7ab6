"""The last ranked list of each recent learner, so a progress event need not re-rank.

Ranking a learner's list (candidates, features, scores, exploration, wording)
was most of the per-event work with many learners (cProfile at 40,000
learners: about 70%; docs/decisions/0015).
Most events (``progressed``, ``paused``, a page view of something already open)
change nothing the ranking reads except the progress of an item already on the
list. For those the worker re-renders the item's "You are N% through this"
sentence in the cached list instead of ranking again.

A cached list is used only while it still stands for what a ranking would read
(and lists past their age are dropped, so memory follows the recently active):

* the learner's state says it was ranked at the same event count (``rk``): a
  ranking done elsewhere (another worker after a rebalance) invalidates it;
* the catalog and paths (reference version), the interest clusters (centroid
  version) and the learner's team completions (team version) are unchanged;
* it is younger than ``max_age_ms`` (shared popularity and "due tomorrow"
  wording drift with time).

Anything else ranks again. The cache lives in the worker's memory only; it is
bounded (least recently used learners are dropped) and a miss just ranks.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from streams.models.explain import CONTINUE_TAIL, reason
from streams.models.state import exact

# reference, centroids and team-completion versions; time zone; interest cluster
Inputs = tuple[int, int, int, str, str | None]


@dataclass(slots=True)
class CachedList:
    # The list's JSON in pieces: each item with a progress sentence is a piece of
    # its own, the runs between them are joined. A patch decodes and encodes only
    # the items it changes, not the whole list.
    parts: list[bytes]
    cont: dict[str, tuple[int, int]]  # content id -> (its piece, reason index) of its progress
    rk: int  # the learner's event count when ranked (state["rk"])
    inputs: Inputs
    ranked_ms: int


def continue_slots(items: list[dict[str, Any]], prog: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Where each in-progress item's progress sentence sits in the rendered list."""
    out: dict[str, tuple[int, int]] = {}
    for i, it in enumerate(items):
        cid = it["content_id"]
        p = prog.get(cid)
        if p is None:
            continue
        for j, text in enumerate(it["reasons"]):
            if text.endswith(CONTINUE_TAIL):
                out[cid] = (i, j)
                break
    return out


def cached_list(
    items: list[dict[str, Any]],
    items_json: bytes,
    prog: dict[str, Any],
    rk: int,
    inputs: Inputs,
    ranked_ms: int,
) -> CachedList:
    """The cache entry of a list just ranked; ``items_json`` is ``orjson.dumps(items)``.

    Each in-progress item is found in ``items_json`` by its own encoding. The
    match can only be that item: it starts with ``{"content_id":"<id>"`` (every
    item's first key), ids are unique in a list, and inside a JSON string every
    ``"`` is escaped, so those bytes cannot occur within another item's text.
    """
    parts: list[bytes] = []
    cont: dict[str, tuple[int, int]] = {}
    pos = 0
    for cid, (i, j) in continue_slots(items, prog).items():  # in list order
        one = orjson.dumps(items[i])
        start = items_json.find(one, pos)
        if start < 0:  # cannot happen (see above); the item then just is not patchable
            continue
        parts.append(items_json[pos:start])
        cont[cid] = (len(parts), j)
        pos = start + len(one)
        parts.append(items_json[start:pos])
    # Slices are copies of their own length; the whole output is copied with
    # exact(): orjson's buffer is larger (see state.exact).
    parts.append(items_json[pos:] if pos else exact(items_json))
    return CachedList(parts, cont, rk, inputs, ranked_ms)


class ListCache:
    def __init__(self, max_learners: int = 50_000, max_age_ms: int = 120_000) -> None:
        self.max_learners = max_learners
        self.max_age_ms = max_age_ms
        self._data: OrderedDict[str, CachedList] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def put(self, learner_id: str, entry: CachedList) -> None:
        if self.max_learners <= 0:
            return
        data = self._data
        data[learner_id] = entry
        data.move_to_end(learner_id)
        while len(data) > self.max_learners:
            data.popitem(last=False)
        # Lists past their age are of no use: drop them from the least recently used end.
        while data:
            oldest = next(iter(data.values()))
            if entry.ranked_ms - oldest.ranked_ms < self.max_age_ms:
                break
            data.popitem(last=False)

    def usable(
        self, learner_id: str, rk: int | None, inputs: Inputs, touched: set[str], now_ms: int
    ) -> CachedList | None:
        """The cached list if it may be patched for events that touched ``touched``."""
        entry = self._data.get(learner_id)
        if entry is None or rk is None or entry.rk != rk or entry.inputs != inputs:
            return None
        if not 0 <= now_ms - entry.ranked_ms < self.max_age_ms:
            return None
        if not touched <= entry.cont.keys():
            return None  # progress on an item the list does not show: it may now rank in
        self._data.move_to_end(learner_id)
        return entry

    def drop(self, learner_id: str) -> None:
        self._data.pop(learner_id, None)


def patch(
    entry: CachedList, prog: dict[str, Any], touched: set[str], now_ms: int, tz: str
) -> bytes:
    """Re-render the progress sentences of ``touched`` in the cached list (kept in
    ``entry``); returns the list's new JSON."""
    parts = entry.parts
    for cid in touched:
        p = prog.get(cid)
        if p is None:
            continue
        k, j = entry.cont[cid]
        item: dict[str, Any] = orjson.loads(parts[k])
        item["reasons"][j] = reason(("continue", p[0], p[1]), now_ms, tz)
        parts[k] = exact(orjson.dumps(item))  # kept: see state.exact
    return b"".join(parts)
