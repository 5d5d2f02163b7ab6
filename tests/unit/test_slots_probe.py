"""The slots probe times the worker's learning step against a slot layout: they must agree."""

from __future__ import annotations

from loadtests import slots_kernels as k
from loadtests.slots_probe import agree, examples, learn_both


def test_slots_learn_exactly_what_the_workers_learn_all_learns() -> None:
    vocab, exs = examples(400, seed=3)
    (prior, section), slots = learn_both(k, vocab, exs)
    assert section["w"]  # the learner layer did learn something
    assert prior.segments["seg"].weights
    assert agree(prior, section, vocab, slots)
    slots[2][0] += 1e-4  # and the check would see a difference
    assert not agree(prior, section, vocab, slots)


def test_an_extra_key_already_in_the_base_overwrites_it() -> None:
    idx, val = [0] * 4, [0.0] * 4
    n = k.features_slots([0, 1], [1.0, 0.5], [1, 2], [0.25, 2.0], idx, val)
    assert (n, idx[:n], val[:n]) == (3, [0, 1, 2], [1.0, 0.25, 2.0])
    assert k.features_dict({"a": 1.0, "b": 0.5}, [("b", 0.25), ("c", 2.0)]) == {
        "a": 1.0,
        "b": 0.25,
        "c": 2.0,
    }
