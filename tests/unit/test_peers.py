"""Peer signals: k-anonymity, opt-out, naming only the opted-in, trending decay, dashboards."""

from __future__ import annotations

from typing import Any

import orjson

from learnpulse import keys
from streams import clustering
from streams.models import clusters, learner
from streams.models.peers import PeerAggregator, PeerView, signal
from streams.models.state import new_state

DAY = 86_400_000
T0 = 1_735_603_200_000
CATALOG = {
    "sql-101": {"title": "SQL basics", "topics": ["data"], "skills": ["sql"]},
    "sql-201": {"title": "SQL joins", "topics": ["data"], "skills": ["sql"]},
    "viz-101": {"title": "Charts", "topics": ["data"], "skills": ["data_visualization"]},
}
PATH = {"path_id": "p1", "title": "SQL path", "items": [{"content_id": "sql-201"}]}


class World:
    """Learners of one interest on one worker, one clusterer, published snapshots."""

    def __init__(self, n: int = 10, k_min: int = 5, opt_in: tuple[int, ...] = ()) -> None:
        self.cache = clustering.CentroidCache()
        self.tracker = clustering.InterestTracker(self.cache, k_min=k_min)
        self.agent = clustering.Clusterer(n_clusters=2, k_min=k_min, warmup=3, seed=1)
        self.topic: list[bytes] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.out: dict[str, dict[str, Any]] = {}
        self.redis: dict[str, bytes] = {}
        self.changed: dict[str, None] = {}
        self.t = T0
        for i in range(n):
            lid = f"l{i}"
            st = self.states[lid] = new_state()
            learner.apply_profile(
                st,
                {
                    "learner_id": lid,
                    "updated_at_ms": T0 - DAY,
                    "team_id": "team-a",
                    "interests": ["data"],
                    "peer_features_opt_in": i in opt_in,
                },
            )
            self.changed[lid] = None
        self.round()
        self.round(everyone=True)  # the first round seeded the model; now all get a cluster

    def act(self, lid: str, verb: str, cid: str, paths: tuple[dict, ...] = ()) -> None:
        self.t += 60_000
        e = {
            "event_id": f"e{self.t}",
            "learner_id": lid,
            "occurred_at_ms": self.t,
            "verb": verb,
            "object_id": cid,
            "result": {"completion": verb == "completed"},
        }
        self.tracker.observe(lid, self.states[lid], e, CATALOG, list(paths))
        learner.apply_activity(self.states[lid], e)
        self.changed[lid] = None

    def set_profile(self, lid: str, **changes: Any) -> None:
        st = self.states[lid]
        before = dict(st["profile"])
        learner.apply_profile(
            st, {**before, **changes, "updated_at_ms": before["updated_at_ms"] + 1}
        )
        self.tracker.profile_changed(lid, st, before)
        self.changed[lid] = None

    def round(self, everyone: bool = False, paths: tuple[dict, ...] = ()) -> None:
        for lid in list(self.states) if everyone else list(self.changed):
            self.out[lid] = self.tracker.finish(lid, self.states[lid], CATALOG, list(paths))
        self.changed.clear()
        rec = self.tracker.drain()
        if rec is not None:
            self.topic.append(rec)
        res = clustering.step(self.agent, [(len(self.topic) - 1, rec)] if rec else [], CATALOG)
        for key, value in res.records:
            self.cache.apply(key, value)
        self.redis.update(res.redis_values)

    def settle(self, paths: tuple[dict, ...] = ()) -> None:
        """Process what happened, then render everyone with the snapshot it produced."""
        self.round(everyone=True, paths=paths)
        self.round(everyone=True, paths=paths)

    def finishers(self, lid: str) -> list[dict[str, Any]]:
        return self.out[lid]["peers"]["finished_by_peers"]


def test_everyone_gets_a_labelled_cluster() -> None:
    w = World()
    w.settle()
    ids = {w.out[lid]["cluster"]["id"] for lid in w.states}
    assert len(ids) == 1
    assert w.out["l0"]["cluster"]["label"].startswith("Data")


