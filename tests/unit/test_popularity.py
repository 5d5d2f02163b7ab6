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


def test_team_finishers_count_distinct_teammates_in_the_window_but_the_asker() -> None:
    rng = random.Random(2)
    pop = Popularity(team_days=7)
    rows: list[tuple[int, str, str, str]] = []
    for i in range(600):
        t = i * DAY // 10
        row = (t, rng.choice(("t1", "t2")), f"c{rng.randrange(12)}", f"l{rng.randrange(15)}")
        pop.add_team_completion(row[1], row[2], row[3], t)
        rows.append(row)
        if i % 7 == 0:
            for team in ("t1", "t2"):
                for asker in ("", "l3", "l4"):  # the same moment twice: a memo hit
                    kept = [r for r in rows if r[1] == team][-200:]
                    want: dict[str, set[str]] = {}
                    for rt, _tm, cid, lid in kept:
                        if t - 7 * DAY <= rt <= t and lid != asker:
                            want.setdefault(cid, set()).add(lid)
                    got = pop.team_finishers(team, t, asker)
                    assert got == {cid: len(s) for cid, s in want.items()}
