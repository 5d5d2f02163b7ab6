"""Rankings deferred behind waiting events (decision 0022), on ``LearnBatch`` alone.

With ``defer_ranks`` an event that needs a new ranking, for a learner whose
cached list can stand in, gets the patched list at once; the ranking follows in
``rank_pending``, which the worker calls when no records wait (or once a
ranking has waited ``rank_within_s``). What a learner would see: their progress
and trigger event in the first write, the new order in the second, one audit
record per ranking, and a later event of the same learner sharing the ranking.
"""

from __future__ import annotations

from typing import Any

import pytest

import schemas
from learnpulse import keys
from tests.unit.test_list_cache import LEARNER, NOW, TOPICS, Harness, audits, reco

DAY = 86_400_000
EVERYTHING = 1 << 62


@pytest.fixture
def h() -> Harness:
    h = Harness()
    h.batch.defer_ranks = True
    # Each event is a minute after the last: keep lists patchable (not expired) throughout.
    h.batch.lists.max_age_ms = 3_600_000
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


def ids(value: dict[str, object]) -> list[str]:
    return [str(i["content_id"]) for i in value["items"]]  # type: ignore[attr-defined]


def rank_all(h: Harness) -> Any:
    fx = h.batch.rank_pending(h.now, 8, EVERYTHING, None)
    h.batch.save_states(fx)
    return fx


def test_a_ranking_waits_and_the_patched_list_is_written_first(h: Harness) -> None:
    first = h.act("started", "c-03", progress=0.1)
    assert audits(first) == 0, "the profile's list stands in; the ranking is deferred"
    assert list(h.batch.pending) == [LEARNER]
    before = reco(rank_all(h))

    started = h.act("started", "c-06", progress=0.2)
    patched = reco(started)
    assert audits(started) == 0, "the ranking is deferred"
    assert ids(patched) == ids(before), "the order stays until the ranking"
    assert "c-06" not in ids(patched)
    assert "20% through" not in str(patched)

    fx = rank_all(h)
    ranked = reco(fx)
    assert audits(fx) == 1 and fx.changed == 1
    assert ranked["trigger_event_id"] == patched["trigger_event_id"]
    assert "c-06" in ids(ranked), "the new choice is ranked in"
    assert not h.batch.pending
    state = h.batch.load(LEARNER)
    assert state["rk"] == state["n"], "the state records the ranking (a patch after it is ours)"
    assert audits(h.act("progressed", "c-06", progress=0.3)) == 0


def test_later_events_share_one_deferred_ranking(h: Harness) -> None:
    h.act("started", "c-03", progress=0.1)
    rank_all(h)
    h.act("started", "c-06", progress=0.2)
    since = h.batch.pending[LEARNER][0]
    last = reco(h.act("progressed", "c-03", progress=0.4))
    assert h.batch.pending[LEARNER][0] == since, "still the first deferral's time"
    assert "40% through" in str(last), "a patch in the meantime is written at once"

    # Beyond the oldest `limit`, only rankings deferred before the cut-off are taken.
    assert h.batch.rank_pending(h.now, 0, since, None).changed == 0
    fx = h.batch.rank_pending(h.now, 0, since + 1, None)
    assert fx.changed == 1 and audits(fx) == 1
    assert reco(fx)["trigger_event_id"] == last["trigger_event_id"]


def test_a_completed_item_leaves_the_patched_list_at_once(h: Harness) -> None:
    # Opted out of peer features: a completion does not move team popularity, so
    # the cached list stays usable and the completion's ranking is deferred.
    profile = {
        "learner_id": LEARNER,
        "updated_at_ms": h.now,
        "role": "analyst",
        "team_id": "t1",
        "level": 2,
        "peer_features_opt_out": True,
    }
    h.send(TOPICS.profiles, profile, schemas.PROFILE)
    h.act("started", "c-03", progress=0.1)
    rank_all(h)
    assert "c-03" in ids(reco(h.act("progressed", "c-03", progress=0.6)))
    done = h.act("completed", "c-03", completion=True)
    assert audits(done) == 0 and LEARNER in h.batch.pending
    assert "c-03" not in ids(reco(done))
    assert "c-03" not in ids(reco(rank_all(h)))


def test_a_list_whose_shared_inputs_moved_stands_in_until_its_ranking(h: Harness) -> None:
    h.act("started", "c-03", progress=0.1)
    rank_all(h)
    # A teammate's completion moves what the ranking reads (team popularity).
    h.batch.recommender.popularity.add_team_completion("t1", "c-07", "bob", h.now)
    moved = h.act("progressed", "c-03", progress=0.2)
    assert audits(moved) == 0 and LEARNER in h.batch.pending
    assert "20% through" in str(reco(moved)), "the learner's own list, their progress current"
    assert audits(rank_all(h)) == 1
    assert audits(h.act("progressed", "c-03", progress=0.3)) == 0 and not h.batch.pending


def test_a_ranking_for_a_partition_no_longer_owned_is_dropped(h: Harness) -> None:
    h.act("started", "c-03", progress=0.1)
    fx = h.batch.rank_pending(h.now, 8, EVERYTHING, owned={1, 2})
    assert fx.changed == 0 and not fx.redis_values and not fx.states
    assert not h.batch.pending, "another worker owns the learner now"


def test_an_inline_ranking_takes_over_a_deferred_one(h: Harness) -> None:
    h.act("started", "c-03", progress=0.1)
    assert LEARNER in h.batch.pending
    h.batch.lists.drop(LEARNER)  # e.g. the cache dropped it: the next event ranks
    fx = h.act("progressed", "c-03", progress=0.3)
    assert audits(fx) == 1
    assert not h.batch.pending


def test_a_profile_change_is_ranked_at_once(h: Harness) -> None:
    h.act("started", "c-03", progress=0.1)
    assert LEARNER in h.batch.pending
    profile = {
        "learner_id": LEARNER,
        "updated_at_ms": h.now,
        "role": "manager",
        "department": "finance",
        "team_id": "t1",
        "level": 3,
    }
    fx = h.send(TOPICS.profiles, profile, schemas.PROFILE)
    assert audits(fx) == 1, "a new role (or an opt-out) is never shown on the old list"
    assert not h.batch.pending
    assert keys.reco(LEARNER) in fx.redis_values
