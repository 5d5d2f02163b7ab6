"""Interest clusters: River k-means, labels, snapshots, hysteresis, two workers = one."""

from __future__ import annotations

import random
import zlib
from typing import Any

import orjson
from river import metrics

from learnpulse.evaluate import clusters as evaluation
from learnpulse.synth.org import Organisation
from streams import clustering
from streams.models import clusters, learner
from streams.models.clusters import InterestClusters, Snapshot
from streams.models.state import new_state

GROUPS = {
    "data": ("sql", "excel", "statistics"),
    "design": ("figma", "prototyping", "ux_research"),
    "finance": ("budgeting", "forecasting", "accounting_basics"),
}


def blob(rng: random.Random, group: str) -> dict[str, float]:
    """A unit interest vector mostly about ``group`` with a little noise elsewhere."""
    x = {f"t:{group}": 1.0, f"s:{rng.choice(GROUPS[group])}": 0.4}
    other = rng.choice([g for g in GROUPS if g != group])
    x[f"t:{other}"] = rng.uniform(0.0, 0.3)
    norm = sum(v * v for v in x.values()) ** 0.5
    return {k: v / norm for k, v in x.items()}


def ari(truth: list[str], pred: list[str]) -> float:
    m = metrics.AdjustedRand()
    for t, p in zip(truth, pred, strict=True):
        m.update(t, p)
    return float(m.get())


def trained(seed: int = 0, n: int = 600) -> tuple[InterestClusters, random.Random]:
    rng = random.Random(seed)
    model = InterestClusters(n_clusters=3, warmup=60, seed=seed)
    for _ in range(n):
        model.learn_one(blob(rng, rng.choice(list(GROUPS))))
    return model, rng


def test_clusters_recover_the_groups_and_get_readable_labels() -> None:
    model, rng = trained()
    truth = [rng.choice(list(GROUPS)) for _ in range(300)]
    pred = [str(model.predict_one(blob(rng, g))) for g in truth]
    assert ari(truth, pred) > 0.95
    snap = model.snapshot(version=1)
    heads = sorted(label.split(":")[0] for label in snap.labels.values())
    assert heads == ["Data", "Design", "Finance"]


def test_nothing_is_assigned_during_warm_up() -> None:
    model = InterestClusters(n_clusters=3, warmup=10)
    for _ in range(9):
        assert model.learn_one({"t:data": 1.0}) is None
    assert model.predict_one({"t:data": 1.0}) is None
    assert not model.snapshot(1)
    sec: dict = {}
    assert clusters.assign(sec, {"t:data": 1.0}, model.snapshot(1), 1.0, 0) is None


def test_centres_also_shrink_on_features_a_vector_lacks() -> None:
    model = InterestClusters(n_clusters=1, rate=0.1, warmup=1)
    model.learn_one({"t:data": 1.0, "t:design": 1.0})
    for _ in range(200):
        model.learn_one({"t:data": 1.0})
    centre = model.centroids()["0"]
    assert centre.get("t:design", 0.0) < 0.01
    assert centre["t:data"] > 0.99


def test_checkpoint_continues_exactly() -> None:
    model, rng = trained(seed=4, n=200)
    copy = InterestClusters.from_dict(orjson.loads(orjson.dumps(model.to_dict())))
    more = [blob(rng, rng.choice(list(GROUPS))) for _ in range(100)]
    for x in more:
        assert model.learn_one(x) == copy.learn_one(x)
    assert model.centroids() == copy.centroids()
    snap = model.snapshot(7)
    again = Snapshot.from_dict(orjson.loads(orjson.dumps(snap.to_dict())))
    probe = blob(rng, "design")
    assert again.version == 7 and again.nearest(probe) == snap.nearest(probe)


def test_checkpoint_during_warm_up_keeps_the_buffer() -> None:
    model = InterestClusters(n_clusters=2, warmup=4, seed=1)
    model.learn_one({"t:data": 1.0})
    model.learn_one({"t:design": 1.0})
    copy = InterestClusters.from_dict(model.to_dict())
    for m in (model, copy):
        m.learn_one({"t:data": 0.9, "s:sql": 0.4})
        m.learn_one({"t:design": 0.9, "s:figma": 0.4})
    assert copy.ready and copy.centroids() == model.centroids()


