"""The seeded synthetic organisation: people, teams, roles, catalog, paths, truth.

>>> org = Organisation.generate(50, seed=3)
>>> len(org.learner_ids), org.learner_ids[0]
(50, 'lrn-000000')
>>> sorted(org.reference_records())
['catalog', 'paths', 'profiles', 'role_skills']
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learnpulse.synth.catalog import DAY_MS, Catalog, build_catalog, default_size
from learnpulse.synth.taxonomy import (
    CHANNELS,
    DEPARTMENTS,
    DEPT_GROUP,
    GROUPS,
    SKILLS,
    TIME_ZONES,
    manager_role,
    role_skills,
)
from learnpulse.synth.truth import GroundTruth

DEFAULT_START_MS = 1_735_603_200_000  # 2024-12-31T00:00Z; any fixed instant keeps runs stable
GROUP_NAMES: tuple[str, ...] = tuple(GROUPS)
SKILL_INDEX = {s: i for i, s in enumerate(SKILLS)}
# Weekday masks (bit 0 = Monday): most people learn on workdays.
_DAY_MASKS = (
    0b0011111,
    0b0011111,
    0b0011111,
    0b0010101,
    0b0001010,
    0b1111111,
    0b1100000,
    0b0011110,
)


@dataclass
class Organisation:
    """A synthetic company; per-learner attributes are parallel arrays by index."""

    seed: int
    start_ms: int
    horizon_days: float
    learner_ids: list[str]
    department: list[str]
    role: list[str]
    team: list[str]
    manager: list[int]  # index of the learner's manager, -1 for department heads
    level: np.ndarray
    is_manager: np.ndarray
    time_zone: list[str]
    channels: list[tuple[str, ...]]
    peer_opt_in: np.ndarray
    escalate: np.ndarray
    # Latent behaviour (ground truth, also read by the simulation).
    group1: np.ndarray
    group2: np.ndarray  # -1 when a single interest
    group_after: np.ndarray  # -1 when no switch
    switch_at: np.ndarray  # ms, -1 when no switch
    drop_at: np.ndarray  # ms, -1 when never disengages
    decay_from: np.ndarray
    sessions_per_week: np.ndarray
    pref_hour: np.ndarray
    active_days: np.ndarray
    path_follow: np.ndarray
    mastery0: np.ndarray
    catalog: Catalog
    role_skills: dict[str, dict[str, float]]
    team_members: dict[str, list[int]]
    paths: list[dict[str, Any]] = field(default_factory=list)
    learner_paths: dict[int, list[int]] = field(default_factory=dict)  # idx -> path indices
    path_items: list[list[int]] = field(default_factory=list)  # path -> catalog indices
    truth: GroundTruth = field(default_factory=GroundTruth)

    @classmethod
    def generate(
        cls,
        n_learners: int,
        seed: int = 7,
        n_content: int | None = None,
        start_ms: int = DEFAULT_START_MS,
        horizon_days: float = 60.0,
    ) -> Organisation:
        """Build an organisation of ``n_learners``; the same seed gives the same org.

        Drop and switch times of the ground truth fall within
        ``[start_ms, start_ms + horizon_days)``.
        """
        if n_learners < 1:
            raise ValueError("n_learners must be >= 1")
        prng = random.Random(seed)
        rng = np.random.default_rng(seed)
        n = n_learners
        ids = [f"lrn-{i:06d}" for i in range(n)]
        dept_names = list(DEPARTMENTS)
        dept_w = [DEPARTMENTS[d][0] for d in dept_names]
        department: list[str] = []
        role: list[str] = []
        team: list[str] = []
        manager: list[int] = []
        is_mgr = np.zeros(n, bool)
        members: dict[str, list[int]] = {}
        head: dict[str, int] = {}
        i = 0
        while i < n:
            size = min(prng.randint(6, 10), n - i)
            dept = prng.choices(dept_names, dept_w)[0]
            tid = f"team-{len(members):05d}"
            workers = [r for r in DEPARTMENTS[dept][1] if not r.endswith("_manager")]
            lead = i
            head.setdefault(dept, lead)
            members[tid] = list(range(i, i + size))
            for j in range(i, i + size):
                department.append(dept)
                team.append(tid)
                if j == lead:
                    is_mgr[j] = True
                    role.append(manager_role(dept))
                    manager.append(-1 if head[dept] == lead else head[dept])
                else:
                    role.append(prng.choice(workers))
                    manager.append(lead)
            i += size
        level = rng.choice(np.arange(1, 6, dtype=np.int8), n, p=[0.25, 0.3, 0.25, 0.13, 0.07])
        level = np.where(is_mgr, np.maximum(level, 3), level).astype(np.int8)
        tz_names = [z for z, _ in TIME_ZONES]
        tz_p = np.array([w for _, w in TIME_ZONES])
        tz_idx = rng.choice(len(tz_names), n, p=tz_p / tz_p.sum())
        ch_idx = rng.integers(0, len(CHANNELS), n)
        g_count = len(GROUP_NAMES)
        dept_g = np.array([GROUP_NAMES.index(DEPT_GROUP[d]) for d in department], np.int16)
        g1 = np.where(rng.random(n) < 0.45, dept_g, rng.integers(0, g_count, n)).astype(np.int16)
        g2 = (g1 + rng.integers(1, g_count, n)) % g_count  # always differs from g1
        g2 = np.where(rng.random(n) < 0.3, g2, -1).astype(np.int16)
        horizon_ms = horizon_days * DAY_MS
        switches = rng.random(n) < 0.2
        after = (g1 + rng.integers(1, g_count, n)) % g_count
        after = np.where(after == g2, (after + 1) % g_count, after)
        after = np.where(after == g1, (after + 1) % g_count, after)
        group_after = np.where(switches, after, -1).astype(np.int16)
        switch_at = np.where(
            switches, start_ms + (rng.uniform(0.3, 0.7, n) * horizon_ms).astype(np.int64), -1
        )
        drops = rng.random(n) < 0.2
        drop_at = np.where(
            drops, start_ms + (rng.uniform(0.25, 0.95, n) * horizon_ms).astype(np.int64), -1
        )
        decay_from = np.where(
            drops,
            np.maximum(start_ms, drop_at - (rng.uniform(5, 21, n) * DAY_MS).astype(np.int64)),
            -1,
        )
        spw = np.clip(rng.lognormal(np.log(2.5), 0.55, n), 0.5, 7.0)
        spw = np.where(is_mgr, spw * 0.7, spw)
        # Morning, lunch or evening learners (local hours).
        pref = rng.choice(np.array([8.5, 12.5, 16.0, 20.5]), n, p=[0.35, 0.25, 0.15, 0.25])
        pref = np.clip(pref + rng.normal(0, 0.75, n), 0, 23.5)
        days = np.array(_DAY_MASKS, np.uint8)[rng.integers(0, len(_DAY_MASKS), n)]
        rs = role_skills()
        org = cls(
            seed=seed,
            start_ms=start_ms,
            horizon_days=horizon_days,
            learner_ids=ids,
            department=department,
            role=role,
            team=team,
            manager=manager,
            level=level,
            is_manager=is_mgr,
            time_zone=[tz_names[k] for k in tz_idx],
            channels=[CHANNELS[k] for k in ch_idx],
            peer_opt_in=rng.random(n) < 0.6,
            escalate=rng.random(n) < 0.25,
            group1=g1,
            group2=g2,
            group_after=group_after,
            switch_at=switch_at,
            drop_at=drop_at,
            decay_from=decay_from,
            sessions_per_week=spw,
            pref_hour=pref,
            active_days=days,
            path_follow=rng.uniform(0.15, 0.6, n),
            mastery0=_mastery0(rng, role, level, g1, g2, rs),
            catalog=build_catalog(n_content or default_size(n), prng, start_ms, horizon_days),
            role_skills=rs,
            team_members=members,
        )
        _assign_paths(org, prng)
        org.truth = _truth(org)
        return org

    # -- records ---------------------------------------------------------------------------

    def profile(self, i: int) -> dict[str, Any]:
        """``learner.profile.updated.v1`` record of learner number ``i``."""
        rng = random.Random(self.seed * 1_000_003 + i)
        g1, g2 = int(self.group1[i]), int(self.group2[i])
        req = self.role_skills[self.role[i]]
        m0 = self.mastery0[i]
        gaps = [s for s, target in req.items() if m0[SKILL_INDEX[s]] < target]
        pool = gaps + list(GROUPS[GROUP_NAMES[g1]])
        goals = sorted(set(rng.sample(pool, min(len(pool), rng.randint(1, 3)))))
        rated = set(rng.sample(list(req), min(len(req), rng.randint(2, 4))))
        rated.update(rng.sample(GROUPS[GROUP_NAMES[g1]], 1))
        # People rate themselves a little higher than they are, and noisily.
        self_assessed = {
            s: round(min(1.0, max(0.0, float(m0[SKILL_INDEX[s]]) + rng.gauss(0.08, 0.15))), 2)
            for s in sorted(rated)
        }
        interests: list[str] = []
        if rng.random() < 0.85:
            interests.append(GROUP_NAMES[g1])
            if g2 >= 0 and rng.random() < 0.6:
                interests.append(GROUP_NAMES[g2])
            if rng.random() < 0.15:
                extra = rng.choice(GROUP_NAMES)
                if extra not in interests:
                    interests.append(extra)
        mgr = self.manager[i]
        return {
            "learner_id": self.learner_ids[i],
            "updated_at_ms": self.start_ms - DAY_MS,
            "role": self.role[i],
            "department": self.department[i],
            "team_id": self.team[i],
            "level": int(self.level[i]),
            "is_manager": bool(self.is_manager[i]),
            "manager_id": None if mgr < 0 else self.learner_ids[mgr],
            "goals": goals,
            "self_assessed_skills": self_assessed,
            "interests": interests,
            "time_zone": self.time_zone[i],
            "preferred_channels": list(self.channels[i]),
            "peer_features_opt_in": bool(self.peer_opt_in[i]),
            "escalate_to_manager": bool(self.escalate[i]),
            # ~4% of those not opting in switch peer features off entirely; chosen by
            # a hash, not the rng, so every other generated value stays the same.
            "peer_features_opt_out": not self.peer_opt_in[i]
            and zlib.crc32(self.learner_ids[i].encode()) % 10 == 0,
        }

    def profiles(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self.learner_ids)):
            yield self.profile(i)

    def role_skill_records(self) -> list[dict[str, Any]]:
        return [
            {"role": r, "updated_at_ms": self.start_ms - 30 * DAY_MS, "required_skills": dict(s)}
            for r, s in sorted(self.role_skills.items())
        ]

    def reference_records(self, at_ms: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """Records for the compacted topics: catalog, paths, role_skills, profiles.

        With ``at_ms``, only what exists by then: paths that managers assign
        during the simulated window come out of :meth:`reference_updates`.
        """
        paths = (
            self.paths if at_ms is None else [p for p in self.paths if p["updated_at_ms"] <= at_ms]
        )
        return {
            "catalog": list(self.catalog.items),
            "paths": list(paths),
            "role_skills": self.role_skill_records(),
            "profiles": list(self.profiles()),
        }

    def reference_updates(self, after_ms: int, until_ms: int) -> list[tuple[str, dict[str, Any]]]:
        """``(kind, record)`` that appear in ``(after_ms, until_ms]``, in time order."""
        return sorted(
            (("paths", p) for p in self.paths if after_ms < p["updated_at_ms"] <= until_ms),
            key=lambda kp: kp[1]["updated_at_ms"],
        )

    # -- events -----------------------------------------------------------------------------

    def events(
        self, start_ms: int | None = None, days: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Canonical activity events of everyone, in event-time order (lazy).

        Defaults to the org's own window. The same arguments give the same
        stream; a shorter ``days`` gives a prefix of a longer run.
        """
        from learnpulse.synth.behaviour import Simulation

        sim = Simulation(self, self.start_ms if start_ms is None else start_ms)
        end = sim.start_ms + int((self.horizon_days if days is None else days) * DAY_MS)
        for ev, _why in sim.run(end):
            yield ev

    def events_with_truth(
        self, start_ms: int | None = None, days: float | None = None
    ) -> Iterator[tuple[dict[str, Any], tuple[str, float | None]]]:
        """Like :meth:`events`, each with ``(reason, p_success)`` of the simulation.

        ``reason`` is why the content was picked: interest, path, gap, continue,
        explore or prerequisite; ``p_success`` is the latent probability of a correct
        answer / successful attempt (None for other verbs).
        """
        from learnpulse.synth.behaviour import Simulation

        sim = Simulation(self, self.start_ms if start_ms is None else start_ms)
        end = sim.start_ms + int((self.horizon_days if days is None else days) * DAY_MS)
        yield from sim.run(end)


