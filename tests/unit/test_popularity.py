"""Shared popularity: each key's top list stays the most counted items, in order."""

from __future__ import annotations

import random

from streams.models.popularity import Popularity

DAY = 86_400_000


def test_top_lists_are_the_most_counted_items_in_order_through_rebases() -> None:
    rng = random.Random(4)
    pop = Popularity(half_life_days=0.5, top_n=8)
    t = 0
    for _ in range(4000):
        t += rng.randrange(0, DAY // 4)  # several rebases over the run
        key = rng.choice(("all", "s:a|ic", "t:data"))
        cid = f"c{min(rng.randrange(30), rng.randrange(30))}"  # some items far more popular
        pop.add([key], cid, t, rng.choice((0.5, 1.0)))
        counts = pop.counts[key]
        assert pop.tops[key] == sorted(counts, key=lambda c: (-counts[c], c))[:8]
    assert pop.t0 != 0