SNAP = Snapshot(1, {"0": {"t:data": 1.0}, "1": {"t:design": 1.0}}, {"0": "Data", "1": "Design"})


def test_one_update_towards_another_cluster_does_not_move_a_learner() -> None:
    sec: dict = {}
    assert clusters.assign(sec, {"t:data": 1.0}, SNAP, 1.0, 0) == "0"
    assert clusters.assign(sec, {"t:design": 1.0}, SNAP, 1.0, 1) == "0"
    assert clusters.assign(sec, {"t:data": 1.0}, SNAP, 1.0, 2) == "0"  # back: challenge reset
    assert clusters.assign(sec, {"t:design": 1.0}, SNAP, 1.0, 3) == "0"
    assert clusters.assign(sec, {"t:design": 1.0}, SNAP, 1.5, 4) == "1"  # sustained: moves
    assert sec["clu"]["moves"] == 1 and sec["clu"]["since"] == 4


def test_a_learner_between_two_clusters_does_not_flap() -> None:
    rng = random.Random(2)
    sec: dict = {}
    nearest_changes = 0
    last = None
    for t in range(200):
        # Noise keeps the two distances within the margin of each other.
        a = 0.707 + rng.uniform(-0.025, 0.025)
        x = {"t:data": a, "t:design": (1 - a * a) ** 0.5}
        clusters.assign(sec, x, SNAP, 1.0, t)
        near = SNAP.nearest(x)
        nearest_changes += last is not None and near != last
        last = near
    assert nearest_changes > 20  # without hysteresis it would flap
    assert sec["clu"].get("moves", 0) == 0


def test_re_checks_without_new_evidence_never_move_a_learner() -> None:
    sec: dict = {}
    clusters.assign(sec, {"t:data": 1.0}, SNAP, 1.0, 0)
    for t in range(50):
        assert clusters.assign(sec, {"t:design": 1.0}, SNAP, 0.0, t) == "0"


def test_a_cluster_gone_from_the_snapshot_is_replaced_at_once() -> None:
    sec: dict = {}
    clusters.assign(sec, {"t:data": 1.0}, SNAP, 1.0, 0)
    smaller = Snapshot(2, {"1": {"t:design": 1.0}, "2": {"t:data": 0.8, "s:sql": 0.6}})
    assert clusters.assign(sec, {"t:data": 1.0}, smaller, 0.0, 1) == "2"
    assert sec["clu"]["v"] == 2


# -- consistency across workers -------------------------------------------------------------
def _replay(org: Organisation, workers: int, rounds_of: int = 150) -> tuple[dict, list, list]:
    """Replay the org through ``workers`` trackers and one clusterer; one step per round."""
    catalog = {it["content_id"]: it for it in org.catalog.items}
    states: dict[str, dict[str, Any]] = {}
    for prof in org.profiles():
        states[prof["learner_id"]] = st = new_state()
        learner.apply_profile(st, prof)
    caches = [clustering.CentroidCache() for _ in range(workers)]
    trackers = [clustering.InterestTracker(c) for c in caches]
    agent = clustering.Clusterer(n_clusters=4, warmup=40, seed=3)
    changed: list[dict[str, None]] = [{} for _ in range(workers)]
    topic: list[bytes] = []

    def round_() -> None:
        for w, tr in enumerate(trackers):
            for lid in changed[w]:
                tr.finish(lid, states[lid], catalog)
            changed[w].clear()
        records = [rec for tr in trackers if (rec := tr.drain()) is not None]
        start = len(topic)
        topic.extend(records)
        out = clustering.step(agent, list(enumerate(records, start)))
        for key, value in out.records:
            for c in caches:
                c.apply(key, value)

    for n, e in enumerate(org.events(), 1):
        lid = e["learner_id"]
        w = zlib.crc32(lid.encode()) % workers
        trackers[w].observe(lid, states[lid], e, catalog)
        learner.apply_activity(states[lid], e)
        changed[w][lid] = None
        if n % rounds_of == 0:
            round_()
    round_()
    return states, caches, topic


