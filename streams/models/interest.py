"""Interest vector of one learner: what they engage with, and what they say they like.

The ``interest`` section of the learner state holds decayed weights of the
topics (``t:<topic>``) and skills (``s:<skill>``) of the content the learner
engaged with. Each event adds weight by its *depth* (viewed < started <
progressed < completed; a graded attempt by its score; a rating up or down),
less for content the learner was assigned (a path step says less about
interest than a free choice). Older engagement fades with a half-life in
event time, so replays give the same vector as living through it.

:func:`vector` blends that behaviour with what the profile says (stated
``interests``, ``goals``, ``self_assessed_skills``): a new learner is placed by
what they say, and their behaviour takes over as evidence accumulates. The
result is a small L2-normalised sparse dict, the input of
:mod:`streams.models.clusters`.

Section layout (bounded, ~300-900 B as JSON)::

    w    feature -> weight in the frame of time r (at most MAX_FEATURES)
    r    event time (ms) of the weights' frame (weights grow with time instead
         of all decaying on every event; see :func:`observe`)
    t    latest event time seen (ms)
    m    evidence mass in the same frame (sum of added weights)
    n    events that added weight
    pub  the vector last published to the interest update stream (sparse)
    pt   event time of that publication
    clu  cluster membership, owned by :func:`streams.models.clusters.assign`
    peer recent peer-signal contributions, owned by :mod:`streams.models.peers`

Examples
--------
>>> DAY = 86_400_000
>>> sec: dict = {}
>>> item = {"topics": ["data"], "skills": ["sql"]}
>>> observe(sec, {"verb": "completed", "occurred_at_ms": 0}, item)
1.0
>>> observe(sec, {"verb": "viewed", "occurred_at_ms": DAY}, {"topics": ["design"]})
0.2
>>> v = vector(sec, {"interests": ["data"]}, now_ms=DAY)
>>> max(v, key=v.get)
't:data'
>>> round(sum(x * x for x in v.values()), 2)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from streams.models.rounding import fast_round

DAY_MS: Final = 86_400_000
HALF_LIFE_DAYS: Final = 14.0  # interests move over weeks, not days (evaluated: 10-21 similar)
MAX_FEATURES: Final = 12  # stored weights per learner
VECTOR_FEATURES: Final = 12  # features kept in the published vector
PUB_FEATURES: Final = 6  # features remembered of the last published vector (drift check only)
SKILL_SHARE: Final = 0.5  # a skill counts half as much as the item's topic
ASSIGNED_FACTOR: Final = 0.35  # a path step assigned by someone else is weaker evidence
PRIOR_MASS: Final = 3.0  # behaviour outweighs the profile after ~3 completions' worth
MIN_WEIGHT: Final = 0.01

# Depth of engagement per verb (weight added to the item's features).
DEPTH: Final[dict[str, float]] = {
    "viewed": 0.2,
    "launched": 0.2,
    "paused": 0.1,  # stopped mid-way: a weak signal
    "started": 0.3,
    "resumed": 0.3,
    "progressed": 0.4,
    "answered": 0.05,  # one question of a quiz; the attempt carries the weight
    "submitted": 0.5,
    "completed": 1.0,
    "passed": 1.0,
    "mastered": 1.0,
}
GRADED: Final = frozenset({"attempted", "graded", "scored", "failed"})

Vector = dict[str, float]
Section = dict[str, Any]


def depth(event: dict[str, Any]) -> float:
    """Weight one event adds to its item's features (negative for a poor rating).

    >>> depth({"verb": "viewed"}) < depth({"verb": "started"}) < depth({"verb": "progressed"})
    True
    >>> depth({"verb": "progressed"}) < depth({"verb": "completed"})
    True
    >>> depth({"verb": "attempted", "result": {"score_scaled": 0.9}})
    0.95
    >>> depth({"verb": "rated", "result": {"rating": 0.1}})
    -0.4
    """
    verb = event.get("verb", "")
    result: dict[str, Any] = event.get("result") or {}
    if verb in GRADED:
        score = result.get("score_scaled")
        s = 0.5 if score is None else max(0.0, min(1.0, float(score)))
        return fast_round(0.5 + 0.5 * s, 4)
    if verb == "rated":
        rating = result.get("rating")
        return 0.0 if rating is None else fast_round(float(rating) - 0.5, 4)
    w = DEPTH.get(verb, 0.0)
    if w and result.get("completion") is True and w < DEPTH["completed"]:
        w = DEPTH["completed"]
    return w


def item_of(
    event: Mapping[str, Any], catalog: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The catalog item an event is about: its object, else its course (quiz questions).

    Falls back to the event's own ``context.skill_ids`` (skills, no topic).

    >>> cat = {"quiz-1": {"topics": ["data"], "skills": ["sql"]}}
    >>> ev = {"object_id": "quiz-1/q3", "context": {"course_id": "quiz-1", "skill_ids": []}}
    >>> item_of(ev, cat)["topics"]
    ['data']
    """
    item = catalog.get(event.get("object_id") or "")
    if item is not None:
        return item
    ctx = event.get("context") or {}
    course = ctx.get("course_id")
    if course and course in catalog:
        return catalog[course]
    skills = ctx.get("skill_ids") or ()
    return {"skills": list(skills), "topics": []} if skills else None


