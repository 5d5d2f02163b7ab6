"""The synthetic organisation: deterministic, schema-valid, and its ground truth shows up."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import schemas
from learnpulse.synth import Organisation, paced
from learnpulse.synth.catalog import DAY_MS


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.generate(600, seed=11)


@pytest.fixture(scope="module")
def stream(org: Organisation) -> list[dict[str, Any]]:
    return list(org.events())  # the whole 60-day window


def test_same_seed_same_org_and_events() -> None:
    a, b = Organisation.generate(200, seed=5), Organisation.generate(200, seed=5)
    assert a.reference_records() == b.reference_records()
    assert list(itertools.islice(a.events(), 3000)) == list(itertools.islice(b.events(), 3000))
    c = Organisation.generate(200, seed=6)
    assert c.reference_records()["profiles"] != a.reference_records()["profiles"]


def test_shorter_run_is_prefix_of_longer(org: Organisation, stream: list[dict[str, Any]]) -> None:
    week = list(org.events(days=7))
    assert week and week == stream[: len(week)]
    assert stream[len(week)]["occurred_at_ms"] >= org.start_ms + 7 * DAY_MS


def test_every_record_kind_is_schema_valid(org: Organisation, stream: list[dict[str, Any]]) -> None:
    ref = org.reference_records()
    kinds = {
        "catalog": schemas.CONTENT,
        "paths": schemas.PATH,
        "role_skills": schemas.ROLE_SKILLS,
        "profiles": schemas.PROFILE,
    }
    for kind, name in kinds.items():
        assert ref[kind], kind
        for rec in ref[kind]:
            assert schemas.decode(name, schemas.encode(name, rec)) == rec
    fields = {f["name"] for f in schemas.load_schema(schemas.ACTIVITY)["fields"]}
    for ev in stream[::7]:
        assert set(ev) == fields
        assert schemas.decode(schemas.ACTIVITY, schemas.encode(schemas.ACTIVITY, ev)) == ev


def test_events_realistic_mix(org: Organisation, stream: list[dict[str, Any]]) -> None:
    verbs = Counter(e["verb"] for e in stream)
    for v in (
        "started",
        "progressed",
        "completed",
        "answered",
        "attempted",
        "viewed",
        "paused",
        "rated",
    ):
        assert verbs[v] > 0, v
    assert len({e["event_id"] for e in stream}) == len(stream)
    assert {e["source"] for e in stream} == {"lms", "video", "quiz", "lxp"}
    for e in stream:
        r = e["result"]
        if e["verb"] in ("answered", "attempted"):
            assert 0.0 <= r["score_scaled"] <= 1.0 and isinstance(r["success"], bool)
            assert e["context"]["skill_ids"]
        assert e["received_at_ms"] >= e["occurred_at_ms"]


def test_events_in_event_time_order(stream: list[dict[str, Any]]) -> None:
    times = [e["occurred_at_ms"] for e in stream]
    assert times == sorted(times)


def test_quiz_success_follows_latent_mastery(org: Organisation) -> None:
    # Correctness rate rises with the latent probability the simulation used.
    buckets: dict[bool, list[bool]] = defaultdict(list)
    for ev, (_why, p) in org.events_with_truth(days=20):
        if ev["verb"] == "answered":
            assert p is not None
            buckets[p > 0.6].append(ev["result"]["success"])
    low, high = (sum(buckets[k]) / len(buckets[k]) for k in (False, True))
    assert high - low > 0.3


def test_switchers_shift_topics_after_switch(
    org: Organisation, stream: list[dict[str, Any]]
) -> None:
    truth = org.truth
    topic = {it["content_id"]: it["topics"][0] for it in org.catalog.items}
    # Share of a switcher's consumption in the old and the new group, before and after.
    share = {"old_before": [0, 0], "old_after": [0, 0], "new_before": [0, 0], "new_after": [0, 0]}
    for e in stream:
        sw = truth.switch_of(e["learner_id"])
        if sw is None or e["verb"] not in ("started", "viewed"):
            continue
        old = truth.groups_before[e["learner_id"]][0]
        new = truth.groups_after[e["learner_id"]][0]
        phase = "after" if e["occurred_at_ms"] >= sw else "before"
        t = topic[e["object_id"]]
        for which, g in (("old", old), ("new", new)):
            share[f"{which}_{phase}"][0] += t == g
            share[f"{which}_{phase}"][1] += 1
    frac = {k: hit / total for k, (hit, total) in share.items()}
    assert frac["old_before"] > frac["old_after"] + 0.25
    assert frac["new_after"] > frac["new_before"] + 0.25
    assert len(truth.switch_at_ms) > 0.1 * len(org.learner_ids)


def test_dropped_learners_silent_after_drop(
    org: Organisation, stream: list[dict[str, Any]]
) -> None:
    truth = org.truth
    last: dict[str, int] = {}
    for e in stream:
        last[e["learner_id"]] = e["occurred_at_ms"]
        assert truth.is_active_at(e["learner_id"], e["occurred_at_ms"])
    dropped = list(truth.drop_at_ms)
    assert 0.15 * len(org.learner_ids) <= len(dropped) <= 0.25 * len(org.learner_ids)
    # The ones that were active went quiet: the 60-day window covers weeks after the drops.
    assert sum(lid in last for lid in dropped) > 0.8 * len(dropped)


def test_managers_assign_paths(org: Organisation) -> None:
    ref = org.reference_records()
    profiles = {p["learner_id"]: p for p in ref["profiles"]}
    managers = {lid for lid, p in profiles.items() if p["is_manager"]}
    assert ref["paths"]
    for p in ref["paths"]:
        assert p["assigned_by"] in managers
        assert p["items"] and all(i["due_at_ms"] for i in p["items"])
        assert p["learner_ids"] or p["team_ids"]
    assert any(p["team_ids"] for p in ref["paths"]) and any(p["learner_ids"] for p in ref["paths"])
    for p in profiles.values():
        if not p["is_manager"]:
            assert profiles[p["manager_id"]]["is_manager"]
            assert profiles[p["manager_id"]]["team_id"] == p["team_id"]


def test_paths_assigned_during_window_come_as_updates(org: Organisation) -> None:
    at_start = org.reference_records(at_ms=org.start_ms)["paths"]
    later = org.reference_updates(org.start_ms, org.start_ms + 60 * DAY_MS)
    assert later and all(kind == "paths" for kind, _ in later)
    assert len(at_start) + len(later) == len(org.paths)
    assert all(p["updated_at_ms"] <= org.start_ms for p in at_start)


def test_profiles_time_zones_and_opt_in(org: Organisation) -> None:
    profiles = org.reference_records()["profiles"]
    zones = {p["time_zone"] for p in profiles}
    assert len(zones) >= 5
    for z in zones:
        ZoneInfo(z)  # raises if not a valid IANA name
    opt_in = sum(p["peer_features_opt_in"] for p in profiles) / len(profiles)
    assert 0.5 < opt_in < 0.7
    assert len({p["department"] for p in profiles}) >= 6


def test_catalog_content(org: Organisation) -> None:
    items = org.catalog.items
    assert len(items) >= 300
    skills = {s for it in items for s in it["skills"]}
    quizzed = {it["skills"][0] for it in items if it["format"] == "quiz"}
    assert len(skills) >= 40 and quizzed == skills
    assert any(it["prerequisites"] for it in items)
    assert any(it["published_at_ms"] > org.start_ms for it in items)


def test_large_org_is_fast() -> None:
    t = time.perf_counter()
    big = Organisation.generate(10_000, seed=2)
    assert time.perf_counter() - t < 5.0
    assert len(big.learner_ids) == 10_000 and len(big.truth.groups_before) == 10_000


def test_paced_plays_simulated_time_faster() -> None:
    now = [100.0]
    evs = [{"occurred_at_ms": t} for t in (0, 3_600_000, 7_200_000)]
    out = list(
        paced(evs, 3600.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    )
    assert out == evs and now[0] == pytest.approx(102.0)