def test_two_workers_assign_like_one_worker() -> None:
    org = Organisation.generate(80, seed=5, horizon_days=14)
    one, one_caches, _ = _replay(org, workers=1)
    two, two_caches, two_topic = _replay(org, workers=2)
    assert len({zlib.crc32(lid.encode()) % 2 for lid in two}) == 2
    assert len(two_topic) > 10  # both workers fed the shared model
    members = {lid: clusters.membership(st["interest"]) for lid, st in one.items()}
    assert sum(m is not None for m in members.values()) > 60
    assert members == {lid: clusters.membership(st["interest"]) for lid, st in two.items()}
    single = one_caches[0].snapshot
    assert single is not None
    rng = random.Random(0)
    for cache in two_caches:
        assert cache.snapshot is not None
        assert cache.snapshot.version == single.version
        assert cache.snapshot.centroids == single.centroids
        for _ in range(50):  # any learner vector: every worker picks the same cluster
            x = blob(rng, rng.choice(list(GROUPS)))
            assert cache.snapshot.nearest(x) == single.nearest(x)


def test_the_evaluation_beats_its_random_baseline_and_reports_flaps() -> None:
    r = evaluation.run(learners=150, days=20, seed=3, every_days=10, progress=False)
    final = r["final"]
    assert final["assigned"] >= 100 and final["clusters"] == 8  # learners with events
    assert final["ari"] > 0.4 and abs(final["ari_random"]) < 0.1
    assert r["flaps_per_100_events"] < r["flaps_per_100_events_nearest"]
    assert 0 < r["interest_updates_per_100_events"] < 25


def test_a_new_profile_or_catalog_changes_the_published_interests_at_once() -> None:
    """The tracker keeps each learner's stated interests between batches; a new
    profile (or a new catalog's skill map) must not be answered from that memo."""
    # Every move is published (no minimum gap), so the records show each vector.
    tracker = clustering.InterestTracker(clustering.CentroidCache(), min_gap_ms=0)
    catalog: dict[str, Any] = {"c1": {"content_id": "c1", "skills": ["sql"], "topics": ["data"]}}
    st = new_state()

    def published(profile: dict[str, Any] | None = None) -> dict[str, float]:
        if profile is not None:
            assert learner.apply_profile(st, profile)
        tracker.finish("ada", st, catalog)
        rec = tracker.drain()
        assert rec is not None, "a changed stated interest is published"
        (update,) = clustering.decode_updates(rec).interest
        return dict(update["x"])

    first = published({"learner_id": "ada", "updated_at_ms": 1, "interests": ["design"]})
    assert set(first) == {"t:design"}
    # The same state again (a kept decoded state): nothing new to publish.
    tracker.finish("ada", st, catalog)
    rec = tracker.drain()
    assert rec is None or not clustering.decode_updates(rec).interest
    # A newer profile is another dict: its interests show at once.
    second = published({"learner_id": "ada", "updated_at_ms": 2, "goals": ["sql"]})
    assert set(second) == {"s:sql", "t:data"}
    # A new catalog maps the goal to another topic.
    catalog = {"c1": {"content_id": "c1", "skills": ["sql"], "topics": ["finance"]}}
    assert set(published()) == {"s:sql", "t:finance"}


def test_the_tracker_keeps_nothing_of_an_opted_out_or_missing_profile() -> None:
    tracker = clustering.InterestTracker(clustering.CentroidCache(), min_gap_ms=0)
    catalog: dict[str, Any] = {}
    st = new_state()
    assert tracker.finish("ada", st, catalog)["peers"] != {"opted_out": True}
    assert "ada" not in tracker._said, "no profile yet: nothing to keep"

    learner.apply_profile(st, {"learner_id": "ada", "updated_at_ms": 1, "interests": ["x"]})
    tracker.finish("ada", st, catalog)
    assert tracker._said["ada"][0] is st["profile"]

    out = {
        "learner_id": "ada",
        "updated_at_ms": 2,
        "interests": ["x"],
        "peer_features_opt_out": True,
    }
    learner.apply_profile(st, out)
    assert tracker.finish("ada", st, catalog)["peers"] == {"opted_out": True}
    assert "ada" not in tracker._said, "an opted-out learner's profile is not kept"