def test_counts_appear_only_once_k_people_are_behind_them() -> None:
    w = World(k_min=5)
    for i in range(4):
        w.act(f"l{i}", "completed", "sql-101")
    w.settle()
    assert w.finishers("l9") == []
    cid, counts = clustering.recommender_inputs(w.states["l9"]["interest"], w.cache, k_min=5)
    assert cid is not None and counts == {}
    profile = w.states["l9"]["profile"]
    assert clustering.social_line(w.states["l9"]["interest"], profile, w.cache, "sql-101") is None
    dashboard = orjson.loads(w.redis[keys.CLUSTERS])
    assert all(r["trending"] == [] for r in dashboard["clusters"])
    w.act("l4", "completed", "sql-101")
    w.settle()
    assert w.finishers("l9") == [
        {
            "content_id": "sql-101",
            "count": 5,
            "scope": "cluster",
            "title": "SQL basics",
            "reason": "5 people with your interests finished this this week",
        }
    ]
    assert clustering.recommender_inputs(w.states["l9"]["interest"], w.cache)[1] == {"sql-101": 5}
    assert w.finishers("l0") == []  # finished it already
    line = clustering.social_line(
        w.states["l9"]["interest"], w.states["l9"]["profile"], w.cache, "sql-101"
    )
    assert line == "5 people with your interests finished this this week"
    team = w.out["l9"]["peers"]["trending_in_team"]
    assert team == [{"content_id": "sql-101", "people_7d": 5, "title": "SQL basics"}]


def test_the_threshold_is_configurable() -> None:
    w = World(k_min=3)
    for i in range(3):
        w.act(f"l{i}", "completed", "sql-101")
    w.settle()
    assert [c["count"] for c in w.finishers("l9")] == [3]


def test_a_learner_counts_once_however_often_they_finish() -> None:
    w = World()
    for _ in range(5):
        w.act("l0", "started", "sql-101")
        w.act("l0", "completed", "sql-101")
    for i in range(1, 4):
        w.act(f"l{i}", "completed", "sql-101")
    w.settle()
    assert w.finishers("l9") == []
    assert (
        signal({"prog": {"c": [0.5, 1]}, "done": {}}, {"verb": "started", "object_id": "c"}) is None
    )


def test_an_opted_out_learner_is_never_counted_and_sees_no_peer_signal() -> None:
    w = World()
    w.set_profile("l0", peer_features_opt_out=True)
    for i in range(5):
        w.act(f"l{i}", "completed", "sql-101")
    w.settle()
    assert w.finishers("l9") == []  # only 4 countable people
    assert w.out["l0"] == {"cluster": None, "peers": {"opted_out": True}}
    assert clustering.social_line({}, w.states["l0"]["profile"], w.cache, "sql-101") is None
    updates = [clustering.decode_updates(r) for r in w.topic]
    fp = clustering.learner_fp("l0")
    assert not [u for b in updates for u in b.interest if u["f"] == fp and u["t"] > T0]
    assert fp not in w.agent.members  # not in any cluster size either


def test_opting_out_withdraws_what_was_counted() -> None:
    w = World()
    for i in range(5):
        w.act(f"l{i}", "completed", "sql-101")
    w.settle()
    assert [c["count"] for c in w.finishers("l9")] == [5]
    size_before = orjson.loads(w.redis[keys.CLUSTERS])["clusters"][0]["size"]
    w.set_profile("l2", peer_features_opt_out=True)
    w.settle()
    assert w.finishers("l9") == []
    assert w.out["l2"]["peers"] == {"opted_out": True}
    assert orjson.loads(w.redis[keys.CLUSTERS])["clusters"][0]["size"] == size_before - 1


