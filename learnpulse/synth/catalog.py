"""Synthetic content catalog: readable items per skill, chains of prerequisites.

Items are kept as ``content.item.updated.v1`` dicts plus a few parallel lists
(skill index, group, popularity) that the behaviour simulation reads fast.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from learnpulse.synth.taxonomy import GROUPS, SKILL_GROUP, SKILLS, skill_name

DAY_MS = 86_400_000
FORMATS = ("course", "video", "article", "quiz", "podcast", "lab")
_FORMAT_W = (0.24, 0.30, 0.18, 0.12, 0.07, 0.09)
_LEVEL_WORD = {
    1: "Introduction to",
    2: "Essentials of",
    3: "Practical",
    4: "Advanced",
    5: "Mastering",
}
_SUFFIX = {
    "course": "",
    "video": " in 10 Minutes",
    "article": ": a Field Guide",
    "quiz": " Check",
    "podcast": " Conversations",
    "lab": " Hands-on Lab",
}
_DURATION = {
    "course": (30, 240),
    "video": (3, 25),
    "article": (4, 15),
    "quiz": (5, 20),
    "podcast": (15, 50),
    "lab": (20, 90),
}


@dataclass
class Catalog:
    """Content items and the indexes the behaviour model samples from."""

    items: list[dict[str, Any]]
    skill_of: list[str]  # primary skill per item
    group_of: list[str]  # topic (interest group) per item
    by_group: dict[str, list[int]] = field(default_factory=dict)
    by_skill: dict[str, list[int]] = field(default_factory=dict)
    index: dict[str, int] = field(default_factory=dict)
    _cum: dict[str, list[float]] = field(default_factory=dict)
    popularity: list[float] = field(default_factory=list)

    def pick_in_group(self, group: str, u: float) -> int:
        """Item index in ``group`` chosen by popularity, ``u`` uniform in [0, 1)."""
        cum = self._cum[group]
        return self.by_group[group][bisect_right(cum, u * cum[-1])]

    def quizzes_for(self, skill: str) -> list[int]:
        return [i for i in self.by_skill.get(skill, []) if self.items[i]["format"] == "quiz"]


def default_size(n_learners: int) -> int:
    """~300 items, growing mildly (fourth root) with the organisation.

    >>> default_size(100), default_size(1000), default_size(100_000)
    (300, 300, 948)
    """
    return max(300, int(300 * (n_learners / 1000) ** 0.25))


def build_catalog(n_items: int, rng: random.Random, start_ms: int, horizon_days: float) -> Catalog:
    """``n_items`` items (at least one per skill); every skill gets a quiz first."""
    n_items = max(n_items, len(SKILLS))
    items: list[dict[str, Any]] = []
    skill_of: list[str] = []
    last_course: dict[str, list[tuple[int, str]]] = {}  # skill -> [(level, content_id)]
    counter = itertools.count(1)
    plan: list[tuple[str, str, int]] = [(s, "quiz", 2) for s in SKILLS]
    groups = list(GROUPS)
    while len(plan) < n_items:
        g = rng.choice(groups)
        s = rng.choice(GROUPS[g])
        fmt = rng.choices(FORMATS, _FORMAT_W)[0]
        plan.append((s, fmt, rng.choices((1, 2, 3, 4, 5), (0.3, 0.3, 0.2, 0.13, 0.07))[0]))
    plan = plan[:n_items]
    # Lower levels first so prerequisite chains point backwards.
    plan.sort(key=lambda p: p[2])
    for skill, fmt, level in plan:
        n = next(counter)
        cid = f"{fmt}-{skill.replace('_', '-')}-{n:04d}"
        lo, hi = _DURATION[fmt]
        title = f"{_LEVEL_WORD[level]} {skill_name(skill)}{_SUFFIX[fmt]}"
        skills = [skill]
        if rng.random() < 0.25:  # some items also touch a sibling skill
            other = rng.choice(GROUPS[SKILL_GROUP[skill]])
            if other != skill:
                skills.append(other)
        prereq: list[str] = []
        chain = last_course.setdefault(skill, [])
        if fmt in ("course", "lab") and level >= 2 and chain and rng.random() < 0.6:
            prev = [c for lv, c in chain if lv < level]
            if prev:
                prereq = [prev[-1]]
        if fmt == "course":
            chain.append((level, cid))
        r = rng.random()
        if r < 0.06:  # fresh: published during the simulated window
            published = start_ms + int(rng.uniform(0, horizon_days) * DAY_MS)
        elif r < 0.14:  # recent: the two weeks before it
            published = start_ms - int(rng.uniform(0, 14) * DAY_MS)
        else:
            published = start_ms - int(rng.uniform(15, 720) * DAY_MS)
        items.append(
            {
                "content_id": cid,
                "updated_at_ms": min(published, start_ms),
                "title": title,
                "skills": skills,
                "topics": [SKILL_GROUP[skill]],
                "level": level,
                "format": fmt,
                "duration_min": float(rng.randint(lo, hi)),
                "prerequisites": prereq,
                "published_at_ms": published,
                "active": True,
            }
        )
        skill_of.append(skill)
    cat = Catalog(items=items, skill_of=skill_of, group_of=[SKILL_GROUP[s] for s in skill_of])
    cat.index = {it["content_id"]: i for i, it in enumerate(items)}
    # Long-tailed popularity (Zipf-like over a random order) within each group.
    cat.popularity = [0.0] * len(items)
    for i, g in enumerate(cat.group_of):
        cat.by_group.setdefault(g, []).append(i)
        cat.by_skill.setdefault(skill_of[i], []).append(i)
    for g, idxs in cat.by_group.items():
        order = idxs[:]
        rng.shuffle(order)
        for rank, i in enumerate(order, 1):
            cat.popularity[i] = 1.0 / rank**0.8
        cat._cum[g] = list(itertools.accumulate(cat.popularity[i] for i in idxs))
    return cat