def features(item: Mapping[str, Any]) -> Vector:
    """Feature weights of one item: its first topic 1.0, its skills sharing SKILL_SHARE."""
    out: Vector = {}
    topics = item.get("topics") or ()
    if topics:
        out[f"t:{topics[0]}"] = 1.0
    skills = item.get("skills") or ()
    for s in skills:
        out[f"s:{s}"] = SKILL_SHARE / len(skills)
    return out


def observe(
    section: Section,
    event: dict[str, Any],
    item: Mapping[str, Any] | None,
    assigned: bool = False,
) -> float:
    """Add one event's evidence; returns the weight added (0.0 when it says nothing).

    ``assigned``: the item is a step of a path assigned to the learner (weaker
    evidence of interest). Weights live in a frame that grows with event time
    (an event at ``t`` adds ``w * 2 ** ((t - r) / half-life)``), so an event
    touches only its own item's features, and late events need no special case.
    """
    if item is None:
        return 0.0
    w = depth(event)
    if w == 0.0:
        return 0.0
    if assigned:
        w *= ASSIGNED_FACTOR
    feats = features(item)
    if not feats:
        return 0.0
    t = int(event["occurred_at_ms"])
    ref = section.get("r")
    if ref is None:
        ref = section["r"] = t
    grow = _growth(t - ref)
    if grow > _REBASE_AT:
        _rebase(section, t)
        ref, grow = t, 1.0
    weights: dict[str, float] = section.setdefault("w", {})
    add = w * grow
    for k, x in feats.items():
        v = weights.get(k, 0.0) + add * x
        if v > 0.0:
            weights[k] = fast_round(v, 4)
        else:
            weights.pop(k, None)
    if add > 0:
        section["m"] = fast_round(section.get("m", 0.0) + add, 4)
    if t > section.get("t", 0):
        section["t"] = t
    section["n"] = section.get("n", 0) + 1
    if len(weights) > MAX_FEATURES:
        _bound(section, weights)
    return fast_round(w, 4)


_REBASE_AT: Final = 1e4  # frame growth at which weights are rescaled (~13 half-lives)


def _growth(dt_ms: int) -> float:
    return 2.0 ** (dt_ms / (HALF_LIFE_DAYS * DAY_MS))


def _rebase(section: Section, t: int) -> None:
    scale = 1.0 / _growth(t - int(section["r"]))
    weights: dict[str, float] = section.get("w") or {}
    for k in list(weights):
        v = round(weights[k] * scale, 4)
        if v > 0.0:
            weights[k] = v
        else:
            del weights[k]
    section["m"] = round(section.get("m", 0.0) * scale, 4)
    section["r"] = t


def _bound(section: Section, weights: dict[str, float]) -> None:
    # Forget the weakest features, and with them any that decayed below MIN_WEIGHT.
    floor = MIN_WEIGHT * _growth(int(section.get("t", 0)) - int(section.get("r", 0)))
    drop = len(weights) - MAX_FEATURES
    for k in sorted(weights, key=lambda k: (weights[k], k)):
        if drop <= 0 and weights[k] >= floor:
            break
        del weights[k]
        drop -= 1


def mass(section: dict[str, Any], now_ms: int) -> float:
    """Decayed evidence mass at ``now_ms``."""
    ref = section.get("r")
    if ref is None:
        return 0.0
    return float(section.get("m", 0.0)) / _growth(now_ms - int(ref))


def stated(profile: dict[str, Any], skill_topic: dict[str, str] | None = None) -> Vector:
    """What the learner says: stated interests, goals, and skills they rated themselves on.

    ``skill_topic`` (skill -> topic, see :func:`skill_topics`) lets a goal skill
    also point at its topic.

    >>> stated({"interests": ["data"], "goals": ["sql"]}, {"sql": "data"})
    {'t:data': 1.5, 's:sql': 0.5}
    """
    # Each key built once (compiled, an f-string is a str build per use).
    out: Vector = {}
    for t in profile.get("interests") or ():
        k = f"t:{t}"
        out[k] = out.get(k, 0.0) + 1.0
    topics = skill_topic if skill_topic is not None else {}
    for s in profile.get("goals") or ():
        k = f"s:{s}"
        out[k] = out.get(k, 0.0) + 0.5
        if s in topics:
            k = f"t:{topics[s]}"
            out[k] = out.get(k, 0.0) + 0.5
    rated: dict[str, Any] = profile.get("self_assessed_skills") or {}
    for s, level in rated.items():
        # Rating oneself on a skill shows familiarity more than interest: a light touch.
        k = f"s:{s}"
        out[k] = out.get(k, 0.0) + 0.2 * max(0.0, min(1.0, float(level)))
    return out


