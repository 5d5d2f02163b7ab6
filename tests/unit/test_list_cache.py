"""A progress event re-renders the learner's cached list; anything a ranking reads ranks again.

``LearnBatch`` with an in-memory store, the real recommender and a small catalog:
what a learner would see in Redis (the list, its "N% through" sentence) and what
the audit log gets (one record per ranking, none per patch).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import schemas
from learnpulse import keys
from learnpulse.testing import activity
from learnpulse.topics import Topics
from streams.batch import DictStore, LearnBatch, Msg
from streams.reference import ReferenceData

DAY = 86_400_000
NOW = 1_780_000_000_000
LEARNER = "ada"
TOPICS = Topics(prefix="lc.")


def content(cid: str, topic: str, skill: str, fmt: str = "course") -> dict[str, Any]:
    return {
        "content_id": cid,
        "updated_at_ms": NOW - 90 * DAY,
        "title": cid.replace("-", " ").title(),
        "skills": [skill],
        "topics": [topic],
        "level": 2,
        "format": fmt,
        "duration_min": 30.0,
        "published_at_ms": NOW - 90 * DAY,
    }


def event(verb: str, obj: str, t: int, **result: Any) -> dict[str, Any]:
    return activity(LEARNER, verb, obj, t, **result)


class Harness:
    def __init__(self) -> None:
        ref = ReferenceData()
        for i in range(12):
            topic, skill = ("sql", "sql") if i % 2 else ("negotiation", "negotiation")
            item = content(f"c-{i:02d}", topic, skill)
            ref.apply("catalog", item["content_id"], item)
        self.now = NOW
        self.batch = LearnBatch(TOPICS, DictStore(), ref, clock=lambda: self.now / 1000)
        self.offset = 0

    def send(self, topic: str, rec: dict[str, Any], schema: str) -> Any:
        self.offset += 1
        m = Msg(topic, 0, self.offset, LEARNER.encode(), schemas.encode(schema, rec), self.now)
        fx = self.batch.handle([m])
        self.batch.save_states(fx)
        return fx

    def act(self, verb: str, obj: str, **result: Any) -> Any:
        self.now += 60_000
        return self.send(TOPICS.activity, event(verb, obj, self.now, **result), schemas.ACTIVITY)


def reco(fx: Any) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(fx.redis_values[keys.reco(LEARNER)])
    return value


def audits(fx: Any) -> int:
    return sum(1 for topic, _k, _v in fx.records if topic == TOPICS.recommendations)


def progress_sentence(value: dict[str, Any], cid: str) -> str:
    (item,) = [i for i in value["items"] if i["content_id"] == cid]
    (text,) = [r for r in item["reasons"] if r.endswith("pick up where you left off")]
    return str(text)


@pytest.fixture
def h() -> Harness:
    h = Harness()
    profile = {
        "learner_id": LEARNER,
        "updated_at_ms": NOW - DAY,
        "role": "analyst",
        "department": "finance",
        "team_id": "t1",
        "level": 2,
    }
    h.send(TOPICS.profiles, profile, schemas.PROFILE)
    return h


def test_progress_on_a_listed_item_patches_its_sentence_without_ranking(h: Harness) -> None:
    started = h.act("started", "c-03", progress=0.1)
    assert audits(started) == 1, "starting something new is a new ranking"
    first = reco(started)
    assert "10% through" in progress_sentence(first, "c-03")

    moved = h.act("progressed", "c-03", progress=0.4)
    second = reco(moved)
    assert "40% through" in progress_sentence(second, "c-03")
    assert [i["content_id"] for i in second["items"]] == [i["content_id"] for i in first["items"]]
    assert [i["score"] for i in second["items"]] == [i["score"] for i in first["items"]]
    assert audits(moved) == 0, "a patched list is not a new ranking"
    assert second["trigger_event_id"] != first["trigger_event_id"]
    assert second["generated_at_ms"] > first["generated_at_ms"]

    # The patch is kept: the next patch starts from it, and other sentences stay.
    again = reco(h.act("paused", "c-03", progress=0.5))
    assert "50% through" in progress_sentence(again, "c-03")


def test_events_that_change_what_a_ranking_reads_rank_again(h: Harness) -> None:
    h.act("started", "c-03", progress=0.1)
    h.act("progressed", "c-03", progress=0.4)
    done = h.act("completed", "c-03", completion=True)
    assert audits(done) == 1
    assert "c-03" not in [i["content_id"] for i in reco(done)["items"]]

    h.act("started", "c-05", progress=0.2)
    rated = h.act("rated", "c-05", rating=0.9)
    assert audits(rated) == 1, "a rating teaches the ranker"


def test_a_cached_list_expires(h: Harness) -> None:
    h.act("started", "c-03", progress=0.1)
    h.now += h.batch.lists.max_age_ms
    late = h.act("progressed", "c-03", progress=0.3)
    assert audits(late) == 1, "an old list is ranked again, not patched"
    assert "30% through" in progress_sentence(reco(late), "c-03")


def test_team_completions_and_lost_cache_rank_again(h: Harness) -> None:
    h.act("started", "c-03", progress=0.1)
    h.batch.recommender.popularity.add_team_completion("t1", "c-07", "bob", h.now)
    assert audits(h.act("progressed", "c-03", progress=0.2)) == 1

    # A restarted worker (or one that took the partition over) has no cached list.
    h.batch.lists.drop(LEARNER)
    assert audits(h.act("progressed", "c-03", progress=0.3)) == 1
    # A list ranked elsewhere since ours (state "rk" moved on) is not ours to patch.
    state = h.batch.load(LEARNER)
    state["rk"] = state["rk"] + 1
    h.batch.store.put(LEARNER, orjson.dumps(state), 0)
    assert audits(h.act("progressed", "c-03", progress=0.35)) == 1
    assert audits(h.act("progressed", "c-03", progress=0.4)) == 0


def test_cache_is_bounded_by_size_and_age() -> None:
    from streams.listcache import CachedList, ListCache

    def entry(t: int) -> CachedList:
        return CachedList([b"[]"], {}, 1, (0, 0, 0, "UTC", None), t)

    cache = ListCache(max_learners=3, max_age_ms=1_000)
    for i, name in enumerate("abcd"):
        cache.put(name, entry(i))
    assert len(cache) == 3, "least recently used dropped beyond the size bound"
    assert cache.usable("a", 1, (0, 0, 0, "UTC", None), set(), 4) is None
    assert cache.usable("b", 1, (0, 0, 0, "UTC", None), set(), 4) is not None
    cache.put("e", entry(1_500))  # c is dropped by size; d (3 ms) and b (1 ms) by age
    assert len(cache) == 1
    assert cache.usable("e", 1, (0, 0, 0, "UTC", None), set(), 1_600) is not None


def test_a_patch_re_encodes_only_the_changed_items_and_matches_a_full_encoding() -> None:
    from streams.listcache import cached_list, patch
    from streams.models.explain import reason

    def item(cid: str, title: str, progress: float | None) -> dict[str, Any]:
        reasons = ["Popular in your team"]
        if progress is not None:
            reasons.append(reason(("continue", progress, NOW - DAY), NOW, "UTC"))
        return {
            "content_id": cid,
            "title": title,
            "score": 0.5,
            "source": "continue",
            "reasons": reasons,
        }

    # Two items with the same sentence, and a title that spells out another item's
    # JSON (escaped when encoded, so it cannot be mistaken for that item).
    items = [
        item("a", '{"content_id":"b","title":"x"}', None),
        item("b", "B", 0.25),
        item("c", "C", None),
        item("d", "D", 0.25),
    ]
    prog = {"b": [0.25, NOW - DAY], "d": [0.25, NOW - DAY]}
    entry = cached_list(items, orjson.dumps(items), prog, 3, (0, 0, 0, "UTC", None), NOW)
    assert b"".join(entry.parts) == orjson.dumps(items)
    assert set(entry.cont) == {"b", "d"}

    prog["d"] = [0.75, NOW]
    out = patch(entry, prog, {"d"}, NOW, "UTC")
    items[3]["reasons"][1] = reason(("continue", 0.75, NOW), NOW, "UTC")
    assert out == orjson.dumps(items), "only d's sentence changed, byte for byte"
    assert "75% through" in orjson.loads(out)[3]["reasons"][1]
    assert "25% through" in orjson.loads(out)[1]["reasons"][1]

    prog["b"] = [0.5, NOW]
    out = patch(entry, prog, {"b", "d"}, NOW, "UTC")
    items[1]["reasons"][1] = reason(("continue", 0.5, NOW), NOW, "UTC")
    assert out == orjson.dumps(items), "the earlier patch is kept, the new one added"
