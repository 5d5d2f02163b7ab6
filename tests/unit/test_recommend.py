"""The stream worker's entry point: cold start, exploration, replay, checkpoints, adaptation."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from learnpulse.synth import Organisation
from streams.models import learner
from streams.models.popularity import ALL, Popularity, segment_key
from streams.models.recommend import MODEL_VERSION, Recommender
from streams.models.state import new_state

DAY = 86_400_000


class Ref:
    """Reference data as ``streams.reference.ReferenceData`` exposes it."""

    def __init__(self, records: dict[str, list[dict[str, Any]]]) -> None:
        self.catalog = {r["content_id"]: r for r in records["catalog"]}
        self.paths = {p["path_id"]: p for p in records["paths"]}
        self.role_skills = {r["role"]: r["required_skills"] for r in records["role_skills"]}
        self.version = 1


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.generate(60, seed=11, horizon_days=20)


@pytest.fixture(scope="module")
def events(org: Organisation) -> list[dict[str, Any]]:
    return list(org.events(days=20))


def replay(
    org: Organisation, events: list[dict[str, Any]], **kw: Any
) -> tuple[Recommender, dict[str, dict[str, Any]]]:
    """Feed events the way the stream worker does: guard, observe, then apply."""
    rec = Recommender(Ref(org.reference_records()), **kw)
    states: dict[str, dict[str, Any]] = {}
    for prof in org.profiles():
        st = states[prof["learner_id"]] = new_state()
        learner.apply_profile(st, prof)
    for offset, ev in enumerate(events):
        st = states[ev["learner_id"]]
        if learner.guard(st, ev["event_id"], 0, offset) == "applied":
            rec.observe(st, ev)
            learner.apply_activity(st, ev)
    return rec, states


def test_the_same_events_twice_give_the_same_state_and_lists(
    org: Organisation, events: list[dict[str, Any]]
) -> None:
    rec1, states1 = replay(org, events, seed=5)
    rec2, states2 = replay(org, events, seed=5)
    end = events[-1]["occurred_at_ms"]
    for lid in org.learner_ids[:20]:
        assert orjson.dumps(states1[lid]) == orjson.dumps(states2[lid])
        assert rec1.recommend(states1[lid], now_ms=end, learner_id=lid) == rec2.recommend(
            states2[lid], now_ms=end, learner_id=lid
        )
    assert orjson.dumps(rec1.checkpoint()) == orjson.dumps(rec2.checkpoint())


def test_a_replayed_batch_changes_nothing(org: Organisation, events: list[dict[str, Any]]) -> None:
    rec, states = replay(org, events[:2000])
    before = orjson.dumps({k: states[k] for k in sorted(states)}), orjson.dumps(rec.checkpoint())
    for offset, ev in enumerate(events[:2000]):  # redelivered after a crash: same offsets
        st = states[ev["learner_id"]]
        if learner.guard(st, ev["event_id"], 0, offset) == "applied":
            rec.observe(st, ev)
            learner.apply_activity(st, ev)
    after = orjson.dumps({k: states[k] for k in sorted(states)}), orjson.dumps(rec.checkpoint())
    assert after == before


def test_recommend_does_not_modify_the_state(
    org: Organisation, events: list[dict[str, Any]]
) -> None:
    half = len(events) // 2
    rec, states = replay(org, events[:half])
    lid = events[half - 1]["learner_id"]
    snapshot = copy.deepcopy(states[lid])
    rec.recommend(states[lid], now_ms=events[half - 1]["occurred_at_ms"], learner_id=lid)
    assert states[lid] == snapshot


def test_checkpoint_restores_the_shared_state(
    org: Organisation, events: list[dict[str, Any]]
) -> None:
    rec, states = replay(org, events)
    restored = Recommender.restore(rec.ref, orjson.loads(orjson.dumps(rec.checkpoint())))
    end = events[-1]["occurred_at_ms"]
    for lid in org.learner_ids[:10]:
        assert restored.recommend(states[lid], now_ms=end, learner_id=lid) == rec.recommend(
            states[lid], now_ms=end, learner_id=lid
        )


def test_per_learner_ranker_state_stays_small(
    org: Organisation, events: list[dict[str, Any]]
) -> None:
    _rec, states = replay(org, events)
    sizes = [len(orjson.dumps(st["ranker"])) for st in states.values()]
    assert max(sizes) < 1500


# -- cold start ---------------------------------------------------------------------------
def _item(cid: str, topic: str, skill: str, level: int = 1) -> dict[str, Any]:
    return {
        "content_id": cid,
        "title": cid,
        "skills": [skill],
        "topics": [topic],
        "level": level,
        "format": "video",
        "published_at_ms": 1,
    }


class SmallRef:
    version = 1
    paths: dict[str, Any] = {}
    role_skills = {"account_executive": {"negotiation": 0.8}, "software_engineer": {"python": 0.8}}

    def __init__(self) -> None:
        items = [_item(f"nego-{i}", "sales_craft", "negotiation", 1 + i % 3) for i in range(4)]
        items += [_item(f"py-{i}", "programming", "python", 1 + i % 3) for i in range(4)]
        items += [_item(f"crm-{i}", "sales_craft", "crm") for i in range(3)]
        items += [_item(f"git-{i}", "programming", "git") for i in range(3)]
        self.catalog = {it["content_id"]: it for it in items}


def test_a_new_learner_starts_from_their_role_and_segment() -> None:
    pop = Popularity()
    now = 100 * DAY
    sales, eng = ({"department": d, "is_manager": False} for d in ("sales", "engineering"))
    for _ in range(5):  # what the two segments have been engaging with
        pop.add([ALL, segment_key(sales)], "crm-2", now - DAY)
        pop.add([ALL, segment_key(eng)], "git-1", now - DAY)
    rec = Recommender(SmallRef(), pop, explore_slots=0)
    newbie = new_state()
    newbie["profile"] = {
        "learner_id": "new",
        "role": "account_executive",
        "department": "sales",
        "level": 1,
    }
    items = rec.recommend(newbie, now_ms=now)
    ids = [it["content_id"] for it in items]
    # The top three: the segment's favourite and the skill the role needs, at an easy level.
    top3 = {it["content_id"]: it for it in items[:3]}
    assert "crm-2" in top3
    assert top3["crm-2"]["reasons"][0] == "Popular with individual contributors in Sales lately"
    gaps = [it for c, it in top3.items() if c.startswith("nego-")]
    assert gaps and all(it["source"] == "gap" for it in gaps)
    assert all(SmallRef().catalog[it["content_id"]]["level"] <= 2 for it in gaps)
    assert gaps[0]["reasons"][0] == "Builds Negotiation, a skill your role needs"
    assert ids.index("crm-2") < ids.index("git-1")  # not the engineers' favourite


def test_exploration_uses_at_most_its_slots_at_the_end_and_is_seeded(
    org: Organisation, events: list[dict[str, Any]]
) -> None:
    rec, states = replay(org, events, explore_slots=2, seed=1)
    end = events[-1]["occurred_at_ms"]
    explored_any = False
    for lid in org.learner_ids:
        items = rec.recommend(states[lid], now_ms=end, learner_id=lid)
        flags = [it["source"] == "explore" for it in items]
        assert sum(flags) <= 2
        assert flags == sorted(flags)  # exploratory items only after the others
        assert all(
            "Suggested to help you discover something new" in it["reasons"]
            for it in items
            if it["source"] == "explore"
        )
        explored_any |= any(flags)
        assert items == rec.recommend(states[lid], now_ms=end, learner_id=lid)
    assert explored_any
    none = Recommender(rec.ref, rec.popularity, prior=rec.prior, explore_slots=0)
    for lid in org.learner_ids[:10]:
        assert all(
            it["source"] != "explore"
            for it in none.recommend(states[lid], now_ms=end, learner_id=lid)
        )


def test_a_new_interest_shows_in_the_top_five_after_one_pick() -> None:
    ref = SmallRef()
    ref.catalog.update({f"fig-{i}": _item(f"fig-{i}", "design", "figma") for i in range(4)})
    rec = Recommender(ref, explore_slots=0)
    st = new_state()
    st["profile"] = {
        "learner_id": "ann",
        "role": "software_engineer",
        "department": "engineering",
        "interests": ["programming"],
    }
    t = 10 * DAY
    for n, cid in enumerate(["py-0", "git-0", "py-1", "git-1", "git-2"]):
        ev = {
            "event_id": f"e{n}",
            "learner_id": "ann",
            "occurred_at_ms": t + n * DAY,
            "verb": "started",
            "object_id": cid,
            "result": {"progress": 0.0},
        }
        rec.observe(st, ev)
        learner.apply_activity(st, ev)

    def top5() -> list[str]:
        return [it["content_id"] for it in rec.recommend(st, now_ms=t + 9 * DAY)][:5]

    assert not any(c.startswith("fig") for c in top5())
    ev = {
        "event_id": "e9",
        "learner_id": "ann",
        "occurred_at_ms": t + 8 * DAY,
        "verb": "started",
        "object_id": "fig-0",
        "result": {"progress": 0.0},
    }
    rec.observe(st, ev)
    learner.apply_activity(st, ev)
    assert any(c.startswith("fig") for c in top5())


def test_an_unknown_in_progress_item_is_still_continued() -> None:
    class Empty:
        version = 1
        catalog: dict = {}
        paths: dict = {}
        role_skills: dict = {}

    s = new_state()
    s["prog"]["sql-101"] = [0.4, 1]
    items = Recommender(Empty(), explore_slots=0).recommend(s, now_ms=2)
    assert items[0]["content_id"] == "sql-101" and items[0]["source"] == "continue"
    assert "40%" in items[0]["reasons"][0]
    assert MODEL_VERSION


def test_skill_model_estimates_are_cached_from_answers_and_set_the_level() -> None:
    from streams.models.mastery import SkillModel

    model = SkillModel()
    rec = Recommender(SmallRef(), skill_model=model, explore_slots=0)
    st = new_state()
    st["profile"] = {"learner_id": "ann", "role": "account_executive", "department": "sales"}
    for i in range(10):
        t = DAY + i * 60_000
        ev: dict[str, Any] = {
            "event_id": f"a{i}",
            "learner_id": "ann",
            "occurred_at_ms": t,
            "verb": "answered",
            "object_id": f"nego-quiz/q{i}",
            "object_type": "question",
            "result": {"success": i % 2 == 0, "score_scaled": float(i % 2 == 0)},
            "context": {"skill_ids": ["negotiation"]},
        }
        model.learn(st["mastery"], ["negotiation"], i % 2 == 0, t)
        rec.observe(st, ev)
        learner.apply_activity(st, ev)
    m = st["ranker"]["m"]["negotiation"]
    assert m == round(model.mastery(st["mastery"], "negotiation"), 3)
    items = rec.recommend(st, now_ms=2 * DAY)
    gap = [it for it in items if it["source"] == "gap"]
    assert gap and gap[0]["reasons"][0] == (
        f"Builds Negotiation, a skill your role needs; your estimated mastery is {round(m * 100)}%"
    )
    want = min(5, 1 + int(m * 5))
    assert all(abs(SmallRef().catalog[it["content_id"]]["level"] - want) <= 1 for it in gap)


def test_feedback_on_an_exploratory_item_trains_the_arm_it_came_from() -> None:
    ref = SmallRef()
    now = 100 * DAY
    ref.catalog["fresh-1"] = {**_item("fresh-1", "design", "figma"), "published_at_ms": now - DAY}
    rec = Recommender(ref, explore_slots=2, seed=3)
    st = new_state()
    st["profile"] = {
        "learner_id": "ann",
        "role": "software_engineer",
        "department": "eng",
        "interests": ["programming", "sales_craft"],
    }
    items = rec.recommend(st, now_ms=now)
    assert len(items) == 10
    explored = {it["content_id"] for it in items if it["source"] == "explore"}
    assert "fresh-1" in explored
    for n, verb in enumerate(("impression", "clicked")):
        rec.observe(
            st,
            {
                "event_id": f"f{n}",
                "learner_id": "ann",
                "occurred_at_ms": now + n,
                "verb": verb,
                "object_id": "fresh-1",
                "object_type": "recommendation",
                "result": None,
                "extensions": {"source": "explore"},
            },
        )
    assert st["ranker"]["arm"] == {"fresh": [1.0, 1.0]}
    assert list(st["ranker"]["imp"].values()) == [1]


def test_fast_scores_are_the_dot_product_of_the_feature_dicts(
    org: Organisation, events: list[dict[str, Any]]
) -> None:
    from streams.models.candidates import generate
    from streams.models.ranker import combined_weights, dot, features, scores

    rec, states = replay(org, events, seed=5)
    end = events[-1]["occurred_at_ms"]
    checked = 0
    for n, lid in enumerate(org.learner_ids[:30]):
        st = states[lid]
        peers = {cid: 5 + i for i, cid in enumerate(list(rec.index().items)[n : n + 4])}
        ctx = rec.context(st, lid, end, cluster=n % 3, peers=peers)
        pool = generate(ctx)
        w = combined_weights(rec.prior, ctx.segment, st["ranker"])
        fast = scores([(c.cid, c.info) for c in pool.values()], ctx, w)
        slow = [dot(w, features(c.info, ctx, c.cid)) for c in pool.values()]
        assert fast == slow  # bit-identical, so rankings cannot move
        checked += len(slow)
    assert checked > 300