def _mastery0(
    rng: np.random.Generator,
    role: list[str],
    level: np.ndarray,
    g1: np.ndarray,
    g2: np.ndarray,
    rs: dict[str, dict[str, float]],
) -> np.ndarray:
    """Latent starting mastery (learners x skills): role, seniority and interest raise it."""
    roles = sorted(rs)
    rmat = np.zeros((len(roles), len(SKILLS)), np.float32)
    for k, r in enumerate(roles):
        for s, target in rs[r].items():
            rmat[k, SKILL_INDEX[s]] = target
    gmat = np.zeros((len(GROUP_NAMES) + 1, len(SKILLS)), np.float32)  # last row: no group
    for k, g in enumerate(GROUP_NAMES):
        for s in GROUPS[g]:
            gmat[k, SKILL_INDEX[s]] = 1.0
    pos = {r: k for k, r in enumerate(roles)}
    ridx = np.fromiter((pos[r] for r in role), np.int32, len(role))
    seniority = (0.45 + 0.12 * (level.astype(np.float32) - 1))[:, None]
    m = (
        0.08
        + rmat[ridx] * seniority
        + 0.18 * gmat[g1]
        + 0.08 * gmat[g2]
        + rng.normal(0, 0.1, (len(role), len(SKILLS))).astype(np.float32)
    )
    return np.clip(m, 0.02, 0.95).astype(np.float32)


