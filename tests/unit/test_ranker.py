"""The online ranker: River-equivalent updates, layered priors, learning from feedback."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from river import linear_model, optim

from streams.models import ranker
from streams.models.candidates import CatalogIndex, Context
from streams.models.popularity import Popularity
from streams.models.ranker import LEARNER_MAX_WEIGHTS, Logit, SharedPrior, features, learn_learner
from streams.models.recommend import Recommender
from streams.models.state import new_state

DAY = 86_400_000
NOW = 1_736_424_000_000


def test_logit_without_offset_is_rivers_logistic_regression_with_sgd() -> None:
    rng = random.Random(3)
    ours = Logit(lr=0.1)
    river = linear_model.LogisticRegression(optimizer=optim.SGD(0.1), intercept_lr=0.0)
    for _ in range(300):
        x = {"b": 1.0, "a": rng.random(), "c": float(rng.random() < 0.5)}
        y = float(x["a"] + x["c"] > 1.0)
        assert ours.predict(x) == pytest.approx(river.predict_proba_one(x)[True], abs=1e-9)
        ours.learn(x, y)
        river.learn_one(x, bool(y))
    assert ours.weights == pytest.approx(river.weights, abs=1e-9)


def test_offset_makes_a_layer_learn_only_what_the_prior_misses() -> None:
    x = {"b": 1.0}
    fitted = Logit(lr=0.5)
    for _ in range(200):
        fitted.learn(x, 1.0, offset=3.0)  # prior already says p=0.95: little left to learn
    fresh = Logit(lr=0.5)
    for _ in range(200):
        fresh.learn(x, 1.0)
    assert 0 < fitted.weights["b"] < fresh.weights["b"]


def test_segment_layers_learn_their_segments_and_share_the_global_layer() -> None:
    prior = SharedPrior(lr=0.05, segment_lr=0.1)
    video, article = {"b": 1.0, "f:video": 1.0}, {"b": 1.0, "f:article": 1.0}
    for _ in range(300):
        prior.learn("s:sales|ic", video, 1.0, 1.0)
        prior.learn("s:sales|ic", article, 0.0, 1.0)
        prior.learn("s:eng|ic", video, 0.0, 1.0)
        prior.learn("s:eng|ic", article, 1.0, 1.0)
    sales, eng, new = (prior.weights(s) for s in ("s:sales|ic", "s:eng|ic", "s:hr|mgr"))
    assert ranker.dot(sales, video) > ranker.dot(sales, article)
    assert ranker.dot(eng, article) > ranker.dot(eng, video)
    # An unseen segment starts from the global layer.
    assert new == prior.globe.weights
    restored = SharedPrior.from_dict(orjson.loads(orjson.dumps(prior.to_dict())))
    assert restored.weights("s:sales|ic") == sales


def test_learner_layer_is_small_rounded_and_bounded() -> None:
    section: dict[str, Any] = {}
    for i in range(200):
        x = {"b": 1.0, f"t:topic{i % 80}": 1.0, "laf": -0.5}
        learn_learner(section, x, float(i % 3 == 0), 1.0, offset=0.0)
    w = section["w"]
    assert len(w) <= LEARNER_MAX_WEIGHTS
    assert all(round(v, 4) == v for v in w.values())
    assert len(orjson.dumps(section)) < 1500


def test_fused_learning_is_the_prior_then_the_learner_layer() -> None:
    rng = random.Random(5)
    slow, fast = SharedPrior(), SharedPrior()
    slow_sec: dict[str, Any] = {}
    fast_sec: dict[str, Any] = {}
    for i in range(400):
        x = {"b": 1.0, f"t:topic{i % 60}": 1.0, "laf": rng.uniform(-4, 0), "gap": rng.random()}
        y, weight, seg = float(rng.random() < 0.3), rng.choice((0.3, 1.0)), f"s:{i % 3}"
        personal = i % 5 != 0
        z = slow.learn(seg, x, y, weight)
        if personal:
            learn_learner(slow_sec, x, y, weight, z, 0.05, 0.02)
        fast.learn_all(seg, x, y, weight, fast_sec if personal else None, 0.05, 0.02)
    assert fast.to_dict() == slow.to_dict()
    assert fast_sec == slow_sec and len(fast_sec["w"]) == LEARNER_MAX_WEIGHTS


def _ctx(
    state: dict[str, Any],
    catalog: dict[str, dict[str, Any]],
    paths: list[dict[str, Any]] | None = None,
) -> Context:
    prof = {"learner_id": "ann", "role": "analyst", "department": "data", "level": 1}
    return Context(
        state,
        prof,
        "ann",
        CatalogIndex(catalog, paths or []),
        Popularity(),
        NOW,
        paths=paths,
        role_skills={"sql": 0.8},
    )


CAT = {
    "sql-1": {
        "title": "SQL",
        "skills": ["sql"],
        "topics": ["data"],
        "level": 1,
        "format": "video",
        "published_at_ms": NOW - 400 * DAY,
    },
    "fig-1": {
        "title": "Figma",
        "skills": ["figma"],
        "topics": ["design"],
        "level": 1,
        "format": "article",
        "published_at_ms": NOW - 400 * DAY,
    },
}


def test_features_describe_the_item_for_this_learner() -> None:
    st = new_state()
    st["prog"]["sql-1"] = [0.5, NOW - DAY]
    st["ranker"]["dis"] = {ranker_fp("fig-1"): 2}
    p = {
        "path_id": "p",
        "title": "P",
        "assigned_by": "m",
        "learner_ids": ["ann"],
        "team_ids": [],
        "items": [{"content_id": "sql-1", "due_at_ms": NOW + DAY}],
    }
    ctx = _ctx(st, CAT, [p])
    sql = features(ctx.index.items["sql-1"], ctx)
    fig = features(ctx.index.items["fig-1"], ctx)
    assert (sql["path"], sql["due"], sql["prog"], sql["progf"], sql["f:video"]) == (
        1.0,
        1.0,
        1.0,
        0.5,
        1.0,
    )
    assert sql["gap"] > 0 and "gap" not in fig
    assert fig["dis"] == pytest.approx(2 / 3) and "path" not in fig
    assert features(None, ctx, "sql-1") == {"b": 1.0, "prog": 1.0, "progf": 0.5}


def ranker_fp(cid: str) -> str:
    from streams.models.candidates import fingerprint

    return fingerprint(cid)


def test_cold_rules_rank_path_then_open_then_gap_then_other() -> None:
    cat = {
        **CAT,
        "sql-2": {
            "title": "SQL 2",
            "skills": ["sql"],
            "topics": ["data"],
            "level": 1,
            "published_at_ms": NOW - 400 * DAY,
        },
        "py-1": {
            "title": "Py",
            "skills": ["python"],
            "topics": ["programming"],
            "level": 1,
            "published_at_ms": NOW - 400 * DAY,
        },
    }
    st = new_state()
    st["prog"]["fig-1"] = [0.3, NOW - DAY]
    p = {
        "path_id": "p",
        "title": "P",
        "assigned_by": "m",
        "learner_ids": ["ann"],
        "team_ids": [],
        "items": [{"content_id": "sql-1", "due_at_ms": NOW + 2 * DAY}],
    }
    ctx = _ctx(st, cat, [p])
    w = SharedPrior().weights("s:data|ic")
    order = sorted(cat, key=lambda c: -ranker.dot(w, features(ctx.index.items[c], ctx)))
    assert order == ["sql-1", "fig-1", "sql-2", "py-1"]


# -- learning from the learner's own feedback -------------------------------------------
class Ref:
    version = 1
    paths: dict[str, Any] = {}
    role_skills: dict[str, Any] = {}

    def __init__(self, catalog: dict[str, dict[str, Any]]) -> None:
        self.catalog = catalog


def _feedback(verb: str, cid: str, t: int, n: int, source: str = "") -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "learner_id": "ann",
        "occurred_at_ms": t,
        "verb": verb,
        "object_id": cid,
        "object_type": "recommendation",
        "result": None,
        "extensions": {"source": source} if source else {},
    }


def _catalog(n: int) -> dict[str, dict[str, Any]]:
    return {
        f"vid-{i}": {
            "title": f"Video {i}",
            "skills": ["sql"],
            "topics": ["data"],
            "level": 1,
            "format": "video",
            "published_at_ms": NOW - 400 * DAY,
        }
        for i in range(n)
    }


def _rank(rec: Recommender, st: dict[str, Any], t: int) -> list[str]:
    return [it["content_id"] for it in rec.recommend(st, now_ms=t, learner_id="ann", k=20)]


def test_an_item_the_learner_keeps_dismissing_drops() -> None:
    cat = _catalog(6)
    rec = Recommender(Ref(cat), explore_slots=0)
    st = new_state()
    st["profile"] = {
        "learner_id": "ann",
        "role": "analyst",
        "department": "data",
        "interests": ["data"],
    }
    before = _rank(rec, st, NOW)
    top = before[0]
    for n in range(3):
        rec.observe(st, _feedback("dismissed", top, NOW + n, n))
    after = _rank(rec, st, NOW + 10)
    assert after.index(top) == len(after) - 1


def test_clicks_on_one_format_lift_that_format_for_this_learner_only() -> None:
    cat = _catalog(4)
    cat.update(
        {
            f"art-{i}": {**cat[f"vid-{i}"], "title": f"Article {i}", "format": "article"}
            for i in range(4)
        }
    )
    rec = Recommender(Ref(cat), explore_slots=0, learner_lr=0.3)
    ann, bob = new_state(), new_state()
    for st, lid in ((ann, "ann"), (bob, "bob")):
        st["profile"] = {
            "learner_id": lid,
            "role": "analyst",
            "department": "data",
            "interests": ["data"],
        }
    base_bob = _rank(rec, bob, NOW)
    n = 0
    for rnd in range(6):
        for i in range(4):
            t = NOW + rnd * 1000 + i
            rec.observe(ann, _feedback("impression", f"vid-{i}", t, n := n + 1))
            rec.observe(ann, _feedback("impression", f"art-{i}", t, n := n + 1))
            rec.observe(ann, _feedback("clicked", f"art-{i}", t, n := n + 1))
    ranked = _rank(rec, ann, NOW + 10_000)
    assert all(c.startswith("art") for c in ranked[:4])
    assert ann["ranker"]["w"]["f:article"] > 0 > ann["ranker"]["w"].get("f:video", 0.0)
    # The shared prior moved too, but bob's own (empty) layer did not.
    assert "w" not in bob["ranker"]
    assert base_bob  # bob still gets a list
