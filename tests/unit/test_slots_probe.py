"""The slots probe compares two layouts of one computation: they must agree exactly."""

from __future__ import annotations

from loadtests import slots_kernels as k
from loadtests.slots_probe import examples


def test_slots_and_dicts_learn_the_same_weights() -> None:
    vocab, exs = examples(400, seed=3)
    slot = {name: i for i, name in enumerate(vocab)}
    rates = (0.02, 0.02, 1e-4, 0.05, 0.02)
    gd: dict[str, float] = {}
    sd: dict[str, float] = {}
    ld: dict[str, float] = {}
    gs, ss, ls = [0.0] * len(vocab), [0.0] * len(vocab), [0.0] * len(vocab)
    idx, val = [0] * len(vocab), [0.0] * len(vocab)
    for base, extra, y, w in exs:
        k.learn_dict(gd, sd, ld, k.features_dict(dict(base), extra), y, w, *rates)
        n = k.features_slots(
            [slot[a] for a, _ in base],
            [v for _, v in base],
            [slot[a] for a, _ in extra],
            [v for _, v in extra],
            idx,
            val,
        )
        k.learn_slots(gs, ss, ls, idx, val, n, y, w, *rates)
    assert any(ld.values())  # the learner layer did learn something
    for layer_d, layer_s in ((gd, gs), (sd, ss), (ld, ls)):
        assert [layer_d.get(name, 0.0) for name in vocab] == layer_s


def test_an_extra_key_already_in_the_base_overwrites_it() -> None:
    idx, val = [0] * 4, [0.0] * 4
    n = k.features_slots([0, 1], [1.0, 0.5], [1, 2], [0.25, 2.0], idx, val)
    assert (n, idx[:n], val[:n]) == (3, [0, 1, 2], [1.0, 0.25, 2.0])
    assert k.features_dict({"a": 1.0, "b": 0.5}, [("b", 0.25), ("c", 2.0)]) == {
        "a": 1.0,
        "b": 0.25,
        "c": 2.0,
    }