def _assign_paths(org: Organisation, rng: random.Random) -> None:
    """Managers assign paths: most to their whole team, some to one or two people."""
    cat = org.catalog
    for tid, mem in org.team_members.items():
        lead = mem[0]
        reports = mem[1:]
        if not reports:
            continue
        for kind in ("team", "individual"):
            if rng.random() >= (0.6 if kind == "team" else 0.3):
                continue
            targets = reports if kind == "team" else rng.sample(reports, min(2, len(reports)))
            req = org.role_skills[org.role[targets[0]]]
            skills = rng.sample(sorted(req), min(2, len(req)))
            items = sorted(
                {
                    i
                    for s in skills
                    for i in cat.by_skill.get(s, [])
                    if cat.items[i]["published_at_ms"] <= org.start_ms
                },
                key=lambda i: (cat.items[i]["level"], i),
            )
            items = items[: rng.randint(3, 6)]
            if not items:
                continue
            # Most paths exist before the window; some are assigned during it.
            offset = (
                -rng.uniform(0, 10) if rng.random() < 0.7 else rng.uniform(0, org.horizon_days / 2)
            )
            assigned = org.start_ms + int(offset * DAY_MS)
            pid = f"path-{len(org.paths):05d}"
            titles = " & ".join(s.replace("_", " ") for s in skills)
            org.paths.append(
                {
                    "path_id": pid,
                    "updated_at_ms": assigned,
                    "title": f"{org.department[lead].title()} path: {titles}",
                    "assigned_by": org.learner_ids[lead],
                    "learner_ids": [] if kind == "team" else [org.learner_ids[t] for t in targets],
                    "team_ids": [tid] if kind == "team" else [],
                    "items": [
                        {
                            "content_id": cat.items[c]["content_id"],
                            "due_at_ms": assigned + (k + 1) * 7 * DAY_MS,
                        }
                        for k, c in enumerate(items)
                    ],
                    "active": True,
                }
            )
            org.path_items.append(items)
            for t in targets:
                org.learner_paths.setdefault(t, []).append(len(org.paths) - 1)


def _truth(org: Organisation) -> GroundTruth:
    t = GroundTruth(skills=SKILLS, mastery0=org.mastery0)
    for i, lid in enumerate(org.learner_ids):
        t.learner_index[lid] = i
        g2 = int(org.group2[i])
        before = (GROUP_NAMES[int(org.group1[i])],) + ((GROUP_NAMES[g2],) if g2 >= 0 else ())
        t.groups_before[lid] = before
        if org.switch_at[i] >= 0:
            t.switch_at_ms[lid] = int(org.switch_at[i])
            t.groups_after[lid] = (GROUP_NAMES[int(org.group_after[i])],)
        else:
            t.groups_after[lid] = before
        if org.drop_at[i] >= 0:
            t.drop_at_ms[lid] = int(org.drop_at[i])
            t.decay_from_ms[lid] = int(org.decay_from[i])
    return t
