"""The replay guard and event-id dedupe of a learner's state."""

from __future__ import annotations

from streams.models import learner
from streams.models.state import new_state


def test_duplicates_within_the_window_are_dropped_and_the_window_is_bounded() -> None:
    s = new_state()
    for i in range(learner.SEEN_MAX):
        assert learner.guard(s, f"e{i}", 0, i) == "applied"
    assert learner.guard(s, "e0", 0, 100) == "duplicate"
    assert learner.guard(s, "e-new", 0, 101) == "applied"  # pushes e0 out of the window
    assert learner.guard(s, "e0", 0, 102) == "applied"
    assert len(s["seen"]) <= 4 * learner.SEEN_MAX * 4 // 3 + 4  # base64 of 4 bytes per id


def test_replays_at_or_below_the_last_offset_are_skipped_per_partition() -> None:
    s = new_state()
    assert learner.guard(s, "a", 1, 10) == "applied"
    assert learner.guard(s, "b", 1, 10) == "replay"
    assert learner.guard(s, "c", 1, 9) == "replay"
    assert learner.guard(s, "d", 2, 3) == "applied"  # the learner moved partition


def test_states_written_before_packing_still_dedupe() -> None:
    s = new_state()
    s["seen"] = [learner.fingerprint("old-event")]
    assert learner.guard(s, "old-event", 0, 1) == "duplicate"
    assert learner.guard(s, "fresh", 0, 2) == "applied"
    assert isinstance(s["seen"], str)
