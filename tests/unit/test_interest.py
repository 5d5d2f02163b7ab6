"""Interest vectors: depth, recency, stated interests, assigned work, bounded state."""

from __future__ import annotations

import random

import orjson
import pytest

from streams.models import interest

DAY = 86_400_000
T0 = 1_735_603_200_000
DATA = {"topics": ["data"], "skills": ["sql"]}
DESIGN = {"topics": ["design"], "skills": ["figma"]}


def ev(verb: str, t: int, **result: float) -> dict:
    return {"verb": verb, "occurred_at_ms": t, "result": result or None}


def top(sec: dict, profile: dict | None = None, now: int | None = None) -> str:
    v = interest.vector(sec, profile or {}, now if now is not None else sec.get("t", T0))
    return interest.top_topics(v, 1)[0]


def test_depth_orders_verbs_and_scores() -> None:
    d = [interest.depth({"verb": v}) for v in ("viewed", "started", "progressed", "completed")]
    assert d == sorted(d) and len(set(d)) == 4
    low = interest.depth({"verb": "attempted", "result": {"score_scaled": 0.1}})
    high = interest.depth({"verb": "attempted", "result": {"score_scaled": 0.9}})
    assert low < high
    assert interest.depth({"verb": "rated", "result": {"rating": 0.0}}) < 0
    assert interest.depth({"verb": "impression"}) == 0.0


def test_one_completion_outweighs_a_few_views() -> None:
    sec: dict = {}
    interest.observe(sec, ev("completed", T0), DATA)
    for k in range(3):
        interest.observe(sec, ev("viewed", T0 + k), DESIGN)
    assert top(sec) == "data"


def test_recent_interest_wins_over_old_interest() -> None:
    sec: dict = {}
    for k in range(4):
        interest.observe(sec, ev("completed", T0 + k * 3_600_000), DATA)
    for k in range(2):
        interest.observe(sec, ev("completed", T0 + 60 * DAY + k), DESIGN)
    assert top(sec) == "design"
    # The same events close together: the larger, older interest still leads.
    near: dict = {}
    for k in range(4):
        interest.observe(near, ev("completed", T0 + k * 3_600_000), DATA)
    for k in range(2):
        interest.observe(near, ev("completed", T0 + DAY + k), DESIGN)
    assert top(near) == "data"


def test_assigned_content_counts_less_than_a_free_choice() -> None:
    sec: dict = {}
    interest.observe(sec, ev("completed", T0), DESIGN)
    for k in range(2):
        interest.observe(sec, ev("completed", T0 + k), DATA, assigned=True)
    assert top(sec) == "design"


def test_stated_interests_place_a_new_learner_and_behaviour_takes_over() -> None:
    profile = {"interests": ["design"], "goals": ["figma"]}
    sec: dict = {}
    assert interest.top_topics(interest.vector(sec, profile, T0), 1) == ["design"]
    interest.observe(sec, ev("completed", T0), DATA)
    assert top(sec, profile) == "design"  # one completion is not enough to override
    for k in range(1, 6):
        interest.observe(sec, ev("completed", T0 + k * DAY), DATA)
    assert top(sec, profile) == "data"


def test_goal_skills_point_at_their_topic() -> None:
    catalog = {"c1": {"skills": ["sql"], "topics": ["data"]}}
    v = interest.vector({}, {"goals": ["sql"]}, T0, interest.skill_topics(catalog))
    assert interest.top_topics(v) == ["data"]


def test_quiz_questions_count_for_their_quiz() -> None:
    catalog = {"quiz-sql": {"topics": ["data"], "skills": ["sql"]}}
    question = {"object_id": "quiz-sql/q2", "context": {"course_id": "quiz-sql"}}
    assert interest.item_of(question, catalog) == catalog["quiz-sql"]
    assert interest.item_of({"object_id": "unknown", "context": {}}, catalog) is None


def test_vector_is_unit_length_sparse_and_state_is_bounded() -> None:
    sec: dict = {}
    rng = random.Random(3)
    for k in range(500):
        item = {"topics": [f"topic{rng.randrange(40)}"], "skills": [f"skill{rng.randrange(200)}"]}
        interest.observe(sec, ev("completed", T0 + k * 60_000), item)
    v = interest.vector(sec, {"interests": ["data"], "goals": ["sql", "python"]}, T0)
    assert len(v) <= interest.VECTOR_FEATURES
    assert sum(x * x for x in v.values()) == pytest.approx(1.0, abs=1e-3)
    interest.mark_published(sec, v, T0)
    assert len(sec["w"]) <= interest.MAX_FEATURES
    assert len(orjson.dumps(sec)) < 900


def test_arrival_order_barely_changes_the_vector() -> None:
    events = [
        (ev("completed" if k % 3 else "viewed", T0 + k * DAY), DATA if k % 2 else DESIGN)
        for k in range(12)
    ]
    in_order: dict = {}
    for e, item in events:
        interest.observe(in_order, e, item)
    shuffled: dict = {}
    for e, item in random.Random(1).sample(events, len(events)):
        interest.observe(shuffled, e, item)
    now = T0 + 12 * DAY
    a = interest.vector(in_order, {}, now)
    b = interest.vector(shuffled, {}, now)
    assert interest.distance(a, b) < 0.01


def test_publication_needs_drift_and_a_gap() -> None:
    sec: dict = {}
    v1 = {"t:data": 1.0}
    assert interest.should_publish(sec, v1, T0)
    interest.mark_published(sec, v1, T0)
    moved = {"t:data": 0.8, "t:design": 0.6}
    assert not interest.should_publish(sec, moved, T0 + 60_000)  # too soon
    assert interest.should_publish(sec, moved, T0 + DAY)
    assert not interest.should_publish(sec, {"t:data": 0.99, "s:sql": 0.1}, T0 + DAY)  # no drift
    assert not interest.should_publish(sec, {}, T0 + DAY)
    # A steady learner still checks in once a week, so cluster sizes count them.
    assert interest.should_publish(sec, {"t:data": 0.99, "s:sql": 0.1}, T0 + 7 * DAY)


def test_a_year_of_activity_keeps_weights_small_and_follows_the_latest_interest() -> None:
    sec: dict = {}
    for d in range(365):
        item = DATA if d < 300 else DESIGN
        interest.observe(sec, ev("completed", T0 + d * DAY), item)
    # The growing frame was rebased: without it the weights would be ~1e9.
    assert sec["r"] > T0 and max(sec["w"].values()) < 1e6
    assert top(sec) == "design"
    assert interest.mass(sec, T0 + 364 * DAY) == pytest.approx(
        sum(0.5 ** ((364 - d) / interest.HALF_LIFE_DAYS) for d in range(365)), rel=1e-3
    )