def skill_topics(catalog: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """skill -> the topic most of the catalog's items teaching it are filed under.

    Compute once per catalog version.

    >>> skill_topics({"a": {"skills": ["sql"], "topics": ["data"]},
    ...               "b": {"skills": ["sql", "python"], "topics": ["data"]}})
    {'sql': 'data', 'python': 'data'}
    """
    votes: dict[str, dict[str, int]] = {}
    for item in catalog.values():
        topics = item.get("topics") or ()
        if not topics:
            continue
        for s in item.get("skills") or ():
            v = votes.setdefault(s, {})
            v[topics[0]] = v.get(topics[0], 0) + 1
    return {s: min(v, key=lambda t, v=v: (-v[t], t)) for s, v in votes.items()}  # type: ignore[misc]


def _unit(v: dict[str, float]) -> Vector:
    # A float accumulator, not sum(): compiled, sum() over a generator adds boxed
    # numbers and its result makes math.sqrt a generic call. The same additions in
    # the same order.
    ss = 0.0
    for x in v.values():
        ss += x * x
    norm = math.sqrt(ss)
    return {k: x / norm for k, x in v.items()} if norm > 0 else {}


def stated_unit(profile: dict[str, Any], skill_topic: dict[str, str] | None = None) -> Vector:
    """:func:`stated`, L2-normalised: the profile's part of :func:`vector`."""
    return _unit(stated(profile, skill_topic))


def vector(
    section: dict[str, Any],
    profile: dict[str, Any],
    now_ms: int,
    skill_topic: dict[str, str] | None = None,
    said: Vector | None = None,
) -> Vector:
    """The learner's interest vector now: sparse, L2-normalised, at most VECTOR_FEATURES.

    Empty when there is neither behaviour nor a stated interest. ``said`` is
    ``stated_unit(profile, skill_topic)`` if the caller has it already (not changed).
    """
    behaviour = _unit(section.get("w") or {})
    if said is None:
        said = stated_unit(profile, skill_topic)
    m = mass(section, now_ms) if behaviour else 0.0
    alpha = m / (m + PRIOR_MASS) if said else 1.0
    mixed: Vector = {}
    for k, x in behaviour.items():
        mixed[k] = alpha * x
    for k, x in said.items():
        mixed[k] = mixed.get(k, 0.0) + (1.0 - alpha) * x
    # Sorted by (-weight, key) as tuples, not through a key function (compiled, one
    # generic call per item); keys are unique, so the order is the same.
    ranked = sorted([(-x, k) for k, x in mixed.items()])[:VECTOR_FEATURES]
    out = _unit({k: -nx for nx, k in ranked})
    return {k: fast_round(x, 4) for k, x in out.items() if x >= 0.005}


def distance(a: dict[str, float], b: dict[str, float]) -> float:
    """Euclidean distance of two sparse vectors.

    >>> distance({"a": 1.0}, {"b": 1.0}) == 2 ** 0.5
    True
    """
    return math.sqrt(sum((a.get(k, 0.0) - b.get(k, 0.0)) ** 2 for k in {*a, *b}))


def should_publish(
    section: dict[str, Any],
    v: dict[str, float],
    now_ms: int,
    drift: float = 0.2,
    min_gap_ms: int = 600_000,
    refresh_ms: int = 7 * DAY_MS,
) -> bool:
    """Whether this vector should go to the shared interest update stream.

    When it moved at least ``drift`` (Euclidean, on unit vectors) from the
    last published one, but not within ``min_gap_ms`` of event time of the last
    publication; and once per ``refresh_ms`` for an active learner whose vector
    did not move (so the clusterer knows they are still there). A steady
    learner sends almost nothing, so the stream stays low-rate however busy
    the learner is.

    >>> should_publish({}, {"t:data": 1.0}, 0)
    True
    >>> should_publish({"pub": {"t:data": 1.0}, "pt": 0}, {"t:data": 1.0}, 10**8)
    False
    >>> should_publish({"pub": {"t:data": 1.0}, "pt": 0}, {"t:data": 1.0}, 7 * DAY_MS)
    True
    """
    if not v:
        return False
    pub = section.get("pub")
    if not pub:
        return True
    since = now_ms - int(section.get("pt", 0))
    if since < min_gap_ms:
        return False
    return since >= refresh_ms or distance(pub, v) >= drift


def mark_published(section: Section, v: Mapping[str, float], now_ms: int) -> None:
    """Remember the published vector (rounded: it is only compared for drift)."""
    top = sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))[:PUB_FEATURES]
    rounded = [(k, fast_round(x, 2)) for k, x in top]
    section["pub"] = {k: x for k, x in rounded if x > 0}
    section["pt"] = now_ms


def top_topics(v: Mapping[str, float], n: int = 3) -> list[str]:
    """The strongest topics of a vector, strongest first.

    >>> top_topics({"t:data": 0.8, "s:sql": 0.5, "t:design": 0.3})
    ['data', 'design']
    """
    topics = [(x, k[2:]) for k, x in v.items() if k.startswith("t:")]
    return [t for _x, t in sorted(topics, key=lambda p: (-p[0], p[1]))[:n]]
