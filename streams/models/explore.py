"""Exploration: a few slots of each list go to content the ranker would not show yet.

A Beta-Bernoulli Thompson sampler over candidate *sources* (fresh, niche,
cluster, popular, interest, peers, gap) picks which source fills each
exploratory slot; the slot gets that source's best remaining candidate. Per arm
the learner state keeps two plain numbers, ``[clicks, impressions]`` of items
that source put in an exploratory slot (``state["ranker"]["arm"]``), halved
once impressions pass :data:`WINDOW` so old evidence fades. Exploratory slots
are the last ``slots`` of the K, never more, so the learner's top of the list
stays what the ranker believes in. The random draws come from a generator the
caller seeds, so the same state gives the same list.

Examples
--------
>>> import random
>>> ranked = [(1.0 - i / 10, f"c{i}", ("popular",)) for i in range(8)] + [(0.0, "new", ("fresh",))]
>>> out = select(ranked, k=5, slots=1, arms={}, rng=random.Random(0))
>>> [(cid, explored) for _s, cid, _src, explored in out]
[('c0', False), ('c1', False), ('c2', False), ('c3', False), ('c4', True)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

from streams.models.rng import Draws

# A set: every source of every candidate past the top is looked up here (a tuple
# compared each non-arm source with all seven names).
ARMS: Final = frozenset({"fresh", "niche", "cluster", "popular", "interest", "peers", "gap"})
WINDOW: Final = 40

T = TypeVar("T")


def record(section: dict[str, Any], arm: str, clicked: bool) -> None:
    """Update an arm's counts: an impression, and whether it was clicked/started."""
    if arm not in ARMS:
        return
    arms: dict[str, list[float]] = section.setdefault("arm", {})
    c, n = arms.get(arm, (0.0, 0.0))
    if clicked:
        c += 1
    else:
        n += 1
    if n > WINDOW:
        c, n = c / 2, n / 2
    arms[arm] = [round(c, 2), round(max(n, c), 2)]


def select(
    ranked: Sequence[tuple[float, T, Sequence[str]]],
    k: int,
    slots: int,
    arms: Mapping[str, Sequence[float]],
    rng: Draws,
) -> list[tuple[float, T, str, bool]]:
    """Top-``k`` from ``ranked`` (best first), the last ``slots`` exploratory.

    ``ranked`` holds ``(score, item, sources)``. Returns ``(score, item, arm,
    explored)``: ``arm`` is the source an exploratory item was drawn for ("" for
    the others). Fewer than ``k`` candidates give a shorter list.
    """
    slots = max(0, min(slots, k - 1)) if k > 1 else 0
    head = [(s, it, "", False) for s, it, _src in ranked[: k - slots]]
    rest = list(ranked[k - slots :])
    if not rest:
        return head
    by_arm: dict[str, list[int]] = {}
    for i, (_s, _it, sources) in enumerate(rest):
        for src in sources:
            if src in ARMS:
                by_arm.setdefault(src, []).append(i)
    # One draw per arm from Beta(1 + clicks, 1 + impressions - clicks).
    theta = {}
    for arm in sorted(by_arm):
        c, n = arms.get(arm, (0.0, 0.0))
        theta[arm] = rng.betavariate(1.0 + c, 1.0 + max(0.0, n - c))
    used: set[int] = set()
    picked: list[tuple[float, T, str, bool]] = []
    for arm in sorted(theta, key=lambda a: (-theta[a], a)):
        if len(picked) >= slots:
            break
        j = next((j for j in by_arm[arm] if j not in used), None)
        if j is not None:
            used.add(j)
            picked.append((rest[j][0], rest[j][1], arm, True))
    # Not enough explorable sources: the next best by score fill the list.
    fill: list[tuple[float, T, str, bool]] = []
    for i, (s, it, _src) in enumerate(rest):
        if len(head) + len(fill) + len(picked) >= k:
            break
        if i not in used:
            fill.append((s, it, "", False))
    return head + fill + picked
