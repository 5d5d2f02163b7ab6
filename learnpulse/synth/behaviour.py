"""Latent behaviour of the synthetic learners, turned into canonical events.

One heap holds each learner's next event time, so events of all learners come
out in event-time order while only one session per learner is ever buffered.
Every decision draws from one seeded RNG in heap order, which is deterministic,
so the same organisation and start give the same stream, and a shorter run is a
prefix of a longer one (nothing depends on where the run stops).
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from learnpulse.synth.catalog import DAY_MS
from learnpulse.synth.org import GROUP_NAMES

if TYPE_CHECKING:
    from learnpulse.synth.org import Organisation

Event = dict[str, Any]
Why = tuple[str, float | None]  # (reason the content was picked, latent P(success))
_SOURCE = {
    "video": "video",
    "podcast": "video",
    "quiz": "quiz",
    "course": "lms",
    "lab": "lms",
    "article": "lxp",
}
_FINISH_P = {"video": 0.7, "podcast": 0.6, "article": 0.65, "course": 0.9, "lab": 0.75}


def p_success(mastery: float, level: int) -> float:
    """Latent chance of a correct answer: a logistic of mastery minus difficulty, with guessing.

    >>> round(p_success(0.9, 1), 2), round(p_success(0.1, 5), 2)
    (0.95, 0.15)
    """
    difficulty = 0.1 + 0.18 * (level - 1)
    return 0.15 + 0.8 / (1.0 + math.exp(-8.0 * (mastery - difficulty)))


class _Learner:
    """What the simulation remembers of one learner between sessions."""

    __slots__ = ("mastery", "done", "prog", "sessions")

    def __init__(self) -> None:
        self.mastery: dict[int, float] = {}  # skill index -> latent mastery, once practiced
        self.done: set[int] = set()
        self.prog: dict[int, float] = {}  # catalog index -> progress, in progress only
        self.sessions = 0


class Simulation:
    """One run of the organisation's behaviour from ``start_ms``."""

    def __init__(self, org: Organisation, start_ms: int) -> None:
        from learnpulse.synth.org import SKILL_INDEX

        self.org = org
        self.start_ms = start_ms
        self.rng = random.Random(f"learnpulse-synth:{org.seed}:{start_ms}")
        ns = uuid.uuid5(uuid.NAMESPACE_URL, f"learnpulse-synth:{org.seed}:{start_ms}").hex
        self._head = f"{ns[:8]}-{ns[8:12]}-{ns[12:16]}-{ns[16:20]}-"
        self._n = 0
        self._state: dict[int, _Learner] = {}
        self._skill_index = SKILL_INDEX
        # Plain lists: numpy scalars are slow in per-event Python code.
        self._spw = org.sessions_per_week.tolist()
        self._hour = org.pref_hour.tolist()
        self._days = org.active_days.tolist()
        self._follow = org.path_follow.tolist()
        self._drop = org.drop_at.tolist()
        self._decay = org.decay_from.tolist()
        self._switch = org.switch_at.tolist()
        zones: dict[str, ZoneInfo] = {}
        self._tz = [zones.setdefault(z, ZoneInfo(z)) for z in org.time_zone]
        g1, g2, ga = org.group1.tolist(), org.group2.tolist(), org.group_after.tolist()
        self._before = [
            (GROUP_NAMES[a],) + ((GROUP_NAMES[b],) if b >= 0 else ())
            for a, b in zip(g1, g2, strict=True)
        ]
        self._after = [(GROUP_NAMES[a],) if a >= 0 else () for a in ga]
        self._req = {r: sorted(s) for r, s in org.role_skills.items()}
        cat = org.catalog
        self._skills_of = [[SKILL_INDEX[s] for s in it["skills"]] for it in cat.items]
        self._prereq = [[cat.index[p] for p in it["prerequisites"]] for it in cat.items]

    # -- scheduling -------------------------------------------------------------------------

    def _next_session(self, i: int, after: int, first: bool = False) -> int | None:
        """Next session start after ``after``: an active weekday at the preferred local hour."""
        rng = self.rng
        mean_days = 7.0 / self._spw[i]
        drop = self._drop[i]
        if drop >= 0:
            if after >= drop:
                return None
            dec = self._decay[i]
            if after > dec:  # disengaging: gaps grow towards the drop
                mean_days *= 1.0 + 4.0 * (after - dec) / max(1, drop - dec)
        gap = rng.uniform(0, mean_days) if first else rng.expovariate(1.0 / mean_days)
        tz = self._tz[i]
        day = datetime.fromtimestamp((after + gap * DAY_MS) / 1000, tz).date()
        mask = self._days[i]
        ts = after + 14 * DAY_MS
        for _ in range(21):
            if mask >> day.weekday() & 1:
                hour = min(23.9, max(0.0, self._hour[i] + rng.gauss(0, 0.6)))
                midnight = datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
                ts = int(midnight * 1000 + hour * 3_600_000)
                if ts > after + 1_800_000:
                    break
            day += timedelta(days=1)
        if drop >= 0 and ts >= drop:
            return None
        return ts

    def run(self, end_ms: int) -> Iterator[tuple[Event, Why]]:
        """Events with their truth, in occurred_at order, up to (excluding) ``end_ms``."""
        heap: list[tuple[int, int]] = []
        for i in range(len(self.org.learner_ids)):
            t = self._next_session(i, self.start_ms, first=True)
            if t is not None:
                heap.append((t, i))
        heapq.heapify(heap)
        pending: dict[int, list[tuple[Event, Why]]] = {}
        while heap:
            t, i = heap[0]
            if t >= end_ms:
                return
            pend = pending.get(i)
            if pend is None:
                pend = self._session(i, t)
                if not pend:
                    nxt = self._next_session(i, t)
                    if nxt is None:
                        heapq.heappop(heap)
                    else:
                        heapq.heapreplace(heap, (nxt, i))
                    continue
                pend.reverse()
                pending[i] = pend
            item = pend.pop()
            yield item
            if pend:
                heapq.heapreplace(heap, (pend[-1][0]["occurred_at_ms"], i))
            else:
                del pending[i]
                nxt = self._next_session(i, item[0]["occurred_at_ms"])
                if nxt is None:
                    heapq.heappop(heap)
                else:
                    heapq.heapreplace(heap, (nxt, i))

    # -- sessions ---------------------------------------------------------------------------

    def _session(self, i: int, t0: int) -> list[tuple[Event, Why]]:
        rng = self.rng
        st = self._state.get(i)
        if st is None:
            st = self._state[i] = _Learner()
        st.sessions += 1
        sw = self._switch[i]
        groups = self._after[i] if 0 <= sw <= t0 else self._before[i]
        engaged = 1.0
        drop = self._drop[i]
        if drop >= 0 and t0 > self._decay[i]:
            engaged = 1.0 - 0.6 * (t0 - self._decay[i]) / max(1, drop - self._decay[i])
        r = rng.random()
        n_act = 1 if engaged < 1.0 else 1 + (r < 0.45) + (r < 0.15)
        ctx = (f"{self.org.learner_ids[i]}/s{st.sessions}", "mobile" if r > 0.7 else "web")
        out: list[tuple[Event, Why]] = []
        cursor = t0
        for _ in range(n_act):
            c, why = self._choose(i, st, groups, cursor)
            if c < 0:
                break
            cursor = self._activity(i, st, c, why, groups, engaged, cursor, ctx, out)
            cursor += rng.randint(20_000, 180_000)
        if drop >= 0 and out and out[-1][0]["occurred_at_ms"] >= drop:
            out = [e for e in out if e[0]["occurred_at_ms"] < drop]
        return out

    def _choose(self, i: int, st: _Learner, groups: tuple[str, ...], t: int) -> tuple[int, str]:
        """A catalog index and why: assigned path, continue, interest, role gap, explore."""
        rng = self.rng
        org = self.org
        cat = org.catalog
        items = cat.items
        paths = org.learner_paths.get(i)
        if paths and rng.random() < self._follow[i]:
            for p in paths:
                if org.paths[p]["updated_at_ms"] <= t:
                    for c in org.path_items[p]:
                        if c not in st.done:
                            return c, "path"
        if st.prog and rng.random() < 0.35:
            return next(reversed(st.prog)), "continue"
        for _ in range(4):
            r = rng.random()
            if r < 0.75:
                g = groups[0] if len(groups) == 1 or rng.random() < 0.65 else groups[1]
                c, why = cat.pick_in_group(g, rng.random()), "interest"
            elif r < 0.88:
                skill = rng.choice(self._req[org.role[i]])
                c, why = rng.choice(cat.by_skill[skill]), "gap"
            else:
                c = cat.pick_in_group(rng.choice(GROUP_NAMES), rng.random())
                why = "explore"
            if c in st.done or items[c]["published_at_ms"] > t:
                continue
            pre = self._prereq[c]
            if pre and pre[0] not in st.done and rng.random() < 0.7:
                return pre[0], "prerequisite"
            return c, why
        return -1, ""

    # -- activities -------------------------------------------------------------------------

    def _ev(
        self,
        i: int,
        t: int,
        verb: str,
        obj: str,
        otype: str,
        source: str,
        result: dict[str, Any] | None,
        ctx: tuple[str, str],
        course: str | None = None,
        skills: list[str] | None = None,
    ) -> Event:
        self._n += 1
        rng = self.rng
        delay = 50 + int(rng.expovariate(1 / 800))
        if rng.random() < 0.01:  # offline clients upload late
            delay += rng.randint(60_000, 6 * 3_600_000)
        return {
            "event_id": self._head + format(self._n, "012x"),
            "learner_id": self.org.learner_ids[i],
            "occurred_at_ms": t,
            "received_at_ms": t + delay,
            "source": source,
            "source_format": "native",
            "verb": verb,
            "object_id": obj,
            "object_type": otype,
            "result": result,
            "context": {
                "course_id": course,
                "session_id": ctx[0],
                "platform": ctx[1],
                "skill_ids": skills or [],
            },
            "extensions": {},
        }

    def _activity(
        self,
        i: int,
        st: _Learner,
        c: int,
        why: str,
        groups: tuple[str, ...],
        engaged: float,
        t: int,
        ctx: tuple[str, str],
        out: list[tuple[Event, Why]],
    ) -> int:
        """Emit one content activity from ``t``; return when it ended."""
        item = self.org.catalog.items[c]
        fmt = item["format"]
        if fmt == "quiz":
            return self._quiz(i, st, c, why, t, ctx, out)
        rng = self.rng
        cid = item["content_id"]
        src = _SOURCE[fmt]
        dur_ms = item["duration_min"] * 60_000
        interested = self.org.catalog.group_of[c] in groups
        p_finish = _FINISH_P[fmt] * (1.0 if interested or why == "path" else 0.6) * engaged
        w: Why = (why, None)
        p0 = st.prog.get(c, 0.0)
        if fmt == "article":
            out.append((self._ev(i, t, "viewed", cid, fmt, src, _res(progress=0.0), ctx), w))
            t += int(dur_ms * rng.uniform(0.3, 1.0))
            if rng.random() < p_finish:
                return self._finish(i, st, c, why, interested, t, ctx, out, dur_ms / 1000)
            st.prog[c] = 0.5
            return t
        verb = "started" if p0 == 0.0 else "resumed"
        out.append((self._ev(i, t, verb, cid, fmt, src, _res(progress=round(p0, 3)), ctx), w))
        # Courses take several sessions; videos, podcasts and labs are one sitting.
        chunk = rng.uniform(0.2, 0.6) if fmt == "course" else 1.0
        finish = rng.random() < p_finish
        target = min(1.0, p0 + chunk) if finish else p0 + (1 - p0) * rng.uniform(0.1, 0.8) * chunk
        q = (int(p0 * 4) + 1) / 4  # progress checkpoints at quarters
        prev = p0
        while q < target:
            t += int((q - prev) * dur_ms)
            out.append((self._ev(i, t, "progressed", cid, fmt, src, _res(progress=q), ctx), w))
            prev = q
            q += 0.25
        t += int((target - prev) * dur_ms)
        if target >= 1.0:
            return self._finish(i, st, c, why, interested, t, ctx, out, dur_ms / 1000)
        st.prog[c] = target
        if finish:  # a course chunk: progress saved, the learner comes back later
            out.append(
                (
                    self._ev(
                        i, t, "progressed", cid, fmt, src, _res(progress=round(target, 3)), ctx
                    ),
                    w,
                )
            )
        else:  # abandoned mid-way
            out.append(
                (self._ev(i, t, "paused", cid, fmt, src, _res(progress=round(target, 3)), ctx), w)
            )
        return t

    def _finish(
        self,
        i: int,
        st: _Learner,
        c: int,
        why: str,
        interested: bool,
        t: int,
        ctx: tuple[str, str],
        out: list[tuple[Event, Why]],
        dur_s: float,
    ) -> int:
        rng = self.rng
        item = self.org.catalog.items[c]
        fmt = item["format"]
        cid = item["content_id"]
        p: float | None = None
        score = success = None
        if fmt == "lab":  # a graded hands-on task
            p = self._p(st, i, c)
            success = rng.random() < p
            score = round(min(1.0, max(0.0, p + rng.gauss(0, 0.15))), 3)
        res = _res(
            progress=1.0, completion=True, duration_s=round(dur_s, 1), score=score, success=success
        )
        skills = item["skills"] if fmt == "lab" else None
        out.append(
            (self._ev(i, t, "completed", cid, fmt, _SOURCE[fmt], res, ctx, skills=skills), (why, p))
        )
        st.prog.pop(c, None)
        st.done.add(c)
        for k in self._skills_of[c]:
            m = self._mastery(st, i, k)
            st.mastery[k] = m + 0.04 * (1 - m) * item["level"] / 3
        if rng.random() < 0.12:
            t += rng.randint(2_000, 30_000)
            rating = round(min(1.0, 0.3 + 0.4 * interested + 0.3 * rng.random()), 2)
            out.append(
                (self._ev(i, t, "rated", cid, fmt, "lxp", _res(rating=rating), ctx), (why, None))
            )
        return t

    def _quiz(
        self,
        i: int,
        st: _Learner,
        c: int,
        why: str,
        t: int,
        ctx: tuple[str, str],
        out: list[tuple[Event, Why]],
    ) -> int:
        rng = self.rng
        item = self.org.catalog.items[c]
        cid = item["content_id"]
        skills = item["skills"]
        k = self._skills_of[c][0]
        out.append(
            (
                self._ev(
                    i, t, "started", cid, "quiz", "quiz", _res(progress=0.0), ctx, skills=skills
                ),
                (why, None),
            )
        )
        n_q = max(3, int(item["duration_min"] // 2))
        t0 = t
        correct = 0
        for q in range(n_q):
            p = self._p(st, i, c)
            ok = rng.random() < p
            correct += ok
            took = rng.randint(15_000, 90_000)
            t += took
            res = _res(score=1.0 if ok else 0.0, success=ok, duration_s=took / 1000)
            out.append(
                (
                    self._ev(
                        i,
                        t,
                        "answered",
                        f"{cid}/q{q + 1}",
                        "question",
                        "quiz",
                        res,
                        ctx,
                        course=cid,
                        skills=skills,
                    ),
                    (why, p),
                )
            )
            m = st.mastery.get(k, 0.0) or self._mastery(st, i, k)
            st.mastery[k] = m + (0.05 if ok else 0.02) * (1 - m)  # practice teaches
        score = correct / n_q
        t += rng.randint(1_000, 5_000)
        res = _res(
            score=round(score, 3),
            success=score >= 0.7,
            completion=True,
            progress=1.0,
            duration_s=(t - t0) / 1000,
        )
        out.append(
            (self._ev(i, t, "attempted", cid, "quiz", "quiz", res, ctx, skills=skills), (why, None))
        )
        if score >= 0.7:
            st.done.add(c)
        return t

    def _mastery(self, st: _Learner, i: int, k: int) -> float:
        m = st.mastery.get(k)
        if m is None:
            m = st.mastery[k] = float(self.org.mastery0[i, k])
        return m

    def _p(self, st: _Learner, i: int, c: int) -> float:
        return p_success(
            self._mastery(st, i, self._skills_of[c][0]), self.org.catalog.items[c]["level"]
        )


def _res(
    score: float | None = None,
    success: bool | None = None,
    completion: bool | None = None,
    progress: float | None = None,
    duration_s: float | None = None,
    rating: float | None = None,
) -> dict[str, Any]:
    return {
        "score_scaled": score,
        "success": success,
        "completion": completion,
        "progress": progress,
        "duration_s": duration_s,
        "rating": rating,
    }