def test_only_opted_in_learners_are_named_and_only_to_opted_in_learners() -> None:
    w = World(opt_in=(0, 1, 2))
    for i in (0, 1, 3, 4):  # 3 and 4 did not opt in
        w.act(f"l{i}", "started", "sql-201", paths=(PATH,))
    w.settle(paths=(PATH,))
    named = {b["learner_id"] for b in w.out["l2"]["peers"]["study_buddies"]}
    assert named == {"l0", "l1"}
    assert w.out["l2"]["peers"]["study_buddies"][0]["path_title"] == "SQL path"
    assert {b["learner_id"] for b in w.out["l0"]["peers"]["study_buddies"]} == {"l1"}  # not self
    assert w.out["l3"]["peers"]["study_buddies"] == []  # did not opt in: sees no names
    for key, value in w.redis.items():
        assert b'"l0"' not in value and b'"l1"' not in value, key  # dashboards name nobody
    w.set_profile("l1", peer_features_opt_in=False)
    w.settle(paths=(PATH,))
    assert {b["learner_id"] for b in w.out["l2"]["peers"]["study_buddies"]} == {"l0"}


def test_trending_decays_and_leaves_the_window() -> None:
    agg = PeerAggregator()
    for n in range(6):
        agg.add("c:1", "old", T0 + n, "done")
        agg.add("c:1", "new", T0 + 5 * DAY + n, "done")
    rows = agg.trending("c:1", T0 + 5 * DAY, k_min=5)
    assert [r["content_id"] for r in rows] == ["new", "old"]
    assert rows[0]["score"] > rows[1]["score"] and rows[0]["finished_7d"] == rows[1]["finished_7d"]
    later = agg.trending("c:1", T0 + 8 * DAY, k_min=5)
    assert [r["content_id"] for r in later] == ["new"]
    agg.prune(T0 + 13 * DAY)
    assert agg.trending("c:1", T0 + 13 * DAY, k_min=1) == []
    assert agg.counts == {}


def test_starts_count_as_trending_but_not_as_finishers() -> None:
    agg = PeerAggregator()
    for n in range(5):
        agg.add("team:t", "c1", T0 + n, "start")
    (row,) = agg.trending("team:t", T0, k_min=5)
    assert row["people_7d"] == 5 and row["finished_7d"] is None
    view = PeerView(None, agg.summary("team:t", T0), k_min=5)
    assert view.counts({}, "team") == {} and view.reinforcement("c1") is None


def test_a_view_never_shows_less_than_its_own_threshold() -> None:
    agg = PeerAggregator()
    for n in range(3):
        agg.add("c:1", "c1", T0 + n, "done")
    summary = agg.summary("c:1", T0, k_min=2)  # published with a lower threshold
    assert PeerView(summary, None, k_min=5).candidates({}) == []
    assert PeerView(summary, None, k_min=3).reinforcement("c1") == (
        "3 people with your interests finished this this week"
    )


def test_the_clusterer_restores_from_its_snapshot_and_replays_the_topic() -> None:
    w = World()
    for i in range(6):
        w.act(f"l{i}", "completed", "sql-101")
        w.act(f"l{i}", "started", "viz-101")
    w.settle()
    assert w.cache.raw is not None
    restored = clustering.Clusterer.restore(w.cache.raw)
    assert restored.apply(list(enumerate(w.topic))) == []
    assert restored.model.centroids() == w.agent.model.centroids()  # nothing learned twice
    assert restored.summaries() == w.agent.summaries()
    assert restored.publish()[0][0] == "clusters" and restored.version == w.agent.version + 1


def test_undecodable_update_records_are_reported_and_change_nothing() -> None:
    agent = clustering.Clusterer(n_clusters=2, warmup=1)
    bad = orjson.dumps(
        {
            "v": 1,
            "interest": [{"f": "x", "t": "soon", "x": {}}],
            "peer": [],
            "buddy": [],
            "forget": [],
        }
    )
    out = clustering.step(agent, [(0, b"not json"), (1, bad), (2, None)])
    assert [offset for offset, _ in out.dead] == [0, 1, 2]
    assert agent.model.learned == 0 and agent.members == {} and agent.seen_offset == 2
    assert not clusters.Snapshot.from_dict(orjson.loads(out.records[0][1])["snapshot"])
